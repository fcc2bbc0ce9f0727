"""python manage.py requeue_pending [--min-age SECONDS]

Publishes again the queued work (pending analysis runs, queued or orphaned precompute jobs) whose
message never reached a worker, e.g. because the broker was down. Safe to run at any time (tasks
are idempotent); exits 1 if the broker is still unreachable.
"""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandError

from common.queueing import DEFAULT_MIN_AGE, requeue_pending


class Command(BaseCommand):
    help = "Resend queued background work that never reached a worker (after a broker outage)."

    def add_arguments(self, parser):
        parser.add_argument("--min-age", type=float, default=DEFAULT_MIN_AGE.total_seconds(),
                            help="Only rows older than this many seconds (default 60).")

    def handle(self, *args, **opts):
        report = requeue_pending(min_age=dt.timedelta(seconds=opts["min_age"]))
        for task, ids in report.sent.items():
            self.stdout.write(f"sent {task}: {', '.join(map(str, ids))}")
        if report.n_failed:
            raise CommandError(f"broker unreachable; {report.n_failed} item(s) still pending: {report.failed}")
        self.stdout.write(self.style.SUCCESS(f"{report.n_sent} item(s) requeued."))
