"""Celery tasks on the `inference` queue (see CELERY_TASK_ROUTES): take ids, idempotent, safe to retry."""

from __future__ import annotations

import logging

from celery import shared_task
from celery.signals import worker_ready
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from readerstudy.services.queueing import task_enqueue

from .models import JobStatus, PrecomputeJob
from .precompute import job_owner_alive, precompute_fail, precompute_run

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


@worker_ready.connect
def resume_interrupted_jobs(sender=None, **kwargs) -> None:
    """A worker killed mid-job leaves its message unacknowledged until the broker's visibility timeout;
    an inference worker that starts re-enqueues such jobs at once. Duplicates are harmless: a job is
    claimed by one live process, and finished cases are skipped."""
    queues = {q.name for q in getattr(getattr(sender, "task_consumer", None), "queues", [])} if sender else set()
    if queues and "inference" not in queues:
        return
    try:
        stranded = [job.pk for job in PrecomputeJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
                    if not job_owner_alive(job)]
        for job_id in stranded:
            logger.info("re-enqueueing interrupted precompute job %s", job_id)
            task_enqueue(precompute_job, job_id)
    finally:
        connections.close_all()


@shared_task(acks_late=True, reject_on_worker_lost=True)
def evaluate_model_task(model_version_id: int, case_set_id: int, actor_id: int | None = None) -> int:
    """Standalone evaluation of a model on a case set (same caches as precompute); returns the evaluation id."""
    from django.contrib.auth import get_user_model

    from readerstudy.models import CaseSet

    from .models import ModelVersion
    from .services import model_evaluate

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    evaluation = model_evaluate(model_version=ModelVersion.objects.get(pk=model_version_id),
                                case_set=CaseSet.objects.get(pk=case_set_id), actor=actor)
    return evaluation.pk
