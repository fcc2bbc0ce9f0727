"""Launch validations (each with its message) and schedules: stored once, reproducible from the seed."""

from __future__ import annotations

from collections import Counter

import pytest

from catalog.models import Case
from common.models import AuditEvent
from readerstudy.core.scheduling import reader_schedule
from readerstudy.models import Arm, ScheduleItem, Study, StudyStatus
from readerstudy.services import studies
from readerstudy.services.studies import StudyError
from tests.factories import CaseFactory, UserFactory

from .studies_helpers import case_set_with, enrol_readers, make_study

pytestmark = pytest.mark.django_db

DESIGNS = ["sequential", "randomised_blocks", "crossover", "parallel", "benchmark"]


def launch_messages(study: Study) -> list[str]:
    with pytest.raises(StudyError) as excinfo:
        studies.study_launch(study=study, actor=None)
    study.refresh_from_db()
    assert study.status == StudyStatus.DRAFT and study.launched_at is None
    assert not ScheduleItem.objects.filter(study=study).exists()
    return excinfo.value.problems


def stored(membership) -> list[tuple]:
    return list(
        ScheduleItem.objects.filter(membership=membership)
        .order_by("position")
        .values_list("position", "case__key", "arm__name", "phase", "session", "training", "repeat")
    )


def expected(study: Study, membership) -> list[tuple]:
    plan = studies.schedule_plan(study)
    return [
        (i.position, i.case, i.arm, i.phase, i.session, i.training, i.repeat)
        for i in reader_schedule(plan.spec, plan.cases, study.seed, membership.reader_index)
    ]


def test_invalid_stored_settings_block_launch():
    study = make_study()
    Study.objects.filter(pk=study.pk).update(settings={"top_k": 0})
    study.refresh_from_db()
    assert launch_messages(study) == ["settings.top_k: must be a whole number from 1 to 5"]


def test_arms_must_match_design():
    study = make_study(design="sequential")
    Arm.objects.filter(study=study, kind="ai").delete()
    assert launch_messages(study) == [
        "Sequential (unaided, then AI, revise) needs exactly one unaided arm and at least one AI arm "
        "(unaided arms: unaided; AI arms: none)."
    ]


def test_benchmark_refuses_an_ai_arm():
    study = make_study(design="benchmark")
    Arm.objects.create(study=study, name="ai", label="AI", kind="ai", order=1)
    messages = launch_messages(study)
    assert "needs exactly one unaided arm and no AI arm (it has 1 unaided, 1 AI)." in messages[0]


def test_parallel_needs_two_arms():
    study = make_study(design="parallel")
    Arm.objects.filter(study=study, kind="ai").delete()
    assert launch_messages(study) == ["Parallel groups needs at least two arms (it has 1)."]


def test_empty_case_set_blocks_launch():
    study = studies.study_create(actor=None, title="Empty", case_set=case_set_with(0), design="benchmark",
                                 consent_text="Voluntary.")
    messages = launch_messages(study)
    assert messages == [f"The case set “{study.case_set}” has no cases to read (besides training cases)."]


def test_ai_arm_needs_model_version():
    study = make_study(design="randomised_blocks", with_model=False)
    assert launch_messages(study) == ["The AI arm needs a model version: choose one on the edit page."]


def test_ai_readiness_problems_are_reported(monkeypatch):
    from readerstudy.services.studies import lifecycle

    monkeypatch.setattr(lifecycle, "study_ai_ready", lambda study: [f"2 cases of {study.slug} have no model output yet."])
    study = make_study(design="sequential")
    assert launch_messages(study) == [f"2 cases of {study.slug} have no model output yet."]


def test_training_cases_must_be_in_case_set_and_spec_is_validated():
    study = make_study(settings={"training_cases": ["NOPE"], "quota": 50})
    messages = launch_messages(study)
    assert messages == ["Training cases not in the case set: NOPE."]
    Study.objects.filter(pk=study.pk).update(settings={**study.settings, "training_cases": []})
    study.refresh_from_db()
    assert launch_messages(study) == ["quota must be between 1 and the number of cases (6), got 50."]


def test_unknown_stratum_field_blocks_launch():
    study = make_study(settings={"stratify_by": "lesion_colour"})
    assert "No case has “lesion_colour” to stratify by" in launch_messages(study)[0]


@pytest.mark.parametrize("design", DESIGNS)
def test_launch_generates_reproducible_schedules_for_enrolled_readers(design):
    study = make_study(design=design, n_cases=5, settings={"repeat_cases": 1, "block_size": 2})
    readers = enrol_readers(study, 3)
    studies.study_launch(study=study, actor=study.created_by)
    assert study.status == StudyStatus.LAUNCHED and study.launched_at is not None
    for reader in readers:
        rows = stored(reader)
        assert rows and rows == expected(study, reader)
    event = AuditEvent.objects.get(study_id=study.pk, action="study.launch")
    assert event.data["readers"] == 3 and event.data["seed"] == 1234
    assert event.data["schedule_items"] == ScheduleItem.objects.filter(study=study).count()


def test_schedule_is_stored_once_and_never_recomputed():
    study = make_study(n_cases=4)
    (reader,) = enrol_readers(study, 1)
    studies.study_launch(study=study, actor=None)
    before = list(
        ScheduleItem.objects.filter(membership=reader).values_list("pk", "case_id", "arm_id", "position")
    )
    # A case added afterwards (or any other change) must not alter a stored schedule.
    CaseFactory(case_set=study.case_set, key="late-case")
    again = studies.schedule_generate(membership=reader)
    assert [(i.pk, i.case_id, i.arm_id, i.position) for i in again] == before
    assert not AuditEvent.objects.filter(action="schedule.generate").exists()


def test_schedule_generate_refuses_drafts():
    study = make_study()
    (reader,) = enrol_readers(study, 1)
    with pytest.raises(StudyError, match="generated when the study launches"):
        studies.schedule_generate(membership=reader)


def test_readers_joining_later_get_their_schedule():
    study = make_study(design="randomised_blocks", n_cases=6, settings={"block_size": 2})
    enrol_readers(study, 2)
    studies.study_launch(study=study, actor=None)
    late = studies.reader_enrol(study=study, user=UserFactory(), actor=None)
    assert late.reader_index == 2 and late.pseudonym == "R003"
    assert stored(late) == expected(study, late)
    studies.study_pause(study=study, actor=None)
    paused_late = studies.reader_enrol(study=study, user=UserFactory(), actor=None)
    assert stored(paused_late) == expected(study, paused_late)


def test_randomised_blocks_balance_each_case_across_arms():
    study = make_study(design="randomised_blocks", n_cases=6, settings={"block_size": 3})
    enrol_readers(study, 4)
    studies.study_launch(study=study, actor=None)
    counts = Counter(ScheduleItem.objects.filter(study=study).values_list("case__key", "arm__name"))
    for case in Case.objects.filter(case_set=study.case_set).values_list("key", flat=True):
        assert abs(counts[(case, "ai")] - counts[(case, "unaided")]) <= 1


def test_training_cases_come_first_and_strata_are_used():
    case_set = case_set_with(6)
    keys = list(Case.objects.filter(case_set=case_set).order_by("key").values_list("key", flat=True))
    study = studies.study_create(
        actor=None,
        title="t",
        case_set=case_set,
        design="benchmark",
        settings={"training_cases": keys[:1], "stratify_by": "reference_group"},
        consent_text="Voluntary.",
    )
    (reader,) = enrol_readers(study, 1)
    studies.study_launch(study=study, actor=None)
    rows = stored(reader)
    assert rows[0][1] == keys[0] and rows[0][5] is True
    assert all(not training for *_, training, _repeat in rows[1:])
    assert studies.schedule_plan(study).spec.strata is not None
    assert rows == expected(study, reader)


def test_launch_freezes_the_ai_outputs_readers_will_see():
    from inference.models import ModelOutput

    study = make_study(design="sequential", n_cases=3)
    assert not ModelOutput.objects.filter(case__case_set=study.case_set, frozen=True).exists()
    studies.study_launch(study=study, actor=None)
    assert ModelOutput.objects.filter(case__case_set=study.case_set, frozen=False).count() == 0
