"""A study's AI side: precompute its outputs, check it may launch, freeze what its readers see.

The inference app works on case sets and model versions; this module is where a study's model,
arms and status meet them.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from common.audit import audit_record
from inference.models import ModelKind, ModelOutput, ModelVersion, OutputStatus, PrecomputeJob
from inference.services import precompute_start
from readerstudy.models import ArmKind, Study, StudyStatus
from readerstudy.selectors.ai import outputs_for_study


def study_precompute_start(*, study: Study, model_version: ModelVersion | None = None, actor=None) -> PrecomputeJob:
    """Queue the precompute of the study's cases with its model (or `model_version`)."""
    version = model_version or study.model_version
    if version is None:
        raise ValidationError("the study has no model version")
    if version.kind == ModelKind.UNTRAINED_DEMO and study.status != StudyStatus.DRAFT:
        raise ValidationError("an untrained demo model cannot be used in a launched study")
    with transaction.atomic():
        job = precompute_start(model_version=version, case_set=study.case_set, actor=actor)
        audit_record(actor=actor, action="study.precompute_start", study=study, obj=job,
                     data={"model": version.name, "case_set": study.case_set.name})
    return job


def study_ai_ready(study: Study) -> list[str]:
    """Why a study with an AI arm cannot launch yet; an empty list means it can."""
    if not study.arms.filter(kind=ArmKind.AI).exists():
        return []
    version = study.model_version
    if version is None:
        return ["The study has an AI arm but no model version: choose one and precompute its outputs."]
    problems = []
    if version.kind == ModelKind.UNTRAINED_DEMO:
        problems.append(f"“{version.name}” is an untrained demo model and cannot be attached to a launched study.")
    total = study.case_set.cases.count()
    finished = outputs_for_study(study).count()
    if finished < total:
        failed = list(ModelOutput.objects.filter(model_version=version, case__case_set=study.case_set,
                                                 status=OutputStatus.FAILED).values_list("case__key", flat=True)[:5])
        message = (f"{total - finished} of {total} cases have no finished AI output from “{version.name}”: "
                   f"run precompute and wait for it to finish.")
        if failed:
            message += f" Failed cases include {', '.join(failed)} (see the precompute page for errors)."
        problems.append(message)
    return problems


@transaction.atomic
def study_outputs_freeze(*, study: Study, actor=None) -> int:
    """Mark the outputs a launched study shows as frozen (call from study launch); returns how many."""
    outputs = ModelOutput.objects.filter(Q(pk__in=outputs_for_study(study).values("pk")), frozen=False)
    count = outputs.update(frozen=True)
    audit_record(actor=actor, action="inference.outputs_freeze", study=study, data={"count": count})
    return count
