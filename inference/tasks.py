"""Celery tasks on the `inference` queue (see CELERY_TASK_ROUTES): take ids, idempotent, safe to retry."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model
from django.db import InterfaceError, OperationalError, close_old_connections

from catalog.models import CaseSet

from .models import JobStatus, ModelVersion
from .precompute import precompute_fail, precompute_run
from .services import model_evaluate

logger = logging.getLogger(__name__)
TRANSIENT = (OperationalError, InterfaceError, ConnectionError, TimeoutError)
MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, max_retries=MAX_RETRIES)
def precompute_job(self, job_id: int) -> dict[str, int | str]:
    """Precompute a job's outputs. Reruns and duplicate deliveries only fill in what is missing."""
    try:
        job = precompute_run(job_id)
    except TRANSIENT as exc:
        close_old_connections()
        if self.request.retries >= self.max_retries:
            precompute_fail(job_id, f"gave up after {self.max_retries} retries: {exc}")
            raise
        raise self.retry(exc=exc, countdown=min(60, 2 ** self.request.retries)) from exc
    except Exception as exc:
        # Permanent: a refused checkpoint, a broken config. Retrying would fail the same way.
        logger.exception("precompute job %s failed", job_id)
        precompute_fail(job_id, f"{exc.__class__.__name__}: {exc}")
        return {"job": job_id, "status": JobStatus.FAILED}
    return {"job": job_id, "status": job.status, "done": job.done, "failed": job.failed, "total": job.total}


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluate_model_task(model_version_id: int, case_set_id: int, actor_id: int | None = None) -> int:
    """Standalone evaluation of a model on a case set (same caches as precompute); returns the evaluation id."""
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    evaluation = model_evaluate(model_version=ModelVersion.objects.get(pk=model_version_id),
                                case_set=CaseSet.objects.get(pk=case_set_id), actor=actor)
    return evaluation.pk
