"""Celery wiring of the queueing module: the beat task and the one worker-start hook."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_ready

from common.queueing import requeue_on_worker_start, requeue_pending


@shared_task(name="common.requeue_pending", ignore_result=True)
def requeue_pending_task() -> int:
    """Celery beat entry point (see CELERY_BEAT_SCHEDULE)."""
    return requeue_pending().n_sent


@worker_ready.connect
def _requeue_on_worker_start(sender=None, **kwargs) -> None:
    requeue_on_worker_start()
