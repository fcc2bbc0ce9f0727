"""A study's AI side: precompute its outputs and displays, check it may launch, freeze what its readers see.

The inference app works on case sets and model versions; this module is where a study's models,
arms and status meet them. Each AI arm shows one display (``Arm.assist["display"]``) of one model
(``Arm.model_version``, else the study's); the differential is the ModelOutput itself, every other
display a DisplayOutput precomputed on workers (similar cases against ``Study.reference_library``).
"""

from __future__ import annotations

from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from common.audit import audit_record
from inference.concept_models import concept_model_for
from inference.models import (
    DisplayKind,
    DisplayOutput,
    ModelKind,
    ModelOutput,
    ModelVersion,
    OutputStatus,
    PrecomputeJob,
)
from inference.selectors import finished_displays, finished_outputs
from inference.services import display_precompute_start, precompute_start
from readerstudy.models import ArmKind, Study, StudyStatus

DIFFERENTIAL = "differential"


def _arm_models(study: Study, override: ModelVersion | None = None) -> dict[int | None, tuple[ModelVersion | None, set[str]]]:
    """version id -> (version, displays its AI arms show besides the differential); None: an arm without a model."""
    by_version: dict[int | None, tuple[ModelVersion | None, set[str]]] = {}
    for arm in study.arms.filter(kind=ArmKind.AI).select_related("model_version").order_by("order", "pk"):
        version = arm.model_version or override or study.model_version
        key = version.pk if version else None
        entry = by_version.setdefault(key, (version, set()))
        display = (arm.assist or {}).get("display", DIFFERENTIAL)
        if display != DIFFERENTIAL:
            entry[1].add(display)
    return by_version


def _computable(study: Study, version: ModelVersion, kinds: set[str]) -> list[str]:
    """The kinds that can be queued now (similar cases need a library; learned concepts a concept model)."""
    out = []
    for kind in sorted(kinds):
        if kind == DisplayKind.SIMILAR_CASES and study.reference_library_id is None:
            continue
        if kind == DisplayKind.LEARNED_CONCEPTS and (version.kind == ModelKind.SIMULATED
                                                     or concept_model_for(version) is None):
            continue
        out.append(kind)
    return out


def study_precompute_start(*, study: Study, model_version: ModelVersion | None = None, actor=None) -> PrecomputeJob:
    """Queue the outputs of every model the study's AI arms use and the displays they show.

    Returns the job of the study's model (or `model_version`); displays that cannot be queued yet
    (no reference library, no concept model) are left to :func:`study_ai_ready` to report.
    """
    version = model_version or study.model_version
    if version is None:
        raise ValidationError("the study has no model version")
    models = _arm_models(study, override=model_version)
    for other, _ in models.values():
        for candidate in (version, other):
            if candidate is not None and candidate.kind == ModelKind.UNTRAINED_DEMO and study.status != StudyStatus.DRAFT:
                raise ValidationError("an untrained demo model cannot be used in a launched study")
    with transaction.atomic():
        job = precompute_start(model_version=version, case_set=study.case_set, actor=actor)
        audit_record(actor=actor, action="study.precompute_start", study=study, obj=job,
                     data={"model": version.name, "case_set": study.case_set.name})
        for other, kinds in models.values():
            if other is None:
                continue
            if other.pk != version.pk:
                precompute_start(model_version=other, case_set=study.case_set, actor=actor)
            queue = _computable(study, other, kinds)
            if queue:
                display_job = display_precompute_start(model_version=other, case_set=study.case_set, kinds=queue,
                                                       library=study.reference_library, actor=actor)
                audit_record(actor=actor, action="study.display_precompute_start", study=study, obj=display_job,
                             data={"model": other.name, "kinds": queue})
    return job


def study_displays(study: Study, version: ModelVersion, kind: str):
    """The study's finished DisplayOutputs of one kind from one model (current params), for its cases."""
    return finished_displays(model_version=version, case_set_id=study.case_set_id, kind=kind,
                             library_id=study.reference_library_id)


def _display_problem(study: Study, version: ModelVersion, kind: str, total: int) -> str | None:
    label = DisplayKind(kind).label.lower()
    if kind == DisplayKind.SIMILAR_CASES and study.reference_library_id is None:
        return f"An AI arm shows {label} but the study has no reference library: choose one."
    if kind == DisplayKind.LEARNED_CONCEPTS and (version.kind == ModelKind.SIMULATED or concept_model_for(version) is None):
        return (f"An AI arm shows {label} of “{version.name}”, which has no concept model: "
                f"run manage.py train_concepts {version.name} --cases ….")
    finished = study_displays(study, version, kind).count()
    if finished >= total:
        return None
    failed = list(DisplayOutput.objects.filter(model_version=version, case__case_set=study.case_set, kind=kind,
                                               status=OutputStatus.FAILED).values_list("case__key", flat=True)[:5])
    message = (f"{total - finished} of {total} cases have no finished {label} display from “{version.name}”: "
               f"run precompute and wait for it to finish.")
    if failed:
        message += f" Failed cases include {', '.join(failed)}."
    return message


def study_ai_ready(study: Study) -> list[str]:
    """Why a study with AI arms cannot launch yet: every arm's model needs finished outputs and displays
    for every case. An empty list means it can."""
    models = _arm_models(study)
    if not models:
        return []
    problems = []
    if None in models:
        problems.append("The study has an AI arm but no model version: choose one and precompute its outputs.")
    total = study.case_set.cases.count()
    for version, kinds in (entry for key, entry in models.items() if key is not None):
        if version.kind == ModelKind.UNTRAINED_DEMO:
            problems.append(f"“{version.name}” is an untrained demo model and cannot be attached to a launched study.")
        finished = finished_outputs(model_version_id=version.pk, case_set_id=study.case_set_id,
                                    taxonomy_id=study.case_set.taxonomy_id).count()
        if finished < total:
            failed = list(ModelOutput.objects.filter(model_version=version, case__case_set=study.case_set,
                                                     status=OutputStatus.FAILED).values_list("case__key", flat=True)[:5])
            message = (f"{total - finished} of {total} cases have no finished AI output from “{version.name}”: "
                       f"run precompute and wait for it to finish.")
            if failed:
                message += f" Failed cases include {', '.join(failed)} (see the precompute page for errors)."
            problems.append(message)
        problems += [p for kind in sorted(kinds) if (p := _display_problem(study, version, kind, total))]
    return problems


@transaction.atomic
def study_outputs_freeze(*, study: Study, actor=None) -> int:
    """Mark the outputs and displays a launched study shows as frozen (call from study launch); returns how many."""
    outputs = displays = 0
    shown: dict[int, set[str]] = defaultdict(set)
    for key, (version, kinds) in _arm_models(study).items():
        if key is None:
            continue
        outputs += ModelOutput.objects.filter(
            Q(pk__in=finished_outputs(model_version_id=version.pk, case_set_id=study.case_set_id,
                                      taxonomy_id=study.case_set.taxonomy_id).values("pk")), frozen=False,
        ).update(frozen=True)
        for kind in kinds:
            if kind not in shown[version.pk]:
                shown[version.pk].add(kind)
                displays += study_displays(study, version, kind).filter(frozen=False).update(frozen=True)
    audit_record(actor=actor, action="inference.outputs_freeze", study=study,
                 data={"count": outputs + displays, "outputs": outputs, "displays": displays})
    return outputs + displays
