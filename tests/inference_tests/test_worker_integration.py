"""A real Celery worker on the real broker and PostgreSQL: killed (-9) mid-run, restarted, finishes once per case.

Run with DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://...; skipped without them
unless REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import signal

import pytest
from django.conf import settings

from inference.models import JobStatus, ModelOutput, OutputStatus, PrecomputeJob
from inference.services import model_register
from readerstudy.celery import app as celery_app
from tests.workers import start_worker, stop_worker, wait_for, worker_env

N_CASES = 24
TIMEOUT_S = 180


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_run_restarts_and_finishes_with_one_output_per_case(
    postgres, broker_url, make_case_set, tiny_model_dir, tmp_path
):
    version = model_register(path=tiny_model_dir, name="tiny-worker")
    case_set = make_case_set(N_CASES)
    job = PrecomputeJob.objects.create(model_version=version, case_set=case_set, total=N_CASES)

    env = worker_env(
        broker_url, MEDIA_ROOT=str(settings.MEDIA_ROOT), INFERENCE_DEVICE="cpu", INFERENCE_BATCH_SIZE="2",
        INFERENCE_BATCH_PAUSE_S="0.4", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1",
    )
    log = tmp_path / "worker.log"
    celery_app.send_task("inference.tasks.precompute_job", args=[job.pk], queue="inference")

    first = start_worker(env, log, "inference,default", "itest")
    try:
        done_at_kill = wait_for(lambda: PrecomputeJob.objects.get(pk=job.pk).done >= 4 and
                                 PrecomputeJob.objects.get(pk=job.pk).done, "the first batches", first, log, TIMEOUT_S)
        stop_worker(first, signal.SIGKILL)  # the crash under test
    finally:
        stop_worker(first, signal.SIGKILL)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and done_at_kill < N_CASES, "the worker finished before it was killed"
    assert job.worker.endswith(f":{first.pid}")

    second = start_worker(env, log, "inference,default", "itest")
    try:
        wait_for(lambda: PrecomputeJob.objects.get(pk=job.pk).status in (JobStatus.DONE, JobStatus.FAILED),
                  "the restarted worker to finish", second, log, TIMEOUT_S)
    finally:
        stop_worker(second)
    job.refresh_from_db()
    assert (job.status, job.done, job.failed, job.total) == (JobStatus.DONE, N_CASES, 0, N_CASES), job.error
    outputs = ModelOutput.objects.filter(model_version=version)
    assert outputs.count() == N_CASES
    assert outputs.values("case").distinct().count() == N_CASES
    assert not outputs.exclude(status=OutputStatus.DONE).exists()
    # The restarted worker's start hook (common.tasks) resent the job whose worker had died.
    assert f"worker start: re-enqueued pending work {{'inference.tasks.precompute_job': [{job.pk}]" in log.read_text()
