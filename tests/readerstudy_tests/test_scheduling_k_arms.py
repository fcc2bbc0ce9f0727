"""Schedules with more than two arms, and the pin that keeps every two-arm schedule unchanged.

Readers of running studies must never see their order change, so the first test hashes the
schedules of a fixed corpus of specs (every design, two arms; parallel also with three and four)
and compares them with digests computed from the scheduler as it was before k arms (commit
190ad29). A failure there means a change to the scheduler moved an existing schedule.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import astuple, replace

import pytest

from readerstudy.core.scheduling import (
    DesignSpec,
    max_repeat_cases,
    parallel_arm,
    reader_schedule,
    sequential_ai_arm,
    validate_spec,
)

TWO_ARMS = ("unaided", "ai")

# --- two arms: byte-for-byte as before -------------------------------------------------------

PIN_SEEDS: tuple[int | str, ...] = (0, 7, "study-x")
PIN_CASE_COUNTS = (1, 2, 5, 6, 7, 12)
PIN_READERS = 9


def _pin_specs(design: str, arms: tuple[str, ...], n: int) -> Iterator[DesignSpec]:
    """Plain, quota, training, block sizes, strata and the most repeats, alone and together."""
    cases = [f"case-{i:02d}" for i in range(n)]
    strata = {case: "abc"[i % 3] for i, case in enumerate(cases)}
    base = DesignSpec(design=design, arms=arms)
    variants = [
        base,
        replace(base, block_size=1),
        replace(base, block_size=3),
        replace(base, quota=max(1, n - 1)),
        replace(base, quota=max(1, n // 2)),
        replace(base, training_cases=("train-1", "train-2")),
        replace(base, strata=strata),
        replace(base, block_size=2, quota=max(1, n - 1), strata=strata, training_cases=("train-1",)),
    ]
    for spec in variants:
        yield spec
        most = _two_arm_repeat_limit(spec, n)
        if most:
            yield replace(spec, repeat_cases=most)
            yield replace(spec, repeat_cases=(most + 1) // 2)


def _two_arm_repeat_limit(spec: DesignSpec, n: int) -> int:
    """max_repeat_cases as it was for two arms, kept here so the corpus cannot drift with it."""
    per_reader = spec.quota or n
    if spec.design == "randomised_blocks":
        return max(0, 2 * (per_reader // 2) - 2)
    return max(0, per_reader - 1)


def _pin_digest(design: str, arms: tuple[str, ...]) -> str:
    digest = hashlib.sha256()
    for n in PIN_CASE_COUNTS:
        cases = [f"case-{i:02d}" for i in range(n)]
        for spec in _pin_specs(design, arms, n):
            for seed in PIN_SEEDS:
                for reader in range(PIN_READERS):
                    for item in reader_schedule(spec, cases, seed, reader):
                        digest.update(repr(astuple(item)).encode())
                    digest.update(b"|")
    return digest.hexdigest()


# Computed with _pin_digest from readerstudy/scheduling.py at commit 190ad29 (before k arms).
PINNED = {
    ("sequential", TWO_ARMS): ("7e3fcf048bbeac70f63730cbeb3d696f90b4c27404fb5ec356dbbd4833523696"),
    ("randomised_blocks", TWO_ARMS): ("21543a5bd805cd251d4976704e0285fa3be50b4222ac52edf2d4b974fde6ba61"),
    ("crossover", TWO_ARMS): ("9417b70d7d64be1a1c0b78d7027cc4b7c54bdfa519e401efdc5bc5b6e8540b8f"),
    ("parallel", TWO_ARMS): ("c9869ff400cd4bfe5e834f4b2b690fadc3e31e9c2a80154a1c214368bf16c6b8"),
    ("parallel", ("unaided", "ai", "ai-b")): (
        "555fdedf5dde709eea9699e8cece81dc6d0738874aff00f3e577be80144ffa92"
    ),
    ("parallel", ("unaided", "ai", "ai-b", "ai-c")): (
        "b2217b1ae3b73077161dd7e76ff387f274770734e7bb8fb13eee7e18950d3427"
    ),
    ("benchmark", ("unaided",)): ("c1591e8608fb4da9d64ff50464a9618735e44dd5ccac33bf53f327dd3749d429"),
}


@pytest.mark.parametrize(("design", "arms"), list(PINNED))
def test_existing_schedules_are_unchanged(design: str, arms: tuple[str, ...]) -> None:
    assert _pin_digest(design, arms) == PINNED[(design, arms)]


@pytest.mark.parametrize("design", ["sequential", "randomised_blocks", "crossover", "parallel"])
def test_two_arm_repeat_limits_are_unchanged(design: str) -> None:
    for n in range(1, 25):
        for quota in (None, *range(1, n + 1)):
            spec = DesignSpec(design=design, arms=TWO_ARMS, quota=quota)
            assert max_repeat_cases(spec, n) == _two_arm_repeat_limit(spec, n)


# --- k arms: sweeps over many reader counts ---------------------------------------------------

ARMS = ("unaided", "top-3", "similar", "concepts", "sae", "gallery")
SWEEP_SEEDS: tuple[int | str, ...] = (1, "k-arms")


def _within_one(counts: Counter, keys: Sequence[str]) -> bool:
    values = [counts[key] for key in keys]
    return max(values) - min(values) <= 1


def _block_sweep() -> Iterator[tuple[int, int, int | None]]:
    """(arms, cases, quota): every residue of n mod k, gcd(n mod k, k) > 1 included (6 cases, 4 arms)."""
    for k in (3, 4, 5, 6):
        for n in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13):
            for quota in sorted({None, 1, max(1, n // 2), max(1, n - 1)}, key=lambda q: q or n):
                yield k, n, quota


@pytest.mark.parametrize(("k", "n", "quota"), list(_block_sweep()))
def test_blocks_with_k_arms_stay_balanced_for_every_prefix_of_readers(
    k: int, n: int, quota: int | None
) -> None:
    arms = ARMS[:k]
    cases = [f"c{i:02d}" for i in range(n)]
    spec = DesignSpec(design="randomised_blocks", arms=arms, block_size=2, quota=quota)
    per_reader = quota or n
    for seed in SWEEP_SEEDS:
        by_case: dict[str, Counter] = {case: Counter() for case in cases}
        coverage: Counter = Counter()
        for reader in range(3 * k + 2):
            reads = reader_schedule(spec, cases, seed, reader)
            assert len({item.case for item in reads}) == len(reads) == per_reader
            assert _within_one(Counter(item.arm for item in reads), arms), (seed, reader, reads)
            for item in reads:
                by_case[item.case][item.arm] += 1
                coverage[item.case] += 1
            assert _within_one(coverage, cases)
            for case, counts in by_case.items():
                assert _within_one(counts, arms), (seed, reader, case, counts)


@pytest.mark.parametrize(("k", "n"), [(3, 3), (3, 5), (4, 6), (4, 8), (5, 7), (6, 4)])
def test_blocks_read_each_case_in_each_arm_once_per_k_readers(k: int, n: int) -> None:
    # quota = n: reader i reads round i, and every k rounds from round 0 give each case each arm once
    # (4 arms, 6 cases is the case where the rounds must rotate every second round).
    arms = ARMS[:k]
    cases = [f"c{i}" for i in range(n)]
    spec = DesignSpec(design="randomised_blocks", arms=arms, block_size=1)
    for start in (0, k, 2 * k):
        seen = {
            (item.case, item.arm)
            for r in range(start, start + k)
            for item in reader_schedule(spec, cases, 9, r)
        }
        assert seen == {(case, arm) for case in cases for arm in arms}


def test_blocks_cycle_a_fixed_order_of_the_arms_per_reader() -> None:
    # 10 cases over 3 arms: 4 + 3 + 3 readings, blocks of 2 -> 2 + 2 + 2 blocks (the 4-reading arm
    # ends on a block of 2, the others on a block of 1), so the order is a full cycle twice.
    spec = DesignSpec(design="randomised_blocks", arms=ARMS[:3], block_size=2)
    cases = [f"c{i}" for i in range(10)]
    for reader in range(12):
        arms = [item.arm for item in reader_schedule(spec, cases, "cycle", reader)]
        blocks = _block_arms(arms)
        assert len(blocks) == 6 and blocks[:3] == blocks[3:] and set(blocks) == set(ARMS[:3]), arms
        assert sorted(Counter(arms).values()) == [3, 3, 4]


def test_blocks_draw_the_order_of_tied_arms_per_reader() -> None:
    # 9 cases over 3 arms: 3 readings and 2 blocks each for every reader, so only the draw orders them.
    spec = DesignSpec(design="randomised_blocks", arms=ARMS[:3], block_size=2)
    cases = [f"c{i}" for i in range(9)]
    orders: Counter = Counter()
    for reader in range(60):
        blocks = _block_arms([item.arm for item in reader_schedule(spec, cases, "tied", reader)])
        assert len(blocks) == 6 and blocks[:3] == blocks[3:]
        orders[tuple(blocks[:3])] += 1
    assert len(orders) == 6, orders  # all 3! orders occur


def _block_arms(arms: list[str]) -> list[str]:
    return [arms[0]] + [b for a, b in zip(arms, arms[1:], strict=False) if a != b]


def test_blocks_repeat_limit_for_k_arms() -> None:
    # The smallest arm has floor(q / k) readings and must keep one after ceil(repeats / k) of them.
    limits = {
        (k, q): max_repeat_cases(DesignSpec(design="randomised_blocks", arms=ARMS[:k]), q)
        for k, q in [(3, 10), (4, 10), (3, 5), (3, 6), (5, 4)]
    }
    assert limits == {(3, 10): 6, (4, 10): 4, (3, 5): 0, (3, 6): 3, (5, 4): 0}
    spec = DesignSpec(design="randomised_blocks", arms=ARMS[:3], repeat_cases=6)
    cases = [f"c{i}" for i in range(10)]
    for reader in range(6):
        items = reader_schedule(spec, cases, 4, reader)
        assert sum(item.repeat for item in items) == 6
        assert sorted(Counter(item.arm for item in items).values()) == [5, 5, 6]
    with pytest.raises(ValueError, match="at most 6"):
        validate_spec(replace(spec, repeat_cases=7), cases)


@pytest.mark.parametrize("k", [2, 3, 4, 5, 6])
def test_parallel_groups_stay_balanced_for_every_prefix_of_readers(k: int) -> None:
    arms = ARMS[:k]
    spec = DesignSpec(design="parallel", arms=arms)
    for seed in (*SWEEP_SEEDS, 3, 4):
        groups: Counter = Counter()
        for reader in range(10 * k + 3):
            groups[parallel_arm(spec, seed, reader)] += 1
            assert _within_one(groups, arms), (seed, reader, groups)
            if (reader + 1) % k == 0:
                assert set(groups.values()) == {(reader + 1) // k}


@pytest.mark.parametrize("k", [3, 4, 5])
def test_sequential_ai_arm_is_balanced_over_readers_and_randomised(k: int) -> None:
    arms = ARMS[:k]
    spec = DesignSpec(design="sequential", arms=arms, training_cases=("t1",))
    cases = [f"c{i}" for i in range(5)]
    first_arms = set()
    for seed in range(30):
        chosen: Counter = Counter()
        for reader in range(4 * (k - 1) + 1):
            items = reader_schedule(spec, cases, seed, reader)
            ai = sequential_ai_arm(spec, seed, reader)
            assert [(i.arm, i.phase) for i in items if not i.training] == [("unaided", 1), (ai, 2)] * 5
            assert items[0].training and items[0].arm == ai  # training shows the reader's own AI arm
            chosen[ai] += 1
            assert _within_one(chosen, arms[1:]), (seed, reader, chosen)
        first_arms.add(sequential_ai_arm(spec, seed, 0))
    assert first_arms == set(arms[1:])  # not always arms[1]: the draw is random


def test_sequential_case_order_does_not_depend_on_the_number_of_ai_arms() -> None:
    cases = [f"c{i}" for i in range(8)]
    two = DesignSpec(design="sequential", arms=("unaided", "ai"), repeat_cases=3)
    four = replace(two, arms=ARMS[:4])
    for reader in range(6):
        order_two = [(i.case, i.phase, i.repeat) for i in reader_schedule(two, cases, "s", reader)]
        assert order_two == [(i.case, i.phase, i.repeat) for i in reader_schedule(four, cases, "s", reader)]


def test_crossover_refuses_more_than_two_arms_and_says_why() -> None:
    spec = DesignSpec(design="crossover", arms=ARMS[:3])
    with pytest.raises(ValueError, match=r"crossover needs exactly two arms \(control, AI\), got 3"):
        validate_spec(spec, ["c1", "c2"])
