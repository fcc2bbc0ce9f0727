"""Study create/update and status transitions, through the services against the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from common.models import AuditEvent
from readerstudy.core.study_settings import parse_study_settings
from readerstudy.models import Arm, Membership, Role, StudyStatus
from readerstudy.selectors.position import session_opens_at
from readerstudy.services import studies
from readerstudy.services.studies import ArmSpec, StudyError
from tests.factories import UserFactory

from .studies_helpers import case_set_with, enrol_readers, make_study

pytestmark = pytest.mark.django_db


def test_create_makes_draft_with_design_arms_and_coordinator():
    user = UserFactory()
    study = studies.study_create(
        actor=user,
        title="Eczema vs tinea",
        case_set=case_set_with(3),
        design="crossover",
        settings={"washout_days": 21},
    )
    assert study.status == StudyStatus.DRAFT
    assert study.slug == "eczema-vs-tinea"
    assert [(a.name, a.kind) for a in study.arms.all()] == [("unaided", "unaided"), ("ai", "ai")]
    coordinator = Membership.objects.get(study=study, user=user)
    assert (coordinator.role, coordinator.pseudonym, coordinator.reader_index) == (
        Role.COORDINATOR,
        "C001",
        None,
    )
    # Settings are stored in full so later changes to defaults never change a study.
    assert study.settings["washout_days"] == 21 and study.settings["top_k"] == 3
    assert parse_study_settings(study.settings).washout_days == 21
    assert AuditEvent.objects.filter(study_id=study.pk, action="study.create", actor=user).exists()


def test_create_benchmark_has_single_unaided_arm_and_unique_slugs():
    first = make_study(design="benchmark")
    second = studies.study_create(actor=None, title=first.title, case_set=first.case_set, design="benchmark")
    assert [a.kind for a in first.arms.all()] == ["unaided"]
    assert second.slug == f"{first.slug}-2"


def test_create_rejects_bad_settings_with_messages():
    with pytest.raises(StudyError) as excinfo:
        studies.study_create(
            actor=None,
            title="x",
            case_set=case_set_with(1),
            design="sequential",
            settings={"top_k": 9, "bogus": 1},
        )
    assert "settings.bogus: unknown option" in excinfo.value.problems


def test_draft_can_change_everything_including_arms():
    study = make_study(design="sequential")
    coordinator = study.created_by
    studies.study_update(
        study=study,
        actor=coordinator,
        changes={"design": "parallel", "seed": 7, "settings": {"top_k": 5}},
        arms=[
            ArmSpec("unaided", "Unaided", "unaided"),
            ArmSpec("ai", "AI", "ai"),
            ArmSpec("ai-faulty", "Faulty AI", "ai", {"faulty_rate": 0.2}),
        ],
    )
    assert (study.design, study.seed, study.settings["top_k"]) == ("parallel", 7, 5)
    assert list(study.arms.values_list("name", flat=True)) == ["unaided", "ai", "ai-faulty"]
    assert AuditEvent.objects.filter(study_id=study.pk, action="study.update").count() == 1


def test_after_launch_data_fields_are_refused_with_reasons():
    study = make_study()
    studies.study_launch(study=study, actor=study.created_by)
    with pytest.raises(StudyError) as excinfo:
        studies.study_update(
            study=study, actor=None, changes={"design": "benchmark", "seed": 1, "settings": {"top_k": 1}}
        )
    text = " ".join(excinfo.value.problems)
    assert "The design cannot change: the study is launched and schedules were generated for it." in text
    assert "seed cannot change" in text
    assert "Settings (top_k) cannot change" in text
    with pytest.raises(StudyError, match="arms cannot change"):
        studies.study_update(study=study, actor=None, changes={}, arms=[ArmSpec("x", "X", "unaided")])
    study.refresh_from_db()
    assert study.design == "sequential"


def test_after_launch_title_description_and_reader_cap_may_change():
    study = make_study()
    studies.study_launch(study=study, actor=None)
    settings = {**study.settings, "max_readers": 40}
    studies.study_update(
        study=study,
        actor=None,
        changes={"title": "Renamed", "description": "d", "design": study.design, "settings": settings},
    )
    assert (study.title, study.settings["max_readers"]) == ("Renamed", 40)


def test_reader_cap_cannot_drop_below_enrolled_readers():
    study = make_study()
    enrol_readers(study, 3)
    studies.study_launch(study=study, actor=None)
    with pytest.raises(StudyError, match="below the 3 readers"):
        studies.study_update(
            study=study, actor=None, changes={"settings": {**study.settings, "max_readers": 2}}
        )


def test_status_transitions():
    study = make_study()
    with pytest.raises(StudyError, match="A draft study cannot be paused"):
        studies.study_pause(study=study, actor=None)
    with pytest.raises(StudyError):
        studies.study_close(study=study, actor=None)
    studies.study_launch(study=study, actor=None)
    with pytest.raises(StudyError, match="already launched"):
        studies.study_launch(study=study, actor=None)
    with pytest.raises(StudyError):
        studies.study_resume(study=study, actor=None)
    assert studies.study_pause(study=study, actor=None).status == StudyStatus.PAUSED
    assert studies.study_resume(study=study, actor=None).status == StudyStatus.LAUNCHED
    studies.study_pause(study=study, actor=None)
    closed = studies.study_close(study=study, actor=None)
    assert closed.status == StudyStatus.CLOSED and closed.closed_at is not None
    for transition in (studies.study_pause, studies.study_resume, studies.study_close, studies.study_launch):
        with pytest.raises(StudyError):
            transition(study=study, actor=None)
    actions = list(
        AuditEvent.objects.filter(study_id=study.pk).order_by("at", "pk").values_list("action", flat=True)
    )
    assert actions[-5:] == ["study.launch", "study.pause", "study.resume", "study.pause", "study.close"]


def test_session_opens_at_follows_washout():
    study = make_study(design="crossover", settings={"washout_days": 10})
    (reader,) = enrol_readers(study, 1)
    assert session_opens_at(reader) is None
    reader.session1_completed_at = timezone.now()
    reader.save(update_fields=["session1_completed_at"])
    assert session_opens_at(reader) == reader.session1_completed_at + timedelta(days=10)
    other = make_study(design="sequential")
    (seq_reader,) = enrol_readers(other, 1)
    seq_reader.session1_completed_at = timezone.now()
    assert session_opens_at(seq_reader) is None


def test_arm_problems_per_design():
    unaided, ai = ArmSpec("u", "U", "unaided"), ArmSpec("a", "A", "ai")
    assert studies.arm_problems("sequential", [unaided, ai]) == []
    assert studies.arm_problems("sequential", [unaided]) != []
    assert studies.arm_problems("randomised_blocks", [ai, ArmSpec("b", "B", "ai")]) != []
    assert studies.arm_problems("parallel", [unaided, ai, ArmSpec("b", "B", "ai")]) == []
    assert studies.arm_problems("parallel", [ai]) != []
    assert studies.arm_problems("benchmark", [unaided]) == []
    assert studies.arm_problems("benchmark", [unaided, ai]) != []
    assert studies.arm_problems("crossover", [unaided, ArmSpec("u", "U2", "ai")]) != []
    assert Arm.objects.count() == 0
