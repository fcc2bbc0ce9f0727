"""The broker is down: reading and submitting go on, queued work is kept and resumes when it returns.

Publishing is real (not eager) and goes to a port where nothing listens. Reading pages never
touch the broker; services that queue work must record it in the database and survive a failed
publish; ``requeue_pending`` sends it once the broker is back, and a real worker then runs it.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from common.queueing import requeue_pending, task_enqueue
from readerstudy import models as m
from readerstudy.services.analysis_runs import ANALYSIS_TASK
from tests.readerstudy_tests.reader_setup import build_study, post_data
from tests.workers import start_worker, stop_worker, wait_for, worker_env

from .conftest import DEAD_BROKER

BACKEND = "django.contrib.auth.backends.ModelBackend"
# A request that has to give up on the broker must still answer well within this.
MAX_REQUEST_S = 8.0


def _timed(call):
    started = time.monotonic()
    result = call()
    return result, time.monotonic() - started


@pytest.mark.django_db
def test_reading_and_submitting_work_while_the_broker_is_down(client, use_broker):
    use_broker(DEAD_BROKER)
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2, images=True)
    client.force_login(built.user, backend=BACKEND)
    url = reverse("reader:case", args=[built.study.slug])
    for item in built.items[:3]:
        page, seconds = _timed(lambda: client.get(url))
        assert page.status_code == 200 and seconds < MAX_REQUEST_S
        submitted, seconds = _timed(lambda item=item: client.post(url, post_data(item, str(uuid.uuid4()))))
        assert submitted.status_code == 302 and seconds < MAX_REQUEST_S
    assert m.Reading.objects.filter(schedule_item__membership=built.membership).count() == 3


@pytest.mark.django_db
def test_publishing_to_a_dead_broker_fails_fast_and_keeps_the_work(use_broker):
    use_broker(DEAD_BROKER)
    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    run = m.AnalysisRun.objects.create(study=built.study, params={"outcome": "correct_top1"})
    sent, seconds = _timed(lambda: task_enqueue(ANALYSIS_TASK, run.pk))
    assert sent is False and seconds < MAX_REQUEST_S
    report, seconds = _timed(lambda: requeue_pending(min_age=dt.timedelta(0)))
    assert report.failed == {ANALYSIS_TASK: [run.pk]} and report.n_sent == 0 and seconds < MAX_REQUEST_S
    run.refresh_from_db()
    assert run.status == m.RunStatus.PENDING
    with pytest.raises(CommandError, match="still pending"):
        call_command("requeue_pending", "--min-age", "0")


@pytest.mark.django_db
def test_requeue_leaves_recent_work_to_the_message_already_sent(use_broker):
    use_broker(DEAD_BROKER)
    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    m.AnalysisRun.objects.create(study=built.study, params={})
    report = requeue_pending()  # default: only rows older than a minute
    assert report.n_sent == report.n_failed == 0


@pytest.mark.django_db
def test_starting_an_analysis_while_the_broker_is_down_still_succeeds(use_broker, django_capture_on_commit_callbacks):
    """The service must record the run and not fail the request when publishing fails.

    Fails while readerstudy.services.analysis_runs.analysis_run_start publishes with
    ``analysis_run_execute.delay`` in on_commit: the broker error escapes after the commit.
    Fix: ``queueing.task_enqueue_on_commit(analysis_run_execute, run.pk)``.
    """
    from readerstudy.services.analysis_runs import analysis_run_start

    use_broker(DEAD_BROKER)
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2)
    with django_capture_on_commit_callbacks(execute=True):
        run = analysis_run_start(study=built.study, actor=built.user, outcome="correct_top1")
    assert m.AnalysisRun.objects.filter(pk=run.pk, status=m.RunStatus.PENDING).exists()


@pytest.mark.django_db
def test_queueing_a_precompute_while_the_broker_is_down_still_succeeds(use_broker, django_capture_on_commit_callbacks):
    """Same for inference.services.precompute_start (the task is published in on_commit)."""
    from inference.models import JobStatus, PrecomputeJob
    from inference.services import precompute_start

    use_broker(DEAD_BROKER)
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2, status=m.StudyStatus.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        job = precompute_start(model_version=built.model, case_set=built.study.case_set)
    assert PrecomputeJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).exists()


# --- with a real broker and a real worker --------------------------------------------------------

def _queue_length(broker_url: str, queue: str) -> int | None:
    if not broker_url.startswith("redis"):
        return None
    import redis

    return redis.Redis.from_url(broker_url, socket_connect_timeout=2).llen(queue)


def _purge(broker_url: str, queue: str) -> None:
    if broker_url.startswith("redis"):
        import redis

        redis.Redis.from_url(broker_url, socket_connect_timeout=2).delete(queue)


@pytest.mark.services
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_queued_work_resumes_when_the_broker_returns(postgres, broker_url, use_broker, tmp_path):
    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    use_broker(DEAD_BROKER)
    run = m.AnalysisRun.objects.create(study=built.study, params={"outcome": "correct_top1", "control": "unaided",
                                                                  "treatment": "ai", "by": [], "by_case": []})
    assert task_enqueue(ANALYSIS_TASK, run.pk) is False  # the outage: the message never left

    use_broker(broker_url)  # the broker is back
    queue = "default"
    _purge(broker_url, queue)
    report = requeue_pending(min_age=dt.timedelta(0))
    assert report.sent == {ANALYSIS_TASK: [run.pk]} and report.n_failed == 0
    length = _queue_length(broker_url, queue)
    assert length in (None, 1)

    log = tmp_path / "worker.log"
    worker = start_worker(worker_env(broker_url, MEDIA_ROOT=str(tmp_path / "media")), log, queue, "requeue")
    try:
        wait_for(lambda: m.AnalysisRun.objects.exclude(status__in=[m.RunStatus.PENDING, m.RunStatus.RUNNING])
                 .filter(pk=run.pk).exists(), "the requeued analysis", worker, log)
    finally:
        stop_worker(worker)
    run.refresh_from_db()
    # The run was picked up and finished (no readings yet, so it ends as failed with that reason).
    assert run.finished_at is not None
    assert run.status == m.RunStatus.DONE or "no submitted readings" in run.error
