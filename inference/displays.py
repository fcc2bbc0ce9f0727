"""Precompute of the AI displays (malignancy, similar cases, concepts, learned concepts) into DisplayOutput.

Django glue around :mod:`inference.core.display_payloads`. The image embeddings come from the one
cache precompute fills (:func:`inference.precompute.iter_case_embeddings`): an image is embedded
once per model version and then read for zero-shot, concepts, similar cases and the autoencoder;
the reference library's images go through the same cache. The payload's differential is the stored
ModelOutput when there is one (what the reader sees), else the same prediction made from the same
embeddings. A job is idempotent: a case whose displays are stored is skipped, a failed one retried.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Case, CaseSet

from .concept_calibration import concept_calibration
from .concept_models import concept_model_artefact, concept_model_for, concept_text_embeddings, vocabulary
from .core import display_payloads as dp
from .core.malignancy import OperatingThreshold, PlattCalibration, study_threshold
from .core.neighbours import NEAR_DUPLICATE_COSINE, LibraryImage, ReferenceLibrary
from .core.predict import predict_from_embeddings
from .core.registry import DEFAULT_FUSION_WEIGHTS
from .core.sae_explain import LatentName, top_activating
from .models import (
    DisplayJob,
    DisplayKind,
    DisplayOutput,
    JobStatus,
    ModelKind,
    ModelOutput,
    ModelVersion,
    OutputStatus,
)
from .precompute import (
    batch_pause_s,
    class_embeddings_for,
    iter_case_embeddings,
    job_owner_alive,
    loaded_model,
    simulated_assistant,
    worker_identity,
)

PAYLOAD_FORMAT = 1
TOP_IMAGES = 8
DEFAULT_THRESHOLD = 0.5


def malignancy_calibration(model_version: ModelVersion) -> PlattCalibration | None:
    """Platt scaling stored under calibration["malignancy"] (PlattCalibration.as_dict()); none: uncalibrated."""
    stored = (model_version.calibration or {}).get("malignancy")
    if not isinstance(stored, dict) or stored.get("method") != "platt" or not stored.get("estimable"):
        return None
    fields = {k: stored[k] for k in PlattCalibration.__dataclass_fields__}
    return PlattCalibration(**fields)


def malignancy_threshold(model_version: ModelVersion) -> OperatingThreshold:
    """calibration["malignancy_threshold"] when stored, else 0.5 on the scale the gauge shows (an arm may override)."""
    stored = (model_version.calibration or {}).get("malignancy_threshold")
    if isinstance(stored, dict) and "value" in stored:
        return OperatingThreshold(**{k: stored.get(k) for k in OperatingThreshold.__dataclass_fields__})
    scale = "calibrated" if malignancy_calibration(model_version) is not None else "raw"
    return study_threshold(DEFAULT_THRESHOLD, scale=scale)


def near_duplicate_cosine() -> float:
    """INFERENCE_NEAR_DUPLICATE_COSINE: a library image this similar to a case image is a copy, never shown."""
    return float(getattr(settings, "INFERENCE_NEAR_DUPLICATE_COSINE", NEAR_DUPLICATE_COSINE))


def display_params(*, model_version: ModelVersion, kind: str, library_id: int | None = None,
                   concept_model: str | None = None) -> dict[str, Any]:
    """What a display's payload depends on besides model and case; its sha256 names the stored row."""
    params: dict[str, Any] = {"format": PAYLOAD_FORMAT, "kind": kind, "temperature": model_version.temperature,
                              "simulated": model_version.kind == ModelKind.SIMULATED}
    if kind == DisplayKind.MALIGNANCY:
        calibration = malignancy_calibration(model_version)
        params["calibration"] = None if calibration is None else calibration.as_dict()
        params["threshold"] = malignancy_threshold(model_version).as_dict()
    elif kind == DisplayKind.SIMILAR_CASES:
        params.update(n=dp.GALLERY_N, library=library_id, near_duplicate=near_duplicate_cosine(), merge="max")
    elif kind == DisplayKind.CONCEPTS:
        calibration = concept_calibration(model_version)
        params.update(vocabulary=vocabulary().version, fingerprint=vocabulary().fingerprint,
                      calibration=None if calibration is None else calibration.as_dict())
    elif kind == DisplayKind.LEARNED_CONCEPTS:
        params.update(concept_model=concept_model, library=library_id, top_latents=dp.TOP_LATENTS,
                      top_images=TOP_IMAGES)
    else:
        raise ValueError(f"unknown display kind {kind!r}")
    return params


def params_digest(params: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def current_digest(*, model_version: ModelVersion, kind: str, library_id: int | None) -> str | None:
    """sha256 of the params a display of `kind` is stored under now (learned concepts: the newest concept
    model); None when it cannot be computed (similar cases without a library, no concept model)."""
    concept_model = None
    if kind in (DisplayKind.SIMILAR_CASES,) and library_id is None:
        return None
    if kind == DisplayKind.LEARNED_CONCEPTS:
        row = concept_model_for(model_version)
        if row is None or model_version.kind == ModelKind.SIMULATED:
            return None
        concept_model = row.name
    return params_digest(display_params(model_version=model_version, kind=kind, library_id=library_id,
                                        concept_model=concept_model))


def job_params(job: DisplayJob) -> dict[str, tuple[dict[str, Any], str]]:
    """kind -> (params, digest) of a job's outputs."""
    out = {}
    for kind in job.kinds:
        params = display_params(model_version=job.model_version, kind=kind, library_id=job.library_id,
                                concept_model=job.params.get("concept_model"))
        out[kind] = (params, params_digest(params))
    return out


# --- the context of a job: built once ------------------------------------------------------------


def _case_ids(case: Case) -> tuple[str | None, str | None]:
    extra = case.extra or {}
    patient, lesion = extra.get("patient_id"), extra.get("lesion_id")
    return (str(patient) if patient else None), (str(lesion) if lesion else None)


def library_images(library: CaseSet) -> list[LibraryImage]:
    cases = (Case.objects.filter(case_set=library).select_related("reference").prefetch_related("images")
             .order_by("pk"))
    images = []
    for case in cases:
        patient, lesion = _case_ids(case)
        images += [LibraryImage(str(img.pk), img.sha256, case.key, case.reference.code, patient, lesion)
                   for img in case.images.all()]
    return images


def library_embeddings(model_version: ModelVersion, library: CaseSet, *, batch_size: int) -> ReferenceLibrary:
    """The library embedded by the model (through the image cache); images that fail to decode are left out."""
    cases = list(Case.objects.filter(case_set=library).select_related("reference").prefetch_related("images")
                 .order_by("pk"))
    images, vectors = [], []
    for chunk in iter_case_embeddings(cases, model_version=model_version, batch_size=batch_size):
        for item in chunk:
            if item.error:
                continue
            patient, lesion = _case_ids(item.case)
            for img, vector in zip(item.case.images.all(), _ordered(item), strict=True):
                images.append(LibraryImage(str(img.pk), img.sha256, item.case.key, item.case.reference.code,
                                           patient, lesion))
                vectors.append(vector)
    if not images:
        raise ValueError(f"the reference library {library.name!r} has no usable image")
    return ReferenceLibrary.build(images=images, embeddings=np.stack(vectors))


def _ordered(item) -> list[np.ndarray]:
    """The case's image embeddings in image order (by_role keeps each role's images in order)."""
    queues = {role: iter(vectors) for role, vectors in item.by_role.items()}
    return [next(queues[img.role]) for img in item.case.images.all()]


def build_context(job: DisplayJob, *, batch_size: int) -> dp.DisplayContext:
    version, taxonomy = job.model_version, job.case_set.taxonomy
    conditions = list(taxonomy.conditions.order_by("order", "code").only("code", "name", "group", "malignant", "taxonomy"))
    base: dict[str, Any] = dict(
        codes=tuple(c.code for c in conditions), names={c.code: c.name for c in conditions},
        groups={c.code: c.group for c in conditions}, malignant=frozenset(c.code for c in conditions if c.malignant),
        threshold=malignancy_threshold(version), calibration=malignancy_calibration(version),
        temperature=version.temperature, vocabulary=vocabulary(), seed=int((version.config or {}).get("seed", 0)),
    )
    kinds = set(job.kinds)
    if version.kind == ModelKind.SIMULATED:
        if job.library is not None:
            base["library_images"] = tuple(library_images(job.library))
        return dp.DisplayContext(**base)
    codes, class_vectors = class_embeddings_for(version, taxonomy)
    base.update(class_embeddings=class_vectors, logit_scale=loaded_model(version).logit_scale)
    if codes != list(base["codes"]):
        raise ValueError("class embeddings are not in taxonomy order")
    library = None
    if job.library is not None and kinds & {DisplayKind.SIMILAR_CASES, DisplayKind.LEARNED_CONCEPTS}:
        library = library_embeddings(version, job.library, batch_size=batch_size)
        base["library"] = library
    if DisplayKind.CONCEPTS in kinds:
        base["concept_embeddings"] = concept_text_embeddings(version, vocabulary())
        base["concept_calibration"] = concept_calibration(version)
    if DisplayKind.LEARNED_CONCEPTS in kinds:
        row = concept_model_for(version, job.params.get("concept_model"))
        if row is None:
            raise ValueError(f"no concept model of {version.name}: run manage.py train_concepts")
        artefact = concept_model_artefact(row)
        base.update(sae=artefact, concept_model=row.name,
                    latent_names=tuple(LatentName(**n) for n in row.latent_names))
        if library is not None:
            rows, _ = top_activating(artefact, library.embeddings, k=TOP_IMAGES)
            base["top_images"] = {j: tuple(library.images[r].image_id for r in rows[j] if r >= 0)
                                  for j in range(artefact.n_latents) if rows[j][0] >= 0}
        ctx = dp.DisplayContext(**base)
        return dataclasses.replace(ctx, algebra=dp.LatentAlgebra.build(ctx))
    return dp.DisplayContext(**base)


# --- one chunk of cases ------------------------------------------------------------------------


def _stored_vectors(version: ModelVersion, cases: Sequence[Case], codes: Sequence[str]) -> dict[int, tuple[float, ...]]:
    rows = ModelOutput.objects.filter(model_version=version, case__in=[c.pk for c in cases], status=OutputStatus.DONE)
    return {case_id: tuple(float(probs.get(code, 0.0)) for code in codes)
            for case_id, probs in rows.values_list("case_id", "probabilities")}


def _inputs(version: ModelVersion, ctx: dp.DisplayContext, chunk: list, fusion) -> list[dp.CaseInput | str]:
    """A CaseInput per case, or the error that stops its displays."""
    cases = [item.case if hasattr(item, "case") else item for item in chunk]
    stored = _stored_vectors(version, cases, ctx.codes)
    out: list[dp.CaseInput | str] = []
    for item, case in zip(chunk, cases, strict=True):
        images = list(case.images.all())
        patient, lesion = _case_ids(case)
        common = dict(case_key=case.key, reference=case.reference.code, image_sha256=tuple(i.sha256 for i in images),
                      patient_id=patient, lesion_id=lesion)
        if version.kind == ModelKind.SIMULATED:
            probs = stored.get(case.pk) or simulated_assistant(version).predict(
                case.key, case.reference.code, ctx.codes, ctx.groups).probabilities
            out.append(dp.CaseInput(probabilities=tuple(probs), **common))
            continue
        if item.error:
            out.append(item.error)
            continue
        probs = stored.get(case.pk) or predict_from_embeddings(
            item.by_role, class_embeddings=ctx.class_embeddings, codes=ctx.codes, logit_scale=ctx.logit_scale,
            fusion_weights=fusion, temperature=ctx.temperature).probabilities
        out.append(dp.CaseInput(probabilities=tuple(probs), embeddings=np.stack(_ordered(item)),
                                image_weights=dp.image_weights([i.role for i in images], fusion), **common))
    return out


def _payloads(kind: str, ctx: dp.DisplayContext, inputs: list[dp.CaseInput], simulated: bool) -> list[dict | Exception]:
    results = _computed(kind, ctx, inputs, simulated)
    if kind == DisplayKind.SIMILAR_CASES:  # an empty gallery is not a display
        empty = ValueError("no library image is left after the exclusions")
        results = [empty if isinstance(r, dict) and not r["normal"]["neighbours"] else r for r in results]
    return results


def _computed(kind: str, ctx: dp.DisplayContext, inputs: list[dp.CaseInput], simulated: bool) -> list[dict | Exception]:
    one: Callable[[dp.DisplayContext, dp.CaseInput], dict] | None = {
        DisplayKind.MALIGNANCY: dp.malignancy_payload,
        DisplayKind.CONCEPTS: dp.simulated_concepts if simulated else dp.concepts_payload,
        DisplayKind.SIMILAR_CASES: dp.simulated_similar if simulated else None,
        DisplayKind.LEARNED_CONCEPTS: None if simulated else dp.learned_concepts_payload,
    }[kind]
    if kind == DisplayKind.SIMILAR_CASES and not simulated:
        near = near_duplicate_cosine()
        try:
            return list(dp.similar_payloads(ctx, inputs, near_duplicate=near))
        except Exception:  # noqa: BLE001 - one bad case must not fail the chunk: retry one by one
            pass

        def one(c: dp.DisplayContext, case: dp.CaseInput) -> dict:
            return dp.similar_payloads(c, [case], near_duplicate=near)[0]

    if one is None:
        return [ValueError("learned concepts need image embeddings (a simulated assistant has none)")] * len(inputs)
    results: list[dict | Exception] = []
    for case in inputs:
        try:
            results.append(one(ctx, case))
        except Exception as exc:  # noqa: BLE001 - stored as the case's error
            results.append(exc)
    return results


def _rows(job: DisplayJob, ctx: dp.DisplayContext, chunk: list, missing: dict[int, set[str]],
          params: dict[str, tuple[dict, str]]) -> list[DisplayOutput]:
    version = job.model_version
    fusion = version.fusion_weights or DEFAULT_FUSION_WEIGHTS
    inputs = _inputs(version, ctx, chunk, fusion)
    cases = [item.case if hasattr(item, "case") else item for item in chunk]
    rows = []
    for kind in job.kinds:
        todo = [i for i, case in enumerate(cases) if kind in missing[case.pk]]
        good = [i for i in todo if not isinstance(inputs[i], str)]
        results = dict(zip(good, _payloads(kind, ctx, [inputs[i] for i in good],
                                           version.kind == ModelKind.SIMULATED), strict=True)) if good else {}
        kind_params, digest = params[kind]
        library = job.library if kind in (DisplayKind.SIMILAR_CASES, DisplayKind.LEARNED_CONCEPTS) else None
        for i in todo:
            result = inputs[i] if isinstance(inputs[i], str) else results[i]
            ok = isinstance(result, dict)
            rows.append(DisplayOutput(
                model_version=version, case=cases[i], kind=kind, library=library, params_sha256=digest,
                params=kind_params, status=OutputStatus.DONE if ok else OutputStatus.FAILED,
                payload=result if ok else {},
                error="" if ok else (result if isinstance(result, str) else f"{type(result).__name__}: {result}")[:2000],
            ))
    return rows


# --- jobs -----------------------------------------------------------------------------------------


def _claim(job_id: int) -> DisplayJob | None:
    with transaction.atomic():
        job = (DisplayJob.objects.select_for_update(of=("self",))
               .select_related("model_version", "case_set__taxonomy", "library").get(pk=job_id))
        if job.status == JobStatus.DONE or (job.status == JobStatus.RUNNING and job_owner_alive(job)):
            return None
        now = timezone.now()
        job.status, job.worker, job.heartbeat_at, job.error = JobStatus.RUNNING, worker_identity(), now, ""
        job.started_at = job.started_at or now
        job.save(update_fields=["status", "worker", "heartbeat_at", "started_at", "error"])
        return job


def _missing(job: DisplayJob, params: dict[str, tuple[dict, str]]) -> tuple[dict[int, set[str]], int]:
    """case id -> kinds still to compute (failed unfrozen rows are cleared for a retry); and how many are done."""
    stored = DisplayOutput.objects.filter(model_version=job.model_version, case__case_set=job.case_set,
                                          params_sha256__in=[d for _, d in params.values()])
    stored.filter(status=OutputStatus.FAILED, frozen=False).delete()
    have: dict[int, set[str]] = {}
    for case_id, kind in stored.values_list("case_id", "kind"):
        have.setdefault(case_id, set()).add(kind)
    wanted = set(job.kinds)
    missing = {pk: wanted - have.get(pk, set())
               for pk in Case.objects.filter(case_set=job.case_set).values_list("pk", flat=True)}
    return {pk: kinds for pk, kinds in missing.items() if kinds}, sum(not k for k in missing.values())


def display_run(job_id: int, *, on_progress: Callable[[DisplayJob], None] | None = None,
                batch_size: int | None = None) -> DisplayJob:
    """Compute every missing display of the job; idempotent, resumable, one failed case never stops the rest."""
    job = _claim(job_id)
    if job is None:
        return DisplayJob.objects.get(pk=job_id)
    batch_size = batch_size or settings.INFERENCE_BATCH_SIZE
    params = job_params(job)
    missing, done = _missing(job, params)
    job.total, job.done, job.failed = done + len(missing), done, 0
    job.save(update_fields=["total", "done", "failed"])
    if missing:
        ctx = build_context(job, batch_size=batch_size)
        cases = list(Case.objects.filter(pk__in=missing).select_related("reference").prefetch_related("images")
                     .order_by("pk"))
        if job.model_version.kind == ModelKind.SIMULATED:
            chunks = (cases[i:i + batch_size] for i in range(0, len(cases), batch_size))
        else:
            chunks = iter_case_embeddings(cases, model_version=job.model_version, batch_size=batch_size)
        started, images = time.perf_counter(), 0
        for chunk in chunks:
            rows = _rows(job, ctx, list(chunk), missing, params)
            failed_cases = {row.case_id for row in rows if row.status == OutputStatus.FAILED}
            with transaction.atomic():
                DisplayOutput.objects.bulk_create(rows, ignore_conflicts=True)
                images += sum(len((item.case if hasattr(item, "case") else item).images.all()) for item in chunk)
                job.failed += len(failed_cases)
                job.done += len(chunk) - len(failed_cases)
                job.images_per_s = images / max(time.perf_counter() - started, 1e-9)
                job.heartbeat_at = timezone.now()
                job.save(update_fields=["done", "failed", "images_per_s", "heartbeat_at"])
            if on_progress:
                on_progress(job)
            if pause := batch_pause_s():
                time.sleep(pause)
    job.status, job.finished_at = JobStatus.DONE, timezone.now()
    job.save(update_fields=["status", "finished_at"])
    return job


def display_fail(job_id: int, error: str) -> None:
    DisplayJob.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error=error[:4000], finished_at=timezone.now())


def pending_display_jobs(cutoff: dt.datetime) -> list[int]:
    """Queued jobs, and running ones whose worker died, created before `cutoff` (common.queueing requeues them)."""
    queued = list(DisplayJob.objects.filter(status=JobStatus.QUEUED, created_at__lte=cutoff)
                  .order_by("pk").values_list("pk", flat=True))
    running = DisplayJob.objects.filter(status=JobStatus.RUNNING, created_at__lte=cutoff).order_by("pk")
    return queued + [job.pk for job in running if not job_owner_alive(job)]
