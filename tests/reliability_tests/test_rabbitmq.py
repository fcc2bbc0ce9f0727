"""The same code on RabbitMQ: a real Celery worker on an amqp:// broker runs an analysis end to end.

Needs PostgreSQL (DATABASE_URL) and RabbitMQ (AMQP_BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//);
skipped without them, failed under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import pytest
from django.utils import timezone

from readerstudy import models as m
from readerstudy.services.queueing import ANALYSIS_TASK, task_enqueue
from tests.conftest import require_service
from tests.readerstudy_tests.reader_setup import build_study

from .test_broker_down import ROOT, _database_url


@pytest.fixture
def amqp_url() -> str:
    url = os.environ.get("AMQP_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
    parsed = urlparse(url)
    try:
        socket.create_connection((parsed.hostname, parsed.port or 5672), timeout=2).close()
        up = True
    except OSError:
        up = False
    require_service("RabbitMQ", up, f"nothing listens at {parsed.hostname}:{parsed.port or 5672}")
    return url


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_on_rabbitmq_runs_an_analysis(postgres, amqp_url, use_broker, tmp_path):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=3)
    now = timezone.now()
    for i, item in enumerate(built.items):  # phase 1 wrong, phase 2 right: a clear AI benefit
        code = "MEL" if item.phase == 2 else "NEV"
        m.Reading.objects.create(schedule_item=item, idempotency_key=uuid.uuid4(), differential=[code],
                                 confidence=3, management="refer", shown_at=now,
                                 submitted_at=now + timedelta(seconds=10 + i))
    run = m.AnalysisRun.objects.create(study=built.study, params={
        "outcome": "correct_top1", "control": "unaided", "treatment": "ai", "by": [], "by_case": []})
    use_broker(amqp_url)
    assert task_enqueue(ANALYSIS_TASK, run.pk) is True

    env = {**os.environ, "DATABASE_URL": _database_url(), "CELERY_BROKER_URL": amqp_url,
           "CELERY_TASK_ALWAYS_EAGER": "0", "MEDIA_ROOT": str(tmp_path / "media")}
    log = tmp_path / "worker.log"
    with log.open("ab") as handle:
        worker = subprocess.Popen(
            [str(Path(sys.executable).with_name("celery")), "-A", "readerstudy", "worker", "-Q", "default",
             "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle",
             "-n", f"amqp-{os.getpid()}@%h"],
            cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run.refresh_from_db()
            if run.status in (m.RunStatus.DONE, m.RunStatus.FAILED):
                break
            assert worker.poll() is None, log.read_text()[-3000:]
            time.sleep(0.3)
        else:
            pytest.fail("the worker never ran the analysis:\n" + log.read_text()[-3000:])
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
    assert run.status == m.RunStatus.DONE, run.error
    level = run.results["reader_level"]
    assert (level["control"]["mean"], level["treatment"]["mean"]) == (0.0, 1.0)
