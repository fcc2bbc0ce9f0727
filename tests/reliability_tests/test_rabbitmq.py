"""The same code on RabbitMQ: a real Celery worker on an amqp:// broker runs an analysis end to end.

Needs PostgreSQL (DATABASE_URL) and RabbitMQ (AMQP_BROKER_URL, default amqp://guest:guest@127.0.0.1:5672//);
skipped without them, failed under REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.utils import timezone

from common.queueing import task_enqueue
from readerstudy import models as m
from readerstudy.services.analysis_runs import ANALYSIS_TASK
from tests.conftest import require_service
from tests.readerstudy_tests.reader_setup import build_study
from tests.workers import start_worker, stop_worker, wait_for, worker_env


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

    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(amqp_url, MEDIA_ROOT=str(tmp_path / "media")), log, "default", "amqp")
    try:
        wait_for(lambda: m.AnalysisRun.objects.filter(pk=run.pk, status__in=[m.RunStatus.DONE, m.RunStatus.FAILED])
                 .exists(), "the worker to run the analysis", worker, log)
    finally:
        stop_worker(worker)
    run.refresh_from_db()
    assert run.status == m.RunStatus.DONE, run.error
    level = run.results["reader_level"]
    assert (level["control"]["mean"], level["treatment"]["mean"]) == (0.0, 1.0)
