"""Publishing background work so that a broker outage never fails a request, and nothing is lost.

The database row is the record of queued work (an ``AnalysisRun`` in ``pending``, a ``PrecomputeJob``
in ``queued``); the broker message is only the wake-up call. Publishing is bounded (short connection
timeout, one quick retry) and never raises: when the broker is down the request still succeeds and
the row stays pending. :func:`requeue_pending` sends such rows again once the broker is back; it runs
from ``manage.py requeue_pending`` (cron or by hand), from Celery beat every minute
(``CELERY_BEAT_SCHEDULE``), and when a worker starts (then whatever its age). Every task is idempotent (a finished run or
case is skipped), so a second message for the same row is harmless.

Services queue work with :func:`task_enqueue_on_commit` (or :func:`task_enqueue` outside a
transaction) instead of ``task.delay``, naming the task by its registered name, so that a service
never imports its tasks module (tasks import services, not the other way round).

Each app registers its kind of pending work in ``AppConfig.ready()`` with
:func:`register_pending_work` (task name + a finder of the row ids still waiting); this module knows
no app's models. One worker-start hook (:func:`requeue_on_worker_start`, in ``common.tasks``) resends
all of it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

# Rows younger than this are probably still in the broker waiting for a worker: leave them alone.
DEFAULT_MIN_AGE = dt.timedelta(seconds=60)
# A worker that starts resends every pending row, however young: work queued while the broker was
# down, seconds before it came back, would otherwise wait for beat (not always running) or the next
# worker start. A row whose message did arrive gets a second one, which its idempotent task skips.
WORKER_START_MIN_AGE = dt.timedelta(0)


def _task_name(task: Any) -> str:
    return task if isinstance(task, str) else task.name


def task_enqueue(task: Any, *args: Any, **options: Any) -> bool:
    """Publish `task` (a task object or its registered name) with `args`; False if the broker refused.

    Bounded: the broker connection timeout and CELERY_TASK_PUBLISH_RETRY_POLICY cap how long a
    request can wait for a broker that is down. In eager mode the task runs here and its errors
    propagate as usual (tests and the zero-setup demo).
    """
    name = _task_name(task)
    # The project's app, not celery.current_app: that is thread-local, and a request thread (e.g. a
    # live server's) would get Celery's default app with its own broker and eager settings.
    from common.celery import app

    if app.conf.task_always_eager:
        task_obj = app.tasks[name] if isinstance(task, str) else task
        task_obj.apply_async(args=args, **options)
        return True
    try:
        app.send_task(
            name, args=args, retry=True, retry_policy=settings.CELERY_TASK_PUBLISH_RETRY_POLICY,
            **options,
        )
    except Exception as exc:  # noqa: BLE001 - any broker/transport error: the row stays pending
        logger.warning("could not publish %s%r (broker unavailable?): %s; requeue_pending will resend it",
                       name, args, exc)
        return False
    return True


def task_enqueue_on_commit(task: Any, *args: Any, **options: Any) -> None:
    """Publish after the surrounding transaction commits (the row exists when the worker looks)."""
    transaction.on_commit(lambda: task_enqueue(task, *args, **options))


@dataclass
class RequeueReport:
    sent: dict[str, list[int]] = field(default_factory=dict)
    failed: dict[str, list[int]] = field(default_factory=dict)

    @property
    def n_sent(self) -> int:
        return sum(len(ids) for ids in self.sent.values())

    @property
    def n_failed(self) -> int:
        return sum(len(ids) for ids in self.failed.values())


PendingFinder = Callable[[dt.datetime], Iterable[int]]
# task name -> finder of the ids of rows (older than the cutoff) still waiting for a worker
_PENDING_WORK: dict[str, PendingFinder] = {}


def register_pending_work(task_name: str, finder: PendingFinder) -> None:
    """Declare a kind of queued work (call from the owning app's ``AppConfig.ready()``)."""
    _PENDING_WORK[task_name] = finder


def pending_work() -> dict[str, PendingFinder]:
    return dict(_PENDING_WORK)


def requeue_pending(*, min_age: dt.timedelta = DEFAULT_MIN_AGE, now: dt.datetime | None = None) -> RequeueReport:
    """Publish again every row of queued work older than `min_age`; stops at the first broker failure."""
    cutoff = (now or timezone.now()) - min_age
    report = RequeueReport()
    broker_down = False
    for task_name, finder in _PENDING_WORK.items():
        for pk in finder(cutoff):
            if not broker_down and task_enqueue(task_name, pk):
                report.sent.setdefault(task_name, []).append(pk)
            else:
                broker_down = True  # don't spend a timeout per row on a broker that is down
                report.failed.setdefault(task_name, []).append(pk)
    if report.n_sent or report.n_failed:
        logger.info("requeue_pending: sent %s, not sent %s", report.sent, report.failed)
    return report


def requeue_on_worker_start() -> None:
    """A worker that starts (after an outage, a deploy, a kill) resends all pending work at once,
    whatever its age: work queued while the broker was down, and jobs whose worker died (their
    finders report them). Duplicates are harmless: every task is idempotent."""
    from django.db import connections

    try:
        report = requeue_pending(min_age=WORKER_START_MIN_AGE)
        if report.n_sent:
            logger.info("worker start: re-enqueued pending work %s", report.sent)
    except Exception:  # noqa: BLE001 - never stop a worker from starting
        logger.exception("requeue_pending on worker start failed")
    finally:
        connections.close_all()
