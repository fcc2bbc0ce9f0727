"""Property tests for the pure-Python schedule generator (readerstudy.core.scheduling)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from readerstudy.core.scheduling import (
    DESIGNS,
    DesignSpec,
    ScheduleItem,
    max_repeat_cases,
    reader_schedule,
    validate_spec,
)

BOUNDED = settings(max_examples=50, deadline=None)
TWO_ARMS = ("unaided", "ai")
MANY_ARMS = ("unaided", "ai", "ai-b", "ai-c")
SEEDS = st.one_of(st.integers(0, 2**40), st.text(min_size=1, max_size=8))


@dataclass(frozen=True)
class Study:
    spec: DesignSpec
    cases: list[str]
    seed: int | str
    readers: int

    def schedules(self) -> list[list[ScheduleItem]]:
        return [reader_schedule(self.spec, self.cases, self.seed, i) for i in range(self.readers)]


@st.composite
def studies(draw: st.DrawFn, design: str, min_cases: int = 1, options: bool = True) -> Study:
    n = draw(st.integers(min_cases, 20))
    cases = [f"case-{i:02d}" for i in range(n)]
    arms = TWO_ARMS
    if design in ("parallel", "randomised_blocks", "sequential"):
        arms = MANY_ARMS[: draw(st.integers(2, 4))]
    elif design == "benchmark":
        arms = ("unaided",)
    spec = DesignSpec(design=design, arms=arms, block_size=draw(st.integers(1, 6)))
    if options:
        labels = draw(st.lists(st.sampled_from("abc"), min_size=n, max_size=n))
        spec = replace(
            spec,
            quota=draw(st.none() | st.integers(1, n)),
            training_cases=draw(st.sampled_from([(), ("train-1",), ("train-1", "train-2")])),
            strata=draw(st.none() | st.just(dict(zip(cases, labels, strict=True)))),
        )
        spec = replace(spec, repeat_cases=draw(st.integers(0, max_repeat_cases(spec, n))))
    return Study(spec, cases, draw(SEEDS), draw(st.integers(1, 12)))


def measured(items: list[ScheduleItem]) -> list[ScheduleItem]:
    return [item for item in items if not item.training and not item.repeat]


def training_arm(spec: DesignSpec, items: list[ScheduleItem]) -> str:
    """Benchmark trains unaided, sequential in the reader's phase-2 arm, the others in arms[1]."""
    if spec.design == "benchmark":
        return spec.arms[0]
    if spec.design == "sequential":
        return next(item.arm for item in items if item.phase == 2)
    return spec.arms[1]


def assert_within_one(counts: Counter, keys: object) -> None:
    values = [counts[key] for key in keys]
    assert max(values) - min(values) <= 1, counts


def runs(values: list) -> list[tuple[object, int]]:
    """Maximal runs of equal values as (value, length)."""
    out: list[tuple[object, int]] = []
    for value in values:
        if out and out[-1][0] == value:
            out[-1] = (value, out[-1][1] + 1)
        else:
            out.append((value, 1))
    return out


# --- every design -----------------------------------------------------------------------------

ANY_STUDY = st.sampled_from(DESIGNS).flatmap(studies)


@BOUNDED
@given(ANY_STUDY)
def test_positions_are_contiguous_and_training_comes_first_flagged(study: Study) -> None:
    spec = study.spec
    for items in study.schedules():
        assert [item.position for item in items] == list(range(len(items)))
        head = items[: len(spec.training_cases)]
        assert [item.case for item in head] == list(spec.training_cases)
        arm = training_arm(spec, items)
        assert all(item.training and item.arm == arm and not item.repeat for item in head)
        rest = items[len(spec.training_cases) :]
        assert not any(item.training for item in rest)
        assert not {item.case for item in rest} & set(spec.training_cases)


@BOUNDED
@given(ANY_STUDY, st.randoms(use_true_random=False))
def test_same_inputs_give_identical_schedules_whatever_the_case_order(
    study: Study, rnd: random.Random
) -> None:
    shuffled = list(study.cases)
    rnd.shuffle(shuffled)
    again = Study(study.spec, shuffled, study.seed, study.readers)
    assert study.schedules() == again.schedules()
    assert study.schedules() == Study(study.spec, study.cases, study.seed, study.readers).schedules()


@BOUNDED
@given(st.sampled_from(DESIGNS).flatmap(lambda d: studies(d, min_cases=10, options=False)), SEEDS)
def test_different_seeds_give_different_schedules(study: Study, other_seed: int | str) -> None:
    if str(other_seed) == str(study.seed):
        return
    other = reader_schedule(study.spec, study.cases, other_seed, 0)
    # Ten or more cases: equal orders by chance have probability below 1 / 10!.
    assert reader_schedule(study.spec, study.cases, study.seed, 0) != other


@BOUNDED
@given(ANY_STUDY)
def test_quota_coverage_is_balanced_across_readers(study: Study) -> None:
    per_reader = study.spec.quota or len(study.cases)
    coverage: Counter = Counter()
    for items in study.schedules():
        cases = {item.case for item in measured(items)}
        assert len(cases) == per_reader
        coverage.update(cases)
        assert_within_one(coverage, study.cases)


@BOUNDED
@given(ANY_STUDY)
def test_repeats_copy_an_earlier_reading_and_are_not_adjacent_to_it(study: Study) -> None:
    spec = study.spec
    per_repeat = 2 if spec.design == "sequential" else 1
    for items in study.schedules():
        repeats = [item for item in items if item.repeat]
        assert len(repeats) == spec.repeat_cases * per_repeat
        originals = {(i.case, i.arm, i.phase, i.session): i for i in measured(items)}
        for rep in repeats:
            original = originals[(rep.case, rep.arm, rep.phase, rep.session)]
            assert rep.position >= original.position + 2
            before = items[rep.position - 1]
            assert not (before.case == rep.case and before.session == rep.session and not before.repeat)


@BOUNDED
@given(ANY_STUDY)
def test_strata_stay_together_within_each_segment(study: Study) -> None:
    strata = study.spec.strata
    if strata is None:
        return
    for items in study.schedules():
        for segment in _segments(study.spec, measured(items)):
            labels = [strata[item.case] for item in segment]
            assert len(runs(labels)) == len(set(labels)), labels


def _segments(spec: DesignSpec, items: list[ScheduleItem]) -> list[list[ScheduleItem]]:
    if spec.design == "crossover":
        return [[item for item in items if item.session == s] for s in (1, 2)]
    if spec.design == "randomised_blocks":
        return [[item for item in items if item.arm == arm] for arm in spec.arms]
    return [[item for item in items if item.phase == 1]]


# --- sequential -------------------------------------------------------------------------------


@BOUNDED
@given(studies("sequential"))
def test_sequential_reads_each_case_unaided_then_with_ai_adjacent(study: Study) -> None:
    ai_readers: Counter = Counter()
    for items in study.schedules():
        reads = measured(items)
        assert Counter(item.case for item in reads) == dict.fromkeys({i.case for i in reads}, 2)
        by_position = {item.position: item for item in items}
        ai_arms = {item.arm for item in items if item.phase == 2}
        assert len(ai_arms) == 1 and ai_arms <= set(study.spec.arms[1:])
        for first in (item for item in reads if item.phase == 1):
            second = by_position[first.position + 1]
            assert (first.arm, second.arm, second.phase) == ("unaided", *ai_arms, 2)
            assert second.case == first.case and not second.repeat
        assert {item.session for item in items} == {1}
        # Readers per AI arm stay within one after every reader joins.
        ai_readers.update(ai_arms)
        assert_within_one(ai_readers, study.spec.arms[1:])


# --- randomised blocks ------------------------------------------------------------------------


@BOUNDED
@given(studies("randomised_blocks"))
def test_blocks_read_each_case_once_balanced_across_and_within_readers(study: Study) -> None:
    arms = study.spec.arms
    arm_counts: dict[str, Counter] = {case: Counter() for case in study.cases}
    for items in study.schedules():
        reads = measured(items)
        assert len({item.case for item in reads}) == len(reads)
        assert_within_one(Counter(item.arm for item in reads), arms)
        # Repeats go to the smaller arms first, so the arms stay within one reading with them too.
        assert_within_one(Counter(item.arm for item in items if not item.training), arms)
        for item in reads:
            arm_counts[item.case][item.arm] += 1
        # Balance holds after every reader joins, not only at the end.
        for counts in arm_counts.values():
            assert_within_one(counts, arms)


@BOUNDED
@given(studies("randomised_blocks"))
def test_blocks_cycle_through_the_arms_in_blocks_of_block_size(study: Study) -> None:
    size = study.spec.block_size
    for items in study.schedules():
        blocks = runs([item.arm for item in items if not item.training])
        for arm in study.spec.arms:
            lengths = [length for value, length in blocks if value == arm]
            assert all(length == size for length in lengths[:-1]), blocks
            assert not lengths or 1 <= lengths[-1] <= size, blocks
        # One order of the arms that read anything, repeated; the last cycle may stop early.
        cycle = list(dict.fromkeys(value for value, _ in blocks))
        assert [value for value, _ in blocks] == (cycle * len(blocks))[: len(blocks)], blocks


# --- crossover --------------------------------------------------------------------------------


@BOUNDED
@given(studies("crossover"))
def test_crossover_reads_each_case_once_per_session_in_opposite_arms(study: Study) -> None:
    first_arm: dict[str, Counter] = {case: Counter() for case in study.cases}
    for items in study.schedules():
        reads = measured(items)
        sessions = {s: {i.case: i.arm for i in reads if i.session == s} for s in (1, 2)}
        assert len(sessions[1]) + len(sessions[2]) == len(reads)
        assert sessions[1].keys() == sessions[2].keys()
        assert all(sessions[1][case] != sessions[2][case] for case in sessions[1])
        assert_within_one(Counter(sessions[1].values()), TWO_ARMS)
        last_first = max(i.position for i in items if i.session == 1)
        assert last_first < min(i.position for i in items if i.session == 2)
        for case, arm in sessions[1].items():
            first_arm[case][arm] += 1
        for counts in first_arm.values():
            assert_within_one(counts, TWO_ARMS)


# --- parallel and benchmark -------------------------------------------------------------------


@BOUNDED
@given(studies("parallel"))
def test_parallel_readers_are_balanced_over_arms_and_read_each_case_once(study: Study) -> None:
    groups: Counter = Counter()
    for items in study.schedules():
        reads = measured(items)
        arms = {item.arm for item in reads}
        assert len(arms) == 1 and arms <= set(study.spec.arms)
        assert len({item.case for item in reads}) == len(reads)
        assert all(item.arm in arms for item in items if item.repeat)
        groups.update(arms)
        assert_within_one(groups, study.spec.arms)


@BOUNDED
@given(studies("benchmark"))
def test_benchmark_reads_each_case_once_unaided(study: Study) -> None:
    for items in study.schedules():
        reads = measured(items)
        assert len({item.case for item in reads}) == len(reads)
        assert {(item.arm, item.phase, item.session) for item in items} == {("unaided", 1, 1)}


# --- examples ---------------------------------------------------------------------------------


def test_a_later_reader_does_not_change_earlier_schedules() -> None:
    spec = DesignSpec(design="randomised_blocks", arms=TWO_ARMS, block_size=3, quota=7)
    cases = [f"c{i}" for i in range(11)]
    early = [reader_schedule(spec, cases, "study-1", i) for i in range(4)]
    assert early == [reader_schedule(spec, cases, "study-1", i) for i in range(4)]
    assert reader_schedule(spec, cases, "study-1", 4) != early[0]


def test_strata_order_varies_between_readers() -> None:
    cases = [f"c{i}" for i in range(12)]
    spec = DesignSpec(
        design="benchmark", arms=("unaided",), strata={c: f"s{i % 3}" for i, c in enumerate(cases)}
    )
    orders = {
        tuple(dict.fromkeys(spec.strata[item.case] for item in reader_schedule(spec, cases, 5, i)))
        for i in range(12)
    }
    assert len(orders) > 1


def test_odd_crossover_puts_the_extra_case_in_alternating_arms() -> None:
    spec = DesignSpec(design="crossover", arms=TWO_ARMS)
    larger = []
    for i in range(4):
        session_one = Counter(
            item.arm for item in reader_schedule(spec, ["a", "b", "c"], 3, i) if item.session == 1
        )
        larger.append(session_one.most_common(1)[0][0])
    assert larger[0::2] == [larger[0]] * 2 and larger[1::2] == [larger[1]] * 2 and larger[0] != larger[1]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (DesignSpec(design="latin", arms=TWO_ARMS), "Unknown design"),
        (DesignSpec(design="sequential", arms=("unaided",)), "at least two arms"),
        (DesignSpec(design="randomised_blocks", arms=("unaided",)), "at least two arms"),
        (DesignSpec(design="crossover", arms=("unaided",)), "exactly two arms"),
        (DesignSpec(design="crossover", arms=("a", "b", "c")), "exactly two arms.*other arm"),
        (DesignSpec(design="parallel", arms=("unaided",)), "at least two arms"),
        (DesignSpec(design="benchmark", arms=()), "one arm"),
        (DesignSpec(design="parallel", arms=("a", "a")), "distinct"),
        (DesignSpec(design="randomised_blocks", arms=TWO_ARMS, block_size=0), "block_size"),
        (DesignSpec(design="benchmark", arms=("u",), quota=4), "quota"),
        (DesignSpec(design="benchmark", arms=("u",), quota=0), "quota"),
        (DesignSpec(design="benchmark", arms=("u",), repeat_cases=4), "repeat_cases"),
        (DesignSpec(design="randomised_blocks", arms=TWO_ARMS, repeat_cases=2), "at most 0"),
        (DesignSpec(design="benchmark", arms=("u",), repeat_cases=-1), "negative"),
        (DesignSpec(design="benchmark", arms=("u",), training_cases=("c1",)), "Training cases"),
        (DesignSpec(design="benchmark", arms=("u",), strata={"c1": "s"}), "stratum"),
    ],
)
def test_validate_spec_rejects_with_a_clear_message(spec: DesignSpec, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        validate_spec(spec, ["c1", "c2", "c3"])


def test_validate_spec_rejects_empty_or_duplicate_cases_and_negative_reader() -> None:
    spec = DesignSpec(design="benchmark", arms=("u",))
    with pytest.raises(ValueError, match="at least one case"):
        validate_spec(spec, [])
    with pytest.raises(ValueError, match="distinct"):
        validate_spec(spec, ["c1", "c1"])
    with pytest.raises(ValueError, match="reader_index"):
        reader_schedule(spec, ["c1"], 1, -1)
