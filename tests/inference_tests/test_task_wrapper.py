"""The one retry/fail wrapper of the inference jobs: transient errors retry, others fail the row at once."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.db import OperationalError

from inference.models import JobStatus
from inference.tasks import _run_job


class Retry(Exception):
    pass


def fake_task(retries: int, max_retries: int = 5):
    def retry(exc, countdown):
        return Retry(countdown)
    return SimpleNamespace(request=SimpleNamespace(retries=retries), max_retries=max_retries, retry=retry)


def test_a_permanent_error_fails_the_row_without_retrying():
    failed = []
    def boom(job_id):
        raise ValueError("checkpoint refused")
    result = _run_job(fake_task(0), 7, boom, lambda job_id, why: failed.append((job_id, why)), "display")
    assert result == {"job": 7, "status": JobStatus.FAILED}
    assert failed == [(7, "ValueError: checkpoint refused")]


def test_a_transient_error_retries_with_backoff_then_gives_up(monkeypatch):
    closed = []
    monkeypatch.setattr("inference.tasks.close_old_connections", lambda: closed.append(True))
    failed = []
    def flaky(job_id):
        raise OperationalError("server closed the connection")
    with pytest.raises(Retry) as retried:
        _run_job(fake_task(3), 7, flaky, lambda job_id, why: failed.append(why), "precompute")
    assert retried.value.args == (8,) and failed == []  # 2 ** 3 seconds, nothing failed yet
    with pytest.raises(OperationalError):
        _run_job(fake_task(5), 7, flaky, lambda job_id, why: failed.append(why), "precompute")
    assert failed == ["gave up after 5 retries: server closed the connection"]
    assert len(closed) == 2  # the broken connection is dropped before each retry decision


def test_a_finished_job_reports_its_counts():
    job = SimpleNamespace(status=JobStatus.DONE, done=3, failed=1, total=4)
    assert _run_job(fake_task(0), 9, lambda job_id: job, lambda *a: None, "display") == {
        "job": 9, "status": JobStatus.DONE, "done": 3, "failed": 1, "total": 4}
