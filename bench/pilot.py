"""Pilot on the zero-setup default: N readers submitting at once on SQLite, over real HTTP.

    .venv/bin/python bench/pilot.py [--readers 1,2,5,10] [--submits 20] [--server runserver,gunicorn]

For each server command line (``runserver``: as ``make demo``, one process with a thread per request;
``gunicorn``: as ``make serve``, 3 worker processes) and each N: a fresh SQLite file in a temp folder,
``migrate`` and ``seed_demo`` (default settings: no DATABASE_URL other than the file's path, no
broker, no shared cache), the server started as a real process, then N readers in N threads, released
together, each logging in and doing ``--submits`` rounds of case page + submit on the sequential demo
study as fast as it can (a closed loop: far more concurrent writes than clinicians make). Prints per
N the submits, failed submits (any answer other than the redirect to the next case: 503 "database is
locked", 500, 409) and failed case pages, and the submit latency. Exits 1 when anything failed.
Measured figures are in the README (Benchmarks).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import requests  # noqa: E402
from _harness import (  # noqa: E402
    BIN,
    PYTHON,
    Reader,
    Samples,
    free_port,
    log,
    manage,
    percentile,
    seed,
    served,
    study_slug,
    temp_dir,
)

CASES = 10
SEED = 2026
SERVERS = ("runserver", "gunicorn")


def default_env(folder: Path) -> dict[str, str]:
    """The zero-setup settings: only the SQLite file and media folder point into `folder`."""
    drop = ("CELERY_", "DEBUG", "DATABASE_URL", "CACHE_URL", "DB_", "PRODUCTION", "DEMO", "SECURE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(
        DATABASE_URL=f"sqlite:///{folder / 'db.sqlite3'}", MEDIA_ROOT=str(folder / "media"),
        DJANGO_SETTINGS_MODULE="readerstudy.settings", ALLOWED_HOSTS="127.0.0.1,localhost",
        AXES_ENABLED="0",  # every reader logs in from 127.0.0.1
        LOG_LEVEL="WARNING",
    )
    return env


@contextmanager
def server(kind: str, env: dict[str, str], port: int, log_path: Path) -> Iterator[str]:
    """`make demo`'s runserver or `make serve`'s gunicorn, on loopback."""
    if kind == "runserver":
        command = [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"]
    else:
        command = [str(BIN / "gunicorn"), "readerstudy.wsgi:application", "--bind", f"127.0.0.1:{port}",
                   "--workers", "3",
                   # gunicorn's 30 s default also bounds a worker's boot (Django + torch imports), which a
                   # busy 2-core machine can exceed
                   "--timeout", "120"]
    with served(command, env, port, log_path, name=kind, ready_s=180, poll_s=0.2, stop_s=20) as base:
        yield base


@dataclass(frozen=True)
class PilotResult:
    server: str
    readers: int
    submits: int
    failed_submits: int
    failed_pages: int
    errors: dict[str, int]
    p50_ms: float
    p95_ms: float
    readings_stored: int

    def line(self) -> str:
        detail = ", ".join(f"{k}: {v}" for k, v in sorted(self.errors.items())) or "-"
        return (f"{self.server:<10}{self.readers:>4}{self.submits:>9}{self.failed_submits:>8}{self.failed_pages:>8}"
                f"{self.readings_stored:>9}{self.p50_ms:>9.0f}{self.p95_ms:>9.0f}   {detail}")


HEADER = f"{'server':<10}{'N':>4}{'submits':>9}{'failed':>8}{'pages!':>8}{'stored':>9}{'p50 ms':>9}{'p95 ms':>9}   errors"

COUNT_SCRIPT = "from readerstudy.models import Reading; print(Reading.objects.count())"


def pilot(*, readers: int, submits: int, server_kind: str = "gunicorn", keep: bool = False) -> PilotResult:
    """One run: fresh SQLite file, seeded demo, a real server, `readers` readers x `submits` submits."""
    folder = temp_dir("readerstudy-pilot-")
    env = default_env(folder)
    try:
        seed(env, CASES, readers, SEED)
        slug = study_slug("demo-sequential", CASES, SEED)
        samples = Samples()
        with server(server_kind, env, free_port(), folder / "server.log") as base:
            clients = [Reader(base, f"reader{i}", slug, samples, rng_seed=i) for i in range(1, readers + 1)]
            barrier = threading.Barrier(readers)

            def loop(reader: Reader) -> None:
                try:
                    reader.login()
                    barrier.wait(timeout=60)
                    for _ in range(submits):
                        page = reader.case_page()
                        if page.status_code not in (200, 302):
                            samples.error(f"case page {page.status_code}")
                            continue
                        if not reader.answer(page):
                            break
                except (requests.RequestException, RuntimeError, threading.BrokenBarrierError) as exc:
                    samples.error(f"{type(exc).__name__}: {exc}"[:120])

            # The demo seeds some readings of its own (the two-site study): count only the pilot's.
            before = int(manage(env, "shell", "-c", COUNT_SCRIPT).strip().splitlines()[-1])
            threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in clients]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=600)
        stored = int(manage(env, "shell", "-c", COUNT_SCRIPT).strip().splitlines()[-1]) - before
        times = samples.by_kind.get("submit", [])
        failed_submits = sum(v for k, v in samples.errors.items() if k.startswith("submit"))
        return PilotResult(
            server=server_kind, readers=readers, submits=len(times), failed_submits=failed_submits,
            failed_pages=sum(v for k, v in samples.errors.items() if not k.startswith("submit")),
            errors=dict(samples.errors), p50_ms=1000 * percentile(times, 50), p95_ms=1000 * percentile(times, 95),
            readings_stored=stored,
        )
    finally:
        if keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readers", default="1,2,5,10", help="comma-separated reader counts")
    parser.add_argument("--submits", type=int, default=20, help="case page + submit rounds per reader")
    parser.add_argument("--server", default=",".join(SERVERS), help="runserver, gunicorn or both")
    parser.add_argument("--keep", action="store_true", help="keep each run's folder (SQLite file, server log)")
    args = parser.parse_args(argv)
    results = []
    for kind in [s.strip() for s in args.server.split(",") if s.strip()]:
        if kind not in SERVERS:
            parser.error(f"--server: {kind!r} is not one of {', '.join(SERVERS)}")
        for n in [int(x) for x in args.readers.split(",")]:
            result = pilot(readers=n, submits=args.submits, server_kind=kind, keep=args.keep)
            log(result.line())
            results.append(result)
    print("\n" + HEADER)
    for result in results:
        print(result.line())
    return 1 if any(r.failed_submits or r.failed_pages for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
