"""Reads for the inference app: QuerySets and small read-only summaries."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from catalog.models import CaseImage

from .models import (
    DisplayJob,
    DisplayOutput,
    JobStatus,
    ModelEvaluation,
    ModelOutput,
    ModelVersion,
    OutputStatus,
    PrecomputeJob,
)


def model_version_get(*, name: str) -> ModelVersion:
    return ModelVersion.objects.get(name=name)


def model_version_list() -> QuerySet[ModelVersion]:
    return ModelVersion.objects.order_by("name")


def finished_outputs(*, model_version_id: int | None, case_set_id: int, taxonomy_id: int) -> QuerySet[ModelOutput]:
    """Finished outputs of a model version for a case set's cases, in a taxonomy."""
    if model_version_id is None:
        return ModelOutput.objects.none()
    return ModelOutput.objects.filter(
        model_version_id=model_version_id,
        case__case_set_id=case_set_id,
        taxonomy_id=taxonomy_id,
        status=OutputStatus.DONE,
    ).select_related("case", "model_version")


def finished_displays(*, model_version: ModelVersion, case_set_id: int, kind: str,
                      library_id: int | None = None) -> QuerySet[DisplayOutput]:
    """Finished displays of one kind for a case set's cases, stored under the params in force now
    (DisplayOutput.payload = {"normal": ..., "faulty": ...}); none when the kind cannot be computed."""
    from .displays import current_digest

    digest = current_digest(model_version=model_version, kind=kind, library_id=library_id)
    if digest is None:
        return DisplayOutput.objects.none()
    return DisplayOutput.objects.filter(model_version=model_version, case__case_set_id=case_set_id, kind=kind,
                                        params_sha256=digest, status=OutputStatus.DONE)


def display_job_latest(*, model_version_id: int, case_set_id: int) -> DisplayJob | None:
    return (DisplayJob.objects.filter(model_version_id=model_version_id, case_set_id=case_set_id)
            .order_by("-created_at", "-pk").first())


def precompute_job_latest(*, model_version_id: int, case_set_id: int) -> PrecomputeJob | None:
    return (PrecomputeJob.objects.filter(model_version_id=model_version_id, case_set_id=case_set_id)
            .select_related("model_version").order_by("-created_at", "-pk").first())


def evaluations_for(*, model_version: ModelVersion) -> QuerySet[ModelEvaluation]:
    return ModelEvaluation.objects.filter(model_version=model_version).select_related("case_set").order_by("-created_at")


@dataclass(frozen=True)
class JobProgress:
    status: str
    done: int
    failed: int
    total: int
    images_per_s: float | None
    eta_s: float | None
    error: str

    @property
    def finished(self) -> bool:
        return self.status in (JobStatus.DONE, JobStatus.FAILED)

    @property
    def percent(self) -> int:
        return int(100 * (self.done + self.failed) / self.total) if self.total else (100 if self.finished else 0)


def job_progress(job: PrecomputeJob) -> JobProgress:
    """Counts, throughput and an ETA from images/s and the case set's images per case."""
    remaining = max(job.total - job.done - job.failed, 0)
    eta = None
    if job.status == JobStatus.RUNNING and job.images_per_s and remaining:
        n_images = CaseImage.objects.filter(case__case_set_id=job.case_set_id).count()
        eta = remaining * (n_images / max(job.total, 1)) / job.images_per_s
    elif job.status == JobStatus.DONE:
        eta = 0.0
    return JobProgress(job.status, job.done, job.failed, job.total, job.images_per_s, eta, job.error)
