"""A real Celery worker on the real broker and PostgreSQL: killed (-9) mid-run, restarted, finishes once per case.

Run with DATABASE_URL=postgres://... and CELERY_BROKER_URL=redis://...; skipped without them
unless REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection

from inference.models import JobStatus, ModelOutput, OutputStatus, PrecomputeJob
from inference.services import model_register
from readerstudy.celery import app as celery_app
from tests.factories import StudyFactory

ROOT = Path(__file__).resolve().parents[2]
N_CASES = 24
TIMEOUT_S = 180


def _database_url() -> str:
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "readerstudy", "worker", "-Q", "inference,default", "--pool", "solo",
               "--loglevel", "INFO", "--without-gossip", "--without-mingle", "-n", f"itest-{os.getpid()}@%h"]
    handle = open(log, "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True)


def _kill(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        process.wait(timeout=30)


def _wait_for(predicate, what: str, process: subprocess.Popen, log: Path, timeout: float = TIMEOUT_S):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"worker exited ({process.returncode}) while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_run_restarts_and_finishes_with_one_output_per_case(
    postgres, broker_url, make_case_set, tiny_model_dir, tmp_path
):
    version = model_register(path=tiny_model_dir, name="tiny-worker")
    case_set = make_case_set(N_CASES)
    study = StudyFactory(case_set=case_set, model_version=version)
    job = PrecomputeJob.objects.create(model_version=version, case_set=case_set, study=study, total=N_CASES)

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),  # pytest-django's test_<name> database
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "INFERENCE_DEVICE": "cpu",
        "INFERENCE_BATCH_SIZE": "2",
        "INFERENCE_BATCH_PAUSE_S": "0.4",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
    }
    log = tmp_path / "worker.log"
    celery_app.send_task("inference.tasks.precompute_job", args=[job.pk], queue="inference")

    first = _start_worker(env, log)
    try:
        done_at_kill = _wait_for(lambda: PrecomputeJob.objects.get(pk=job.pk).done >= 4 and
                                 PrecomputeJob.objects.get(pk=job.pk).done, "the first batches", first, log)
        _kill(first)
    finally:
        _kill(first)
    job.refresh_from_db()
    assert job.status == JobStatus.RUNNING and done_at_kill < N_CASES, "the worker finished before it was killed"
    assert job.worker.endswith(f":{first.pid}")

    second = _start_worker(env, log)
    try:
        _wait_for(lambda: PrecomputeJob.objects.get(pk=job.pk).status in (JobStatus.DONE, JobStatus.FAILED),
                  "the restarted worker to finish", second, log)
    finally:
        _kill(second, signal.SIGTERM)
    job.refresh_from_db()
    assert (job.status, job.done, job.failed, job.total) == (JobStatus.DONE, N_CASES, 0, N_CASES), job.error
    outputs = ModelOutput.objects.filter(model_version=version)
    assert outputs.count() == N_CASES
    assert outputs.values("case").distinct().count() == N_CASES
    assert not outputs.exclude(status=OutputStatus.DONE).exists()
    assert "re-enqueueing interrupted precompute job" in log.read_text()
