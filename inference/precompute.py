"""Running a model over cases: embedding caches, batched inference, outputs and job progress.

Django-aware glue around `inference.core`; the Celery task, the management commands and the
benchmark all go through `precompute_run`.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from catalog.models import Case, Taxonomy

from .core.factory import LoadedModel, load_model
from .core.images import ImageItem, default_decode_workers, iter_decoded_batches
from .core.predict import Prediction, predict_from_embeddings
from .core.registry import DEFAULT_FUSION_WEIGHTS, DEFAULT_TEMPLATES, templates_sha256
from .core.simulated import SimulatedAssistant
from .core.zeroshot import ClassNames, class_embeddings
from .models import (
    ImageEmbedding,
    JobStatus,
    ModelKind,
    ModelOutput,
    ModelVersion,
    OutputStatus,
    PrecomputeJob,
    TextEmbedding,
)

logger = logging.getLogger(__name__)

# One model per worker process, keyed by version, weights and device: loaded on first use, then reused.
_MODELS: dict[tuple[int, str, str], LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


def loaded_model(model_version: ModelVersion) -> LoadedModel:
    key = (model_version.pk, model_version.weights_sha256, settings.INFERENCE_DEVICE)
    with _MODELS_LOCK:
        if key not in _MODELS:
            started = time.perf_counter()
            _MODELS[key] = load_model(
                model_version.checkpoint_path,
                expected_sha256=model_version.weights_sha256,
                device=settings.INFERENCE_DEVICE,
            )
            logger.info("loaded model %s in %.1f s on %s", model_version.name, time.perf_counter() - started,
                        _MODELS[key].device)
        return _MODELS[key]


def clear_model_cache() -> None:
    with _MODELS_LOCK:
        _MODELS.clear()


def batch_pause_s() -> float:
    """Optional pause after each batch (INFERENCE_BATCH_PAUSE_S): lets a shared GPU breathe, and lets the
    worker integration test interrupt a run mid-way."""
    return float(getattr(settings, "INFERENCE_BATCH_PAUSE_S", 0) or os.environ.get("INFERENCE_BATCH_PAUSE_S") or 0)


def decode_workers() -> int:
    return int(getattr(settings, "INFERENCE_DECODE_WORKERS", 0) or default_decode_workers())


# --- text side: class embeddings cached per (model version, taxonomy, templates) --------------------


def taxonomy_classes(taxonomy: Taxonomy) -> list[ClassNames]:
    conditions = taxonomy.conditions.order_by("order", "code").only("code", "name", "synonyms", "taxonomy")
    return [ClassNames(c.code, (c.name, *[str(s) for s in c.synonyms or []])) for c in conditions]


def class_embeddings_for(model_version: ModelVersion, taxonomy: Taxonomy) -> tuple[list[str], np.ndarray]:
    """Codes in taxonomy order and their [C, D] prompt-ensemble embeddings; computed once, then read."""
    templates = tuple(model_version.prompt_templates or DEFAULT_TEMPLATES)
    digest = templates_sha256(templates)
    classes = taxonomy_classes(taxonomy)
    codes = [c.code for c in classes]
    cached = TextEmbedding.objects.filter(model_version=model_version, taxonomy=taxonomy, templates_sha256=digest).first()
    if cached is not None and cached.codes == codes:
        return codes, np.frombuffer(bytes(cached.vectors), dtype=np.float32).reshape(len(codes), cached.dim)
    vectors = class_embeddings(loaded_model(model_version).encode_texts, classes, templates).numpy().astype(np.float32)
    try:
        with transaction.atomic():
            TextEmbedding.objects.update_or_create(
                model_version=model_version, taxonomy=taxonomy, templates_sha256=digest,
                defaults={"codes": codes, "vectors": vectors.tobytes(), "dim": vectors.shape[1]},
            )
    except IntegrityError:  # another worker stored the same vectors first
        pass
    return codes, vectors


# --- image side: embeddings cached per (model version, image sha256) ---------------------------------


@dataclass(frozen=True)
class CaseEmbeddings:
    case: Case
    by_role: dict[str, list[np.ndarray]] = field(default_factory=dict)
    error: str = ""
    n_images: int = 0


def _cached_embeddings(model_version: ModelVersion, shas: Iterable[str]) -> dict[str, np.ndarray]:
    found: dict[str, np.ndarray] = {}
    shas = list(set(shas))
    for start in range(0, len(shas), 500):
        rows = ImageEmbedding.objects.filter(model_version=model_version, image_sha256__in=shas[start : start + 500])
        for sha, vector in rows.values_list("image_sha256", "vector"):
            found[sha] = np.frombuffer(bytes(vector), dtype=np.float32)
    return found


def _case_ready(case: Case, known: dict[str, np.ndarray], errors: dict[str, str]) -> CaseEmbeddings | None:
    images = list(case.images.all())
    if not images:
        return CaseEmbeddings(case=case, error="the case has no images")
    if any(img.sha256 not in known and img.sha256 not in errors for img in images):
        return None
    failed = [errors[img.sha256] for img in images if img.sha256 in errors]
    if failed:
        return CaseEmbeddings(case=case, error="; ".join(failed), n_images=len(images))
    by_role: dict[str, list[np.ndarray]] = {}
    for img in images:
        by_role.setdefault(img.role, []).append(known[img.sha256])
    return CaseEmbeddings(case=case, by_role=by_role, n_images=len(images))


def iter_case_embeddings(
    cases: Sequence[Case], *, model_version: ModelVersion, batch_size: int, workers: int | None = None
) -> Iterator[list[CaseEmbeddings]]:
    """Yield cases (in order) as soon as all their images are embedded; decode runs ahead of the model.

    Each distinct image is embedded once per model version and stored, so a new taxonomy or prompt
    set never needs the images again.
    """
    known = _cached_embeddings(model_version, (img.sha256 for case in cases for img in case.images.all()))
    errors: dict[str, str] = {}
    todo: dict[str, ImageItem] = {}
    for case in cases:
        for img in case.images.all():
            if img.sha256 not in known:
                todo.setdefault(img.sha256, ImageItem(img.sha256, settings.MEDIA_ROOT / img.file))
    waiting = deque(cases)

    def release() -> list[CaseEmbeddings]:
        ready = []
        while waiting and (item := _case_ready(waiting[0], known, errors)) is not None:
            ready.append(item)
            waiting.popleft()
        return ready

    if first := release():
        yield first
    if not todo:
        return
    model = loaded_model(model_version)
    batches = iter_decoded_batches(todo.values(), pil_transform=model.pil_transform, image_size=model.image_size,
                                   batch_size=batch_size, workers=workers or decode_workers())
    for batch in batches:
        errors.update(batch.errors)
        if batch.pixels is not None:
            vectors = model.encode_uint8(batch.pixels).numpy().astype(np.float32)
            ImageEmbedding.objects.bulk_create(
                [ImageEmbedding(model_version=model_version, image_sha256=item.key, vector=vec.tobytes(),
                                dim=vec.shape[0]) for item, vec in zip(batch.items, vectors, strict=True)],
                ignore_conflicts=True,
            )
            known.update({item.key: vec for item, vec in zip(batch.items, vectors, strict=True)})
        if ready := release():
            yield ready


# --- predictions ----------------------------------------------------------------------------------


def simulated_assistant(model_version: ModelVersion) -> SimulatedAssistant:
    config = model_version.config or {}
    return SimulatedAssistant(
        accuracy=float(config.get("accuracy", 0.7)),
        faulty_rate=float(config.get("faulty_rate", 0.0)),
        seed=int(config.get("seed", 0)),
    )


@dataclass(frozen=True)
class CaseResult:
    case: Case
    prediction: Prediction | None
    error: str = ""
    n_images: int = 0


def iter_case_results(
    cases: Sequence[Case], *, model_version: ModelVersion, taxonomy: Taxonomy, batch_size: int | None = None,
    temperature: float | None = None,
) -> Iterator[list[CaseResult]]:
    """Predictions for cases, in chunks as they finish; a failed case carries its error instead."""
    temperature = model_version.temperature if temperature is None else temperature
    if model_version.kind == ModelKind.SIMULATED:
        yield from _iter_simulated(cases, model_version, taxonomy, batch_size or settings.INFERENCE_BATCH_SIZE)
        return
    codes, vectors = class_embeddings_for(model_version, taxonomy)
    logit_scale = loaded_model(model_version).logit_scale
    weights = model_version.fusion_weights or DEFAULT_FUSION_WEIGHTS
    for chunk in iter_case_embeddings(cases, model_version=model_version,
                                      batch_size=batch_size or settings.INFERENCE_BATCH_SIZE):
        results = []
        for item in chunk:
            if item.error:
                results.append(CaseResult(item.case, None, item.error, item.n_images))
                continue
            prediction = predict_from_embeddings(item.by_role, class_embeddings=vectors, codes=codes,
                                                 logit_scale=logit_scale, fusion_weights=weights,
                                                 temperature=temperature)
            results.append(CaseResult(item.case, prediction, "", item.n_images))
        yield results


def _iter_simulated(cases: Sequence[Case], model_version: ModelVersion, taxonomy: Taxonomy, chunk: int):
    assistant = simulated_assistant(model_version)
    conditions = list(taxonomy.conditions.order_by("order", "code").only("code", "group"))
    codes = [c.code for c in conditions]
    groups = {c.code: c.group for c in conditions}
    for start in range(0, len(cases), chunk):
        yield [
            CaseResult(case, assistant.predict(case.key, case.reference.code, codes, groups),
                       n_images=len(case.images.all()))
            for case in cases[start : start + chunk]
        ]


def _output_for(model_version: ModelVersion, taxonomy: Taxonomy, result: CaseResult) -> ModelOutput:
    if result.prediction is None:
        return ModelOutput(model_version=model_version, case=result.case, taxonomy=taxonomy,
                           status=OutputStatus.FAILED, error=result.error[:2000])
    prediction = result.prediction
    details = {**prediction.details, "temperature": prediction.temperature,
               "calibrated": model_version.calibrated, "kind": model_version.kind}
    if prediction.logits:
        details["logits"] = [round(x, 5) for x in prediction.logits]
    return ModelOutput(model_version=model_version, case=result.case, taxonomy=taxonomy, status=OutputStatus.DONE,
                       probabilities=prediction.as_mapping(), top_codes=list(prediction.top_codes), details=details)


# --- jobs -----------------------------------------------------------------------------------------


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def stale_after() -> timedelta:
    return timedelta(seconds=int(getattr(settings, "INFERENCE_STALE_AFTER_S", 600)))


def job_owner_alive(job: PrecomputeJob) -> bool:
    """Whether another live process is running the job (by pid on this host, by heartbeat elsewhere)."""
    if not job.worker or job.heartbeat_at is None or timezone.now() - job.heartbeat_at > stale_after():
        return False
    host, _, pid = job.worker.rpartition(":")
    if host != socket.gethostname():
        return True
    if int(pid) == os.getpid():
        return False  # a retry or rerun in this same process
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _claim(job_id: int) -> PrecomputeJob | None:
    with transaction.atomic():
        job = PrecomputeJob.objects.select_for_update(of=("self",)).select_related("model_version", "case_set__taxonomy").get(pk=job_id)
        if job.status == JobStatus.DONE or (job.status == JobStatus.RUNNING and job_owner_alive(job)):
            return None
        now = timezone.now()
        job.status = JobStatus.RUNNING
        job.worker = worker_identity()
        job.heartbeat_at = now
        job.started_at = job.started_at or now
        job.error = ""
        job.save(update_fields=["status", "worker", "heartbeat_at", "started_at", "error"])
        return job


def pending_cases(job: PrecomputeJob) -> list[Case]:
    """Cases of the job's set without a finished output; failed (unfrozen) outputs are cleared for a retry."""
    outputs = ModelOutput.objects.filter(model_version=job.model_version, case__case_set=job.case_set)
    outputs.filter(status=OutputStatus.FAILED, frozen=False).delete()
    finished = set(outputs.values_list("case_id", flat=True))
    cases = (Case.objects.filter(case_set=job.case_set).exclude(pk__in=finished)
             .select_related("reference").prefetch_related("images").order_by("pk"))
    return list(cases)


def _refresh_counts(job: PrecomputeJob) -> None:
    counts = ModelOutput.objects.filter(model_version=job.model_version, case__case_set=job.case_set).aggregate(
        done=Count("pk", filter=Q(status=OutputStatus.DONE)), failed=Count("pk", filter=Q(status=OutputStatus.FAILED))
    )
    job.done, job.failed = counts["done"], counts["failed"]


ProgressCallback = Callable[[PrecomputeJob], None]


def precompute_run(job_id: int, *, on_progress: ProgressCallback | None = None, batch_size: int | None = None) -> PrecomputeJob:
    """Compute every missing output of the job; idempotent, resumable, one failed case never stops the rest."""
    job = _claim(job_id)
    if job is None:
        return PrecomputeJob.objects.get(pk=job_id)
    cases = pending_cases(job)
    job.total = Case.objects.filter(case_set=job.case_set).count()
    _refresh_counts(job)
    job.save(update_fields=["total", "done", "failed"])
    if on_progress:
        on_progress(job)
    started, images = time.perf_counter(), 0
    model_version, taxonomy = job.model_version, job.case_set.taxonomy
    for chunk in iter_case_results(cases, model_version=model_version, taxonomy=taxonomy, batch_size=batch_size):
        with transaction.atomic():  # one commit per batch
            ModelOutput.objects.bulk_create([_output_for(model_version, taxonomy, r) for r in chunk],
                                            ignore_conflicts=True)
            images += sum(r.n_images for r in chunk)
            _refresh_counts(job)
            job.images_per_s = images / max(time.perf_counter() - started, 1e-9)
            job.heartbeat_at = timezone.now()
            job.save(update_fields=["done", "failed", "images_per_s", "heartbeat_at"])
        if on_progress:
            on_progress(job)
        if pause := batch_pause_s():
            time.sleep(pause)
    job.status = JobStatus.DONE
    job.finished_at = timezone.now()
    job.save(update_fields=["status", "finished_at"])
    return job


def precompute_fail(job_id: int, error: str) -> None:
    PrecomputeJob.objects.filter(pk=job_id).update(status=JobStatus.FAILED, error=error[:4000], finished_at=timezone.now())


def pending_precompute_jobs(cutoff: dt.datetime) -> list[int]:
    """Queued jobs, and running jobs whose worker died (no live owner), created before `cutoff`
    (registered with common.queueing: requeued by beat, the command and every worker start)."""
    queued = list(PrecomputeJob.objects.filter(status=JobStatus.QUEUED, created_at__lte=cutoff)
                  .order_by("pk").values_list("pk", flat=True))
    running = PrecomputeJob.objects.filter(status=JobStatus.RUNNING, created_at__lte=cutoff).order_by("pk")
    return queued + [job.pk for job in running if not job_owner_alive(job)]
