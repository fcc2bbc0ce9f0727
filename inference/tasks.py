"""Celery tasks on the `inference` queue (see CELERY_TASK_ROUTES): take ids, idempotent, safe to retry."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, close_old_connections

from catalog.models import CaseSet

from .concept_models import concept_model_train
from .core.sae import SAEConfig
from .displays import display_fail, display_run
from .models import JobStatus, ModelVersion
from .precompute import precompute_fail, precompute_run
from .services import model_evaluate

logger = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
MAX_RETRIES = 5


def _run_job(task, job_id: int, run, fail, what: str) -> dict[str, int | str]:
    """Run a job row with `run`; transient database or broker errors retry with backoff, anything
    else fails the row at once (a refused checkpoint, a broken config: retrying fails the same way).
    Reruns and duplicate deliveries only fill in what is missing."""
    try:
        job = run(job_id)
    except TRANSIENT as exc:
        close_old_connections()
        if task.request.retries >= task.max_retries:
            fail(job_id, f"gave up after {task.max_retries} retries: {exc}")
            raise
        raise task.retry(exc=exc, countdown=min(60, 2 ** task.request.retries)) from exc
    except Exception as exc:
        logger.exception("%s job %s failed", what, job_id)
        fail(job_id, f"{exc.__class__.__name__}: {exc}")
        return {"job": job_id, "status": JobStatus.FAILED}
    return {"job": job_id, "status": job.status, "done": job.done, "failed": job.failed, "total": job.total}


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def precompute_job(self, job_id: int) -> dict[str, int | str]:
    """Precompute a job's model outputs."""
    return _run_job(self, job_id, precompute_run, precompute_fail, "precompute")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluate_model_task(model_version_id: int, case_set_id: int, actor_id: int | None = None) -> int:
    """Standalone evaluation of a model on a case set (same caches as precompute); returns the evaluation id."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    evaluation = model_evaluate(model_version=ModelVersion.objects.get(pk=model_version_id),
                                case_set=CaseSet.objects.get(pk=case_set_id), actor=actor)
    return evaluation.pk


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def display_job(self, job_id: int) -> dict[str, int | str]:
    """Precompute a display job's outputs."""
    return _run_job(self, job_id, display_run, display_fail, "display")


@shared_task(acks_late=True, reject_on_worker_lost=True)
def train_concepts_task(model_version_id: int, case_set_ids: list[int], config: dict, name: str | None = None,
                        actor_id: int | None = None) -> int:
    """Train a concept model on the inference queue (GPU when the worker has one); returns its id."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    row = concept_model_train(model_version=ModelVersion.objects.get(pk=model_version_id),
                              case_sets=list(CaseSet.objects.filter(pk__in=case_set_ids).order_by("pk")),
                              config=SAEConfig(**config), name=name, actor=actor)
    return row.pk
