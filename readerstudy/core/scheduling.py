"""Reader schedules for the five study designs (DESIGN.md section 3), as plain data.

Pure Python, no Django: the study service stores the output of :func:`reader_schedule` as rows.

Reproducibility. A reader's schedule depends only on the study seed, the spec, the *set* of case
keys (their order in the input does not matter: they are sorted first) and the reader's enrolment
index. Randomness comes from ``random.Random`` seeded with strings such as ``"{seed}:reader:{i}"``,
which Python hashes with SHA-512, so it is stable across runs and Python versions (``hash()`` is
never used). ``seed=7`` and ``seed="7"`` are the same seed.

Balance as readers join in order. The study draws one seeded permutation of the ``n`` cases and
lays out an endless sequence of *slots*: round after round of every case, each slot carrying an
arm index that cycles ``0, 1, ..., k-1`` from slot to slot, from a seeded start. ``k`` is the
number of arms in randomised_blocks; every other design lays its slots out for ``k = 2``
whatever its arms (crossover uses the index as its session-1 arm, the others only the cases).
Reader ``i`` takes the ``quota`` slots starting at ``i * quota`` (``quota`` defaults to ``n``, so
reader ``i`` takes round ``i``). Round ``r`` is the permutation rotated by ``shift(r)``, which
grows by 0 or 1 per round (so a window across a round boundary never holds a case twice). With
``b = n mod k`` and ``g = gcd(b, k)``: a case read in two consecutive rounds moves ``n`` slots on
(its arm index advances by ``b``) when the shift stays, and ``n - 1`` or ``2n - 1`` slots (its
index moves back one residue class mod ``g``) when the shift grows. If ``g = 1`` steps of ``b``
visit every arm in ``k`` rounds and the shift stays 0; otherwise the shift grows every ``k / g``
rounds, each run of ``k / g`` rounds takes a case through one residue class mod ``g``, and ``g``
runs take it through all ``k`` arms. For two arms this is the Latin-square-like rule the scheduler
always had: an even ``n`` rotates by one every round, an odd ``n`` never. Hence, for the first
``R`` readers whatever ``R`` is:

* each case is covered by ``floor`` or ``ceil`` of ``R * quota / n`` readers;
* each case's arm index runs through all ``k`` arms in every ``k`` of its readings (counted from
  its first), so its arm counts over the readers who read it differ by <= 1 (randomised_blocks:
  the arm; crossover: the session-1 arm, i.e. AB/BA counterbalancing);
* each reader's slots are consecutive, so the reader's arm counts differ by <= 1 (the extra
  cases fall in the arms that follow the reader's first slot, which moves on between readers; a
  ``quota`` below ``k`` leaves some arms out for that reader);
* parallel: the reader's arm comes from seeded permuted blocks of the ``k`` arms, so the group
  sizes differ by <= 1;
* sequential: phase 1 is ``arms[0]`` (unaided) and the phase-2 arm comes from seeded permuted
  blocks of ``arms[1:]``, so the readers per AI arm differ by <= 1.

With two arms (and in parallel, which always took more) every schedule is exactly what it was
before the other designs took more arms (a test pins them by hash): readers of running studies
never see their order change.

Ordering. Case order is shuffled per reader. With ``strata`` (case -> stratum) the cases of a
stratum stay together and are shuffled within it, and the strata appear in a seeded random order
per reader (drawn afresh for each crossover session). In randomised_blocks the stratified order
is shared by all arms and then dealt into blocks that cycle through the arms in a per-reader
order: arms with more blocks first, ties in a seeded order, so every cycle but the last visits
every arm and the last visits the first arms of the order. Repeat readings are inserted later
in the same segment and may fall into another stratum's run.

Options. Training cases come first, in the order given, flagged ``training=True``, in the AI arm
(``arms[1]``; the reader's phase-2 arm in sequential; ``arms[0]`` for benchmark, which has no
AI), phase 1, session 1. Repeat readings copy an original reading (arm, phase, session; a
sequential repeat copies the phase 1 + phase 2 pair), are flagged ``repeat=True`` and come later
in the same segment with at least one reading in between: the whole schedule, a crossover
session, or a randomised_blocks arm (repeats count towards that arm's blocks; the arms with
fewer readings take the larger shares, so each reader's arm counts stay within one and the
block counts still cycle).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import groupby
from math import gcd
from typing import TypeVar

T = TypeVar("T")
Slot = tuple[str, int]  # (case, arm index)

DESIGNS = ("sequential", "randomised_blocks", "crossover", "parallel", "benchmark")
_AT_LEAST_TWO_ARMS = ("sequential", "randomised_blocks", "parallel")
_LAYOUT_ARMS = 2  # the slot layout of every design but randomised_blocks (see module docstring)


@dataclass(frozen=True)
class ScheduleItem:
    position: int  # 0-based order within the reader's schedule (across sessions)
    case: str  # case key as given
    arm: str
    phase: int  # 1 or 2 (2 only in sequential)
    session: int  # 1 or 2 (2 only in crossover)
    training: bool = False
    repeat: bool = False


@dataclass(frozen=True)
class DesignSpec:
    design: str  # "sequential" | "randomised_blocks" | "crossover" | "parallel" | "benchmark"
    arms: tuple[str, ...]  # arms[0] is the unaided/control arm, then the AI arms (crossover: one)
    block_size: int = 10
    training_cases: tuple[str, ...] = ()
    repeat_cases: int = 0
    quota: int | None = None
    strata: Mapping[str, str] | None = None  # case -> stratum


Unit = tuple[ScheduleItem, ...]  # readings that stay together (a sequential pair)


# --- validation -------------------------------------------------------------------------------


def max_repeat_cases(spec: DesignSpec, n_cases: int) -> int:
    """The most repeat readings a reader can get with each repeat apart from its original."""
    per_reader = spec.quota or n_cases
    if spec.design == "randomised_blocks":
        # Each arm's smallest stream must keep one reading after its share of the repeats.
        k = len(spec.arms)
        return max(0, k * (per_reader // k) - k)
    return max(0, per_reader - 1)


def validate_spec(spec: DesignSpec, cases: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first problem with ``spec`` for these ``cases``."""
    _check_arms(spec)
    _check_cases(spec, cases)
    _check_options(spec, len(cases))


def _check_arms(spec: DesignSpec) -> None:
    if spec.design not in DESIGNS:
        raise ValueError(f"Unknown design {spec.design!r}; expected one of {', '.join(DESIGNS)}.")
    arms = tuple(spec.arms)
    if len(set(arms)) != len(arms) or not all(arms):
        raise ValueError(f"Arm names must be non-empty and distinct, got {arms!r}.")
    if spec.design == "crossover" and len(arms) != 2:
        raise ValueError(
            f"crossover needs exactly two arms (control, AI), got {len(arms)}: its second session "
            "reads each case in the other arm, which only two arms define."
        )
    if spec.design in _AT_LEAST_TWO_ARMS and len(arms) < 2:
        raise ValueError(
            f"{spec.design} needs at least two arms (control first, then one or more AI arms), got {len(arms)}."
        )
    if not arms:
        raise ValueError("benchmark needs one arm (the unaided arm).")


def _check_cases(spec: DesignSpec, cases: Sequence[str]) -> None:
    if not cases:
        raise ValueError("A schedule needs at least one case.")
    if len(set(cases)) != len(cases):
        raise ValueError("Case keys must be distinct.")
    if len(set(spec.training_cases)) != len(spec.training_cases):
        raise ValueError("Training case keys must be distinct.")
    overlap = sorted(set(spec.training_cases) & set(cases))
    if overlap:
        raise ValueError(f"Training cases must not be study cases: {', '.join(overlap[:5])}.")
    if spec.strata is not None:
        missing = sorted(set(cases) - set(spec.strata))
        if missing:
            raise ValueError(f"Every case needs a stratum; missing: {', '.join(missing[:5])}.")


def _check_options(spec: DesignSpec, n_cases: int) -> None:
    if spec.block_size < 1:
        raise ValueError(f"block_size must be at least 1, got {spec.block_size}.")
    if spec.quota is not None and not 1 <= spec.quota <= n_cases:
        raise ValueError(f"quota must be between 1 and the number of cases ({n_cases}), got {spec.quota}.")
    if spec.repeat_cases < 0:
        raise ValueError(f"repeat_cases must not be negative, got {spec.repeat_cases}.")
    limit = max_repeat_cases(spec, n_cases)
    if spec.repeat_cases > limit:
        raise ValueError(
            f"repeat_cases={spec.repeat_cases} is too many: {spec.design} with "
            f"{spec.quota or n_cases} cases per reader allows at most {limit} "
            "(each repeat needs a later reading between it and its original)."
        )


# --- seeded randomness ------------------------------------------------------------------------


def _study_rng(seed: int | str, purpose: str) -> random.Random:
    return random.Random(f"{seed}:study:{purpose}")


def _reader_rng(seed: int | str, reader_index: int, purpose: str) -> random.Random:
    return random.Random(f"{seed}:reader:{reader_index}:{purpose}")


def _reader_slots(
    cases: Sequence[str], seed: int | str, reader_index: int, quota: int, n_arms: int
) -> list[Slot]:
    """Reader ``reader_index``'s window of the study's slot sequence (see module docstring)."""
    perm = sorted(cases)
    rng = _study_rng(seed, "slots")
    rng.shuffle(perm)
    start = rng.randrange(n_arms)
    n = len(perm)
    slots = []
    for p in range(reader_index * quota, (reader_index + 1) * quota):
        rnd, k = divmod(p, n)
        slots.append((perm[(k + _round_shift(rnd, n, n_arms)) % n], (p + start) % n_arms))
    return slots


def _round_shift(rnd: int, n: int, n_arms: int) -> int:
    """How far round ``rnd`` is rotated so each case cycles through the arms (module docstring).

    For two arms: ``rnd`` when ``n`` is even, 0 when odd, the rule two-arm schedules were made by.
    """
    g = gcd(n % n_arms, n_arms)
    return rnd // (n_arms // g) if g > 1 else 0


def _permuted_block(arms: Sequence[str], seed: int | str, purpose: str, index: int) -> str:
    """Entry ``index`` of consecutive seeded shuffles of ``arms``: any prefix is within one per arm."""
    block, offset = divmod(index, len(arms))
    shuffled = list(arms)
    _study_rng(seed, f"{purpose}:{block}").shuffle(shuffled)
    return shuffled[offset]


def parallel_arm(spec: DesignSpec, seed: int | str, reader_index: int) -> str:
    """The arm of reader ``reader_index`` in a parallel design: seeded permuted blocks of arms."""
    return _permuted_block(spec.arms, seed, "parallel-block", reader_index)


def sequential_ai_arm(spec: DesignSpec, seed: int | str, reader_index: int) -> str:
    """The phase-2 arm of reader ``reader_index`` in a sequential design: permuted blocks of ``arms[1:]``.

    A study rng of its own, so the reader's case order does not depend on how many AI arms there are.
    """
    return _permuted_block(spec.arms[1:], seed, "sequential-ai-block", reader_index)


# --- ordering helpers -------------------------------------------------------------------------


def _stratified_shuffle(
    items: Sequence[T], case_of: Callable[[T], str], strata: Mapping[str, str] | None, rng: random.Random
) -> list[T]:
    if not strata:
        shuffled = list(items)
        rng.shuffle(shuffled)
        return shuffled
    groups: dict[str, list[T]] = {}
    for item in items:
        groups.setdefault(strata[case_of(item)], []).append(item)
    names = sorted(groups)
    rng.shuffle(names)
    ordered: list[T] = []
    for name in names:
        rng.shuffle(groups[name])
        ordered.extend(groups[name])
    return ordered


def _insert_repeats(units: list[Unit], count: int, rng: random.Random) -> list[Unit]:
    """Copy ``count`` units (never the last) to random later places, not right after the original."""
    result = list(units)
    for original in rng.sample(units[:-1], count):
        at = result.index(original)
        copy = tuple(replace(item, repeat=True) for item in original)
        result.insert(rng.randint(at + 2, len(result)), copy)
    return result


def _share(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def _single(case: str, arm: str, session: int = 1) -> Unit:
    return (ScheduleItem(position=-1, case=case, arm=arm, phase=1, session=session),)


# --- designs: each returns the measured units in reading order ---------------------------------


def _sequential(spec: DesignSpec, slots: list[Slot], ai: str, rng: random.Random) -> list[Unit]:
    control = spec.arms[0]
    cases = _stratified_shuffle([case for case, _ in slots], str, spec.strata, rng)
    units = [
        (
            ScheduleItem(position=-1, case=case, arm=control, phase=1, session=1),
            ScheduleItem(position=-1, case=case, arm=ai, phase=2, session=1),
        )
        for case in cases
    ]
    return _insert_repeats(units, spec.repeat_cases, rng)


def _one_arm(spec: DesignSpec, slots: list[Slot], arm: str, rng: random.Random) -> list[Unit]:
    cases = _stratified_shuffle([case for case, _ in slots], str, spec.strata, rng)
    return _insert_repeats([_single(case, arm) for case in cases], spec.repeat_cases, rng)


def _crossover(spec: DesignSpec, slots: list[Slot], rng: random.Random) -> list[Unit]:
    sessions = []
    for session, count in zip((1, 2), _share(spec.repeat_cases, 2), strict=True):
        ordered = _stratified_shuffle(slots, _slot_case, spec.strata, rng)
        # Session 1 reads each case in the arm of its slot index, session 2 in the other arm.
        units = [_single(case, spec.arms[bit if session == 1 else 1 - bit], session) for case, bit in ordered]
        sessions.extend(_insert_repeats(units, count, rng))
    return sessions


def _randomised_blocks(spec: DesignSpec, slots: list[Slot], rng: random.Random) -> list[Unit]:
    ordered = _stratified_shuffle(slots, _slot_case, spec.strata, rng)
    by_arm = [
        [_single(case, arm) for case, a in ordered if a == index] for index, arm in enumerate(spec.arms)
    ]
    # The smaller arms get the larger shares of repeats so the arms stay within one reading
    # (a stable sort: with equal sizes the earlier arm counts as smaller, as it always has).
    by_size = sorted(by_arm, key=len)
    shares = _share(spec.repeat_cases, len(by_size))
    streams = [_insert_repeats(stream, count, rng) for stream, count in zip(by_size, shares, strict=True)]
    return _deal_blocks(streams, spec.block_size, rng)


def _deal_blocks(streams: list[list[Unit]], size: int, rng: random.Random) -> list[Unit]:
    """Deal the arms' readings in blocks of ``size`` cycling through the arms; arms with more blocks lead.

    Arm block counts differ by at most one, so leading with the larger arms makes every cycle but
    the last complete and the last one a prefix of the same order.
    """
    blocks = [[stream[i : i + size] for i in range(0, len(stream), size)] for stream in streams]
    blocks.sort(key=len, reverse=True)
    order: list[list[list[Unit]]] = []
    for _, tied in groupby(blocks, key=len):
        order.extend(_seeded_order(list(tied), rng))
    dealt: list[Unit] = []
    for i in range(len(order[0])):
        for arm_blocks in order:
            if i < len(arm_blocks):
                dealt.extend(arm_blocks[i])
    return dealt


def _seeded_order(tied: list[T], rng: random.Random) -> list[T]:
    """A seeded order of arms with equal block counts; two are swapped on one draw, as they always were."""
    if len(tied) == 2:
        return tied[::-1] if rng.randrange(2) else tied
    rng.shuffle(tied)
    return tied


def _slot_case(slot: Slot) -> str:
    return slot[0]


# --- public entry point -----------------------------------------------------------------------


def reader_schedule(
    spec: DesignSpec, cases: Sequence[str], seed: int | str, reader_index: int
) -> list[ScheduleItem]:
    """The ordered readings of the reader with 0-based enrolment index ``reader_index``."""
    validate_spec(spec, cases)
    if reader_index < 0:
        raise ValueError(f"reader_index must be >= 0, got {reader_index}.")
    n_arms = len(spec.arms) if spec.design == "randomised_blocks" else _LAYOUT_ARMS
    slots = _reader_slots(cases, seed, reader_index, spec.quota or len(cases), n_arms)
    rng = _reader_rng(seed, reader_index, "order")
    training_arm = spec.arms[0] if spec.design == "benchmark" else spec.arms[1]
    if spec.design == "sequential":
        training_arm = sequential_ai_arm(spec, seed, reader_index)
        measured = _sequential(spec, slots, training_arm, rng)
    elif spec.design == "randomised_blocks":
        measured = _randomised_blocks(spec, slots, rng)
    elif spec.design == "crossover":
        measured = _crossover(spec, slots, rng)
    elif spec.design == "parallel":
        measured = _one_arm(spec, slots, parallel_arm(spec, seed, reader_index), rng)
    else:
        measured = _one_arm(spec, slots, spec.arms[0], rng)
    training = [
        ScheduleItem(position=-1, case=case, arm=training_arm, phase=1, session=1, training=True)
        for case in spec.training_cases
    ]
    items = training + [item for unit in measured for item in unit]
    return [replace(item, position=position) for position, item in enumerate(items)]
