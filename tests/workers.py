"""Real Celery worker processes for integration tests: started on the test database, stopped for sure."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    """A URL for pytest-django's test_<name> PostgreSQL database, for a worker subprocess."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="")
    if db.get("PASSWORD"):
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


def worker_env(broker_url: str, **extra: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": test_database_url(), "CELERY_BROKER_URL": broker_url,
            "CELERY_TASK_ALWAYS_EAGER": "0", **extra}


def start_worker(env: dict[str, str], log: Path, queues: str, name: str) -> subprocess.Popen:
    """`celery worker` in its own process group (so stop_worker can kill its children too)."""
    celery = Path(sys.executable).with_name("celery")
    command = [str(celery), "-A", "readerstudy", "worker", "-Q", queues, "--pool", "solo", "--loglevel", "INFO",
               "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@%h"]
    with log.open("ab") as handle:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=handle, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_worker(process: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """Send `sig` to the worker's group; a worker that ignores SIGTERM for 20 s is killed."""
    if process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


def wait_for(predicate: Callable[[], Any], what: str, process: subprocess.Popen, log: Path,
             timeout: float = 120) -> Any:
    """Poll `predicate` until truthy; fail with the worker's log if it dies or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if process.poll() is not None:
            pytest.fail(f"worker exited ({process.returncode}) while waiting for {what}:\n{log.read_text()[-3000:]}")
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}:\n{log.read_text()[-3000:]}")
