"""Schedules with more than two arms, and the pin that keeps every two-arm schedule unchanged.

Readers of running studies must never see their order change, so the first test hashes the
schedules of a fixed corpus of specs (every design, two arms; parallel also with three and four)
and compares them with digests computed from the scheduler as it was before k arms (commit
190ad29). A failure there means a change to the scheduler moved an existing schedule.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import astuple, replace

import pytest

from readerstudy.scheduling import DesignSpec, max_repeat_cases, reader_schedule

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
    ("sequential", TWO_ARMS): (
        "7e3fcf048bbeac70f63730cbeb3d696f90b4c27404fb5ec356dbbd4833523696"
    ),
    ("randomised_blocks", TWO_ARMS): (
        "21543a5bd805cd251d4976704e0285fa3be50b4222ac52edf2d4b974fde6ba61"
    ),
    ("crossover", TWO_ARMS): (
        "9417b70d7d64be1a1c0b78d7027cc4b7c54bdfa519e401efdc5bc5b6e8540b8f"
    ),
    ("parallel", TWO_ARMS): (
        "c9869ff400cd4bfe5e834f4b2b690fadc3e31e9c2a80154a1c214368bf16c6b8"
    ),
    ("parallel", ("unaided", "ai", "ai-b")): (
        "555fdedf5dde709eea9699e8cece81dc6d0738874aff00f3e577be80144ffa92"
    ),
    ("parallel", ("unaided", "ai", "ai-b", "ai-c")): (
        "b2217b1ae3b73077161dd7e76ff387f274770734e7bb8fb13eee7e18950d3427"
    ),
    ("benchmark", ("unaided",)): (
        "c1591e8608fb4da9d64ff50464a9618735e44dd5ccac33bf53f327dd3749d429"
    ),
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
