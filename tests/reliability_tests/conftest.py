"""Fixtures for fault tests: a Celery app pointed at a broker of the test's choosing."""

from __future__ import annotations

import pytest
from kombu import pools

from readerstudy.celery import app as celery_app

# Nothing listens here: publishing must fail fast, not hang.
DEAD_BROKER = "redis://127.0.0.1:6390/0"


def _drop_pools() -> None:
    """Forget pooled broker connections so the next publish connects to the configured URL."""
    pools.reset()  # kombu's registry of producer pools, keyed by connection
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def use_broker(settings, monkeypatch):
    """use_broker(url): publish for real (not eagerly) to `url` for the rest of the test."""
    saved = {key: celery_app.conf[key] for key in ("broker_url", "task_always_eager", "broker_transport_options")}

    def point_at(url: str) -> None:
        options = {"socket_connect_timeout": 1} if url.startswith("redis") else {}
        settings.CELERY_BROKER_URL, settings.CELERY_TASK_ALWAYS_EAGER = url, False
        monkeypatch.setenv("CELERY_BROKER_URL", url)  # Celery reads this variable before its own config
        celery_app.conf.update(broker_url=url, task_always_eager=False, broker_transport_options=options)
        _drop_pools()

    yield point_at
    celery_app.conf.update(saved)
    _drop_pools()
