"""Reader schedules for the five study designs (DESIGN.md section 3), as plain data.

Pure Python, no Django: the study service stores the output of :func:`reader_schedule` as rows.

Reproducibility. A reader's schedule depends only on the study seed, the spec, the *set* of case
keys (their order in the input does not matter: they are sorted first) and the reader's enrolment
index. Randomness comes from ``random.Random`` seeded with strings such as ``"{seed}:reader:{i}"``,
which Python hashes with SHA-512, so it is stable across runs and Python versions (``hash()`` is
never used). ``seed=7`` and ``seed="7"`` are the same seed.

Balance as readers join in order. The study draws one seeded permutation of the cases and lays
out an endless sequence of *slots*: round after round of every case, each slot carrying an arm
bit that strictly alternates from slot to slot. Reader ``i`` takes the ``quota`` slots starting
at ``i * quota`` (``quota`` defaults to the number of cases, so reader ``i`` takes round ``i``).
For an even number of cases each round is the previous one rotated by one position, which flips
every case's arm bit from one round to the next (a Latin-square-like rotation); for an odd
number the alternation across the round boundary flips it by itself. Hence, for the first ``R``
readers whatever ``R`` is:

* each case is covered by ``floor`` or ``ceil`` of ``R * quota / n`` readers;
* each case's arm bit alternates over the readers who read it, so its arm counts differ by <= 1
  (randomised_blocks: the arm; crossover: the session-1 arm, i.e. AB/BA counterbalancing);
* each reader's arm bits differ in count by <= 1 (an odd count puts the extra case in the arm of
  the reader's first slot, which alternates between readers).

Ordering. Case order is shuffled per reader. With ``strata`` (case -> stratum) the cases of a
stratum stay together and are shuffled within it, and the strata appear in a seeded random order
per reader (drawn afresh for each crossover session). In randomised_blocks the stratified order
is shared by both arms and then dealt into alternating blocks. Repeat readings are inserted later
in the same segment and may fall into another stratum's run.

Options. Training cases come first, in the order given, flagged ``training=True``, in the AI arm
(``arms[0]`` for benchmark, which has no AI), phase 1, session 1. Repeat readings copy an
original reading (arm, phase, session; a sequential repeat copies the phase 1 + phase 2 pair),
are flagged ``repeat=True`` and come later in the same segment with at least one reading in
between: the whole schedule, a crossover session, or a randomised_blocks arm (repeats count
towards that arm's blocks, split between the arms so the block counts still alternate).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

T = TypeVar("T")
Slot = tuple[str, int]  # (case, arm bit)

DESIGNS = ("sequential", "randomised_blocks", "crossover", "parallel", "benchmark")
_EXACTLY_TWO_ARMS = ("sequential", "randomised_blocks", "crossover")


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
    arms: tuple[str, ...]  # arms[0] is the unaided/control arm; arms[1] the AI arm (parallel may have more)
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
        return max(0, 2 * (per_reader // 2) - 2)
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
    if spec.design in _EXACTLY_TWO_ARMS and len(arms) != 2:
        raise ValueError(f"{spec.design} needs exactly two arms (control, AI), got {len(arms)}.")
    if spec.design == "parallel" and len(arms) < 2:
        raise ValueError(f"parallel needs at least two arms, got {len(arms)}.")
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


def _reader_slots(cases: Sequence[str], seed: int | str, reader_index: int, quota: int) -> list[Slot]:
    """Reader ``reader_index``'s window of the study's slot sequence (see module docstring)."""
    perm = sorted(cases)
    rng = _study_rng(seed, "slots")
    rng.shuffle(perm)
    start_bit = rng.randrange(2)
    n = len(perm)
    slots = []
    for p in range(reader_index * quota, (reader_index + 1) * quota):
        rnd, k = divmod(p, n)
        shift = rnd if n % 2 == 0 else 0
        slots.append((perm[(k + shift) % n], (p + start_bit) % 2))
    return slots


def parallel_arm(spec: DesignSpec, seed: int | str, reader_index: int) -> str:
    """The arm of reader ``reader_index`` in a parallel design: seeded permuted blocks of arms."""
    block, offset = divmod(reader_index, len(spec.arms))
    arms = list(spec.arms)
    _study_rng(seed, f"parallel-block:{block}").shuffle(arms)
    return arms[offset]


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


def _sequential(spec: DesignSpec, slots: list[Slot], rng: random.Random) -> list[Unit]:
    control, ai = spec.arms[0], spec.arms[1]
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
        # Session 1 reads each case in the arm of its slot bit, session 2 in the other arm.
        units = [_single(case, spec.arms[bit if session == 1 else 1 - bit], session) for case, bit in ordered]
        sessions.extend(_insert_repeats(units, count, rng))
    return sessions


def _randomised_blocks(spec: DesignSpec, slots: list[Slot], rng: random.Random) -> list[Unit]:
    ordered = _stratified_shuffle(slots, _slot_case, spec.strata, rng)
    by_arm = [[_single(case, spec.arms[b]) for case, b in ordered if b == bit] for bit in (0, 1)]
    # The smaller arm gets the larger share of repeats so the arms stay within one reading.
    smaller, larger = sorted(by_arm, key=len)
    extra_small, extra_large = _share(spec.repeat_cases, 2)
    streams = [_insert_repeats(smaller, extra_small, rng), _insert_repeats(larger, extra_large, rng)]
    return _deal_blocks(streams, spec.block_size, rng)


def _deal_blocks(streams: list[list[Unit]], size: int, rng: random.Random) -> list[Unit]:
    """Interleave two arms' readings in alternating blocks of ``size``; the arm with more blocks leads."""
    blocks = [[stream[i : i + size] for i in range(0, len(stream), size)] for stream in streams]
    blocks.sort(key=len, reverse=True)
    if len(blocks[0]) == len(blocks[1]) and rng.randrange(2):
        blocks.reverse()
    dealt: list[Unit] = []
    for i in range(len(blocks[0])):
        dealt.extend(blocks[0][i])
        if i < len(blocks[1]):
            dealt.extend(blocks[1][i])
    return dealt


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
    slots = _reader_slots(cases, seed, reader_index, spec.quota or len(cases))
    rng = _reader_rng(seed, reader_index, "order")
    if spec.design == "sequential":
        measured = _sequential(spec, slots, rng)
    elif spec.design == "randomised_blocks":
        measured = _randomised_blocks(spec, slots, rng)
    elif spec.design == "crossover":
        measured = _crossover(spec, slots, rng)
    elif spec.design == "parallel":
        measured = _one_arm(spec, slots, parallel_arm(spec, seed, reader_index), rng)
    else:
        measured = _one_arm(spec, slots, spec.arms[0], rng)
    training_arm = spec.arms[0] if spec.design == "benchmark" else spec.arms[1]
    training = [
        ScheduleItem(position=-1, case=case, arm=training_arm, phase=1, session=1, training=True)
        for case in spec.training_cases
    ]
    items = training + [item for unit in measured for item in unit]
    return [replace(item, position=position) for position, item in enumerate(items)]
