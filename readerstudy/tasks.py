"""Celery tasks of the study domain. Tasks take ids, are idempotent and safe to retry."""

from __future__ import annotations

from celery import shared_task

from readerstudy.services.analysis_runs import analysis_run_perform


@shared_task(acks_late=True, autoretry_for=(ConnectionError,), retry_backoff=True, max_retries=3)
def analysis_run_execute(run_id: int) -> None:
    analysis_run_perform(run_id=run_id)
