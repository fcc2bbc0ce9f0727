"""A worker that starts resends pending work however young it is (queued seconds before the broker came back)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from common import queueing, tasks
from readerstudy import models as m
from readerstudy.services.analysis_runs import ANALYSIS_TASK
from tests.readerstudy_tests.reader_setup import build_study

pytestmark = pytest.mark.django_db


def test_worker_start_resends_work_queued_just_before_the_broker_returned(monkeypatch):
    sent: list[tuple[str, tuple]] = []
    monkeypatch.setattr(queueing, "task_enqueue", lambda name, *args, **kw: sent.append((name, args)) or True)
    monkeypatch.setattr("django.db.connections.close_all", lambda: None)  # keep the test's connection
    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    run = m.AnalysisRun.objects.create(study=built.study, params={})
    m.AnalysisRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - dt.timedelta(seconds=5))
    done = m.AnalysisRun.objects.create(study=built.study, params={}, status=m.RunStatus.DONE)

    tasks._requeue_on_worker_start()

    assert (ANALYSIS_TASK, (run.pk,)) in sent
    assert (ANALYSIS_TASK, (done.pk,)) not in sent
    sent.clear()
    tasks.requeue_pending_task()  # beat still leaves young rows to the message already sent
    assert sent == []
