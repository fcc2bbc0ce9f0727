"""Schedules: generated once per reader from the study seed, stored as rows, never recomputed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from catalog.models import Case
from common.audit import audit_record
from readerstudy.core.scheduling import DesignSpec, reader_schedule
from readerstudy.core.study_settings import StudySettings, parse_study_settings
from readerstudy.models import Arm, Membership, Role, ScheduleItem, Study, StudyStatus
from readerstudy.services.studies.arms import ordered_arms
from readerstudy.services.studies.common import Actor, StudyError

# Case attributes a study may stratify its case order by; any other name is a key of Case.extra.
STRATA_ATTRIBUTES = (
    "fitzpatrick",
    "sex",
    "body_site",
    "reference_source",
    "reference_group",
    "reference_malignant",
)


@dataclass(frozen=True)
class SchedulePlan:
    """Everything needed to turn scheduler output into rows, computed once per study."""

    spec: DesignSpec
    cases: list[str]
    case_ids: dict[str, int]
    arm_ids: dict[str, int]


def schedule_plan(study: Study) -> SchedulePlan:
    """The design spec, case keys and row ids for the study's schedules."""
    parsed = parse_study_settings(study.settings)
    arms = ordered_arms(list(study.arms.all()))
    cases = list(Case.objects.filter(case_set=study.case_set).select_related("reference").order_by("key"))
    training = set(parsed.training_cases)
    measured = [case for case in cases if case.key not in training]
    strata = (
        {case.key: case_stratum(case, parsed.stratify_by) for case in measured} if parsed.stratify_by else {}
    )
    return SchedulePlan(
        spec=design_spec(study, parsed, arms, strata),
        cases=[case.key for case in measured],
        case_ids={case.key: case.pk for case in cases},
        arm_ids={arm.name: arm.pk for arm in arms},
    )


def design_spec(
    study: Study, parsed: StudySettings, arms: Sequence[Arm], strata: dict[str, str]
) -> DesignSpec:
    return DesignSpec(
        design=study.design,
        arms=tuple(arm.name for arm in arms),
        block_size=parsed.block_size,
        training_cases=tuple(parsed.training_cases),
        repeat_cases=parsed.repeat_cases,
        quota=parsed.quota,
        strata=strata or None,
    )


def case_stratum(case: Case, name: str) -> str:
    """The case's stratum under ``name`` (a case attribute or a key of its extra metadata)."""
    if name == "reference_group":
        value: Any = case.reference.group
    elif name == "reference_malignant":
        value = case.reference.malignant
    elif name in STRATA_ATTRIBUTES:
        value = getattr(case, name)
    else:
        value = case.extra.get(name)
    return "" if value is None else str(value)


@transaction.atomic
def schedule_generate(*, membership: Membership, actor: Actor = None) -> list[ScheduleItem]:
    """The reader's stored schedule, generating and storing it first if it has none yet."""
    locked = Membership.objects.select_for_update().select_related("study").get(pk=membership.pk)
    study = locked.study
    if study.status == StudyStatus.DRAFT:
        raise StudyError("Schedules are generated when the study launches.")
    if locked.role != Role.READER or locked.reader_index is None:
        raise StudyError("Only readers have schedules.")
    existing = list(ScheduleItem.objects.filter(membership=locked).order_by("position"))
    if existing:
        return existing
    items = store_schedule(locked, study, schedule_plan(study))
    audit_record(actor=actor, action="schedule.generate", study=study, obj=locked, data={"items": len(items)})
    return items


def store_schedule(membership: Membership, study: Study, plan: SchedulePlan) -> list[ScheduleItem]:
    if ScheduleItem.objects.filter(membership=membership).exists():
        return []
    planned = reader_schedule(plan.spec, plan.cases, study.seed, membership.reader_index)
    rows = [
        ScheduleItem(
            study=study,
            membership=membership,
            case_id=plan.case_ids[item.case],
            arm_id=plan.arm_ids[item.arm],
            position=item.position,
            phase=item.phase,
            session=item.session,
            training=item.training,
            repeat=item.repeat,
        )
        for item in planned
    ]
    return ScheduleItem.objects.bulk_create(rows)
