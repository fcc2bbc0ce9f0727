"""Writes for the inference app: register, calibrate, precompute, evaluate, freeze.

Keyword-only service functions; every write is audited (common.audit).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from catalog.models import Case, CaseSet
from common.audit import audit_record
from common.queueing import task_enqueue_on_commit

from .core.calibration import CalibrationResult, fit_temperature
from .core.evaluation import evaluate
from .core.factory import load_model
from .core.registry import DEFAULT_TEMPLATES, spec_from_folder
from .models import (
    DisplayJob,
    DisplayKind,
    JobStatus,
    ModelEvaluation,
    ModelKind,
    ModelOutput,
    ModelVersion,
    PrecomputeJob,
)
from .precompute import iter_case_results, job_owner_alive

UNCALIBRATED_NOTE = "uncalibrated: show ranks and coarse confidence bands, not percentages"


def resolve_model_path(path: str | Path) -> Path:
    """Absolute, or relative to the working directory, or relative to MODEL_ROOT."""
    candidate = Path(path).expanduser()
    if not candidate.is_absolute() and not candidate.exists():
        candidate = Path(settings.MODEL_ROOT) / candidate
    return candidate.resolve()


@transaction.atomic
def model_register(
    *,
    path: str | Path,
    name: str | None = None,
    kind: str = ModelKind.OPEN_CLIP,
    templates: Sequence[str] | None = None,
    fusion_weights: Mapping[str, float] | None = None,
    actor=None,
    verify: bool = True,
) -> ModelVersion:
    """Register a local open_clip folder: checksum its weights and (by default) load it once to prove it works."""
    if kind not in (ModelKind.OPEN_CLIP, ModelKind.UNTRAINED_DEMO):
        raise ValidationError("only open_clip folders are registered from a path")
    folder = resolve_model_path(path)
    spec = spec_from_folder(folder, name=name or folder.name, templates=tuple(templates or DEFAULT_TEMPLATES),
                            fusion_weights=fusion_weights)
    if verify:
        load_model(folder, expected_sha256=spec.weights_sha256, device="cpu")
    version = ModelVersion(
        name=spec.name, kind=kind, architecture=spec.architecture, checkpoint_path=str(folder),
        weights_sha256=spec.weights_sha256, preprocessing=dict(spec.preprocess_cfg),
        prompt_templates=list(spec.templates), fusion_weights=dict(spec.fusion_weights),
        temperature=spec.temperature, calibrated=False, calibration={"note": UNCALIBRATED_NOTE},
        config={"weights_file": spec.weights_file.name},
    )
    version.full_clean()
    version.save()
    audit_record(actor=actor, action="model.register", obj=version,
                 data={"path": str(folder), "sha256": spec.weights_sha256, "kind": kind})
    return version


@transaction.atomic
def model_register_simulated(
    *, name: str, accuracy: float, faulty_rate: float = 0.0, seed: int = 0, actor=None
) -> ModelVersion:
    """A simulated assistant (labelled as such everywhere); probabilities centre on the set accuracy."""
    if not 0 <= accuracy <= 1 or not 0 <= faulty_rate <= 1:
        raise ValidationError("accuracy and faulty rate must lie between 0 and 1")
    version = ModelVersion(
        name=name, kind=ModelKind.SIMULATED, architecture="simulated assistant",
        config={"accuracy": accuracy, "faulty_rate": faulty_rate, "seed": seed},
        calibrated=True,
        calibration={"note": "simulated: top-1 confidence centres on the set accuracy"},
    )
    version.full_clean()
    version.save()
    audit_record(actor=actor, action="model.register_simulated", obj=version, data=dict(version.config))
    return version


def _labelled_predictions(model_version: ModelVersion, case_set: CaseSet, temperature: float | None = None):
    cases = list(Case.objects.filter(case_set=case_set).select_related("reference").prefetch_related("images")
                 .order_by("pk"))
    results = [r for chunk in iter_case_results(cases, model_version=model_version, taxonomy=case_set.taxonomy,
                                                temperature=temperature) for r in chunk]
    ok = [r for r in results if r.prediction is not None]
    if not ok:
        raise ValidationError("no case of the set could be predicted")
    codes = list(ok[0].prediction.codes)
    labels = np.array([codes.index(r.case.reference.code) for r in ok])
    return ok, codes, labels, len(results) - len(ok)


def model_calibrate(*, model_version: ModelVersion, case_set: CaseSet, actor=None) -> CalibrationResult:
    """Fit the temperature on labelled cases (minimum NLL) and store it with NLL/ECE before and after."""
    if model_version.kind == ModelKind.SIMULATED:
        raise ValidationError("a simulated assistant has no logits to calibrate")
    if model_version.outputs.filter(frozen=True).exists():
        # Frozen outputs are shown in a launched study and must stay what the readers saw.
        raise ValidationError("the model's outputs are frozen by a launched study; register a new version instead")
    ok, _codes, labels, n_failed = _labelled_predictions(model_version, case_set, temperature=1.0)
    result = fit_temperature(np.array([r.prediction.logits for r in ok]), labels)
    with transaction.atomic():
        model_version.temperature = result.temperature
        model_version.calibrated = True
        model_version.calibration = {**result.as_dict(), "case_set": case_set.name, "n_failed": n_failed}
        model_version.save(update_fields=["temperature", "calibrated", "calibration"])
        # Outputs at the old temperature are stale; recomputing them reuses the cached embeddings.
        stale, _ = ModelOutput.objects.filter(model_version=model_version, frozen=False).delete()
        audit_record(actor=actor, action="model.calibrate", obj=model_version,
                     data={**model_version.calibration, "stale_outputs_deleted": stale})
    return result


def model_evaluate(
    *, model_version: ModelVersion, case_set: CaseSet, n_bootstrap: int = 1000, seed: int = 0, actor=None
) -> ModelEvaluation:
    """Standalone accuracy of the model on a labelled case set, stored beside the readers' results."""
    ok, codes, labels, n_failed = _labelled_predictions(model_version, case_set)
    malignant = dict(case_set.taxonomy.conditions.values_list("code", "malignant"))
    result = evaluate(np.array([r.prediction.probabilities for r in ok]), labels, codes,
                      [malignant[c] for c in codes], n_bootstrap=n_bootstrap, seed=seed)
    results = {**result.as_dict(), "n_failed": n_failed, "model": model_version.name, "kind": model_version.kind,
               "temperature": model_version.temperature, "calibrated": model_version.calibrated}
    with transaction.atomic():
        evaluation = ModelEvaluation.objects.create(model_version=model_version, case_set=case_set, results=results)
        audit_record(actor=actor, action="model.evaluate", obj=evaluation,
                     data={"model": model_version.name, "case_set": case_set.name})
    return evaluation


PRECOMPUTE_TASK = "inference.tasks.precompute_job"


def precompute_start(*, model_version: ModelVersion, case_set: CaseSet, actor=None) -> PrecomputeJob:
    """Queue a precompute job (or return the one already active); the task is sent after commit."""
    with transaction.atomic():
        active = (PrecomputeJob.objects.filter(model_version=model_version, case_set=case_set,
                                               status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
                  .order_by("-pk").first())
        if active is not None and (active.status == JobStatus.QUEUED or job_owner_alive(active)):
            return active
        job = PrecomputeJob.objects.create(model_version=model_version, case_set=case_set,
                                           total=case_set.cases.count())
        audit_record(actor=actor, action="inference.precompute_start", obj=job,
                     data={"model": model_version.name, "case_set": case_set.name})
        task_enqueue_on_commit(PRECOMPUTE_TASK, job.pk)  # a broker outage leaves the job queued
    return job


DISPLAY_TASK = "inference.tasks.display_job"


def display_precompute_start(
    *, model_version: ModelVersion, case_set: CaseSet, kinds: Sequence[str], library: CaseSet | None = None,
    concept_model: str | None = None, actor=None,
) -> DisplayJob:
    """Queue the precompute of AI displays for a case set (or return the same job still active).

    `library` is the reference library of similar cases (and of the learned concepts' top images);
    learned concepts use `concept_model` (a name) or the version's newest ConceptModel.
    """
    from .concept_models import concept_model_for

    kinds = sorted(set(kinds))
    unknown = [k for k in kinds if k not in DisplayKind.values]
    if not kinds or unknown:
        raise ValidationError(f"display kinds must be among {', '.join(DisplayKind.values)} (got {unknown or 'none'})")
    if DisplayKind.SIMILAR_CASES in kinds and library is None:
        raise ValidationError("similar cases need a reference library")
    if library is not None and library.pk == case_set.pk:
        raise ValidationError("the reference library must be kept apart from the cases it is searched for")
    params = {}
    if DisplayKind.LEARNED_CONCEPTS in kinds:
        if model_version.kind == ModelKind.SIMULATED:
            raise ValidationError("a simulated assistant has no image embeddings, so no learned concepts")
        row = concept_model_for(model_version, concept_model)
        if row is None:
            raise ValidationError(f"“{model_version.name}” has no concept model: run manage.py train_concepts")
        params["concept_model"] = row.name
    with transaction.atomic():
        active = (DisplayJob.objects.filter(model_version=model_version, case_set=case_set, library=library,
                                            kinds=kinds, params=params,
                                            status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).order_by("-pk").first())
        if active is not None and (active.status == JobStatus.QUEUED or job_owner_alive(active)):
            return active
        job = DisplayJob.objects.create(model_version=model_version, case_set=case_set, library=library,
                                        kinds=kinds, params=params, total=case_set.cases.count())
        audit_record(actor=actor, action="inference.display_precompute_start", obj=job,
                     data={"model": model_version.name, "case_set": case_set.name, "kinds": kinds,
                           "library": library.name if library else None, **params})
        task_enqueue_on_commit(DISPLAY_TASK, job.pk)
    return job
