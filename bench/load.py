"""Load test: N simulated readers read and submit concurrently on gunicorn + PostgreSQL; nothing lost or doubled.

    .venv/bin/python bench/load.py [--readers 200] [--seconds 60] [--cases 40] [--workers 4 --threads 2]

Creates a throwaway database (readerstudy_load_<pid>) on DATABASE_URL's PostgreSQL server (default
postgres://postgres@127.0.0.1:5432), migrates and seeds it (seed_demo), starts gunicorn with the
production command line, and lets every reader loop "case page, submit" for a fixed time; 5 % of
submits are sent twice (a double click). Afterwards every acknowledged submission (HTTP 302) must be
in the database exactly once under its idempotency key, and no reader may have a reading the
client never sent. Prints p50/p95/p99 latency and throughput; exits 1 on any loss, duplicate or
server error, 0 otherwise. The database is dropped at the end (--keep-db keeps it).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _harness import (  # noqa: E402
    Reader,
    Samples,
    app_env,
    free_port,
    gunicorn,
    log,
    login_all,
    run_readers,
    seed,
    study_slug,
    summary,
    temp_dir,
    throwaway_database,
)

STUDIES = ("demo-sequential", "demo-blocks", "demo-parallel", "demo-benchmark")


def verify(env: dict[str, str], readers: list[Reader]) -> list[str]:
    """Compare the client-side log of acknowledged submits with the readings table."""
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "MEDIA_ROOT", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()
    from readerstudy.models import Reading

    sent = {key: (reader.username, item) for reader in readers for item, key in reader.acknowledged}
    usernames = [reader.username for reader in readers]
    rows = list(Reading.objects.filter(schedule_item__membership__user__username__in=usernames)
                .values_list("idempotency_key", "schedule_item_id", "schedule_item__membership__user__username"))
    stored = {str(key): (user, item) for key, item, user in rows}
    problems = []
    lost = [key for key in sent if key not in stored]
    wrong = [key for key, where in sent.items() if key in stored and stored[key] != where]
    per_item: dict[int, int] = {}
    for _, item, _ in rows:
        per_item[item] = per_item.get(item, 0) + 1
    duplicated = {item: n for item, n in per_item.items() if n > 1}
    unsent = [key for key in stored if key not in sent]
    if lost:
        problems.append(f"{len(lost)} acknowledged submission(s) missing from the database, e.g. {lost[:3]}")
    if wrong:
        problems.append(f"{len(wrong)} submission(s) stored on the wrong reader or item, e.g. {wrong[:3]}")
    if duplicated:
        problems.append(f"{len(duplicated)} schedule item(s) with more than one reading: {list(duplicated)[:5]}")
    log(f"verified: {len(sent)} acknowledged, {len(rows)} stored, {len(lost)} lost, {len(duplicated)} duplicated, "
        f"{len(unsent)} stored without an acknowledgement (client gave up; the server kept it once)")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--replay-rate", type=float, default=0.05)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()

    work = temp_dir("bench-load-")
    name = f"readerstudy_load_{os.getpid()}"
    problems: list[str] = []
    with throwaway_database(name, keep=args.keep_db) as database_url:
        env = app_env(database_url, work / "media")
        seed(env, args.cases, args.readers, args.seed)
        with gunicorn(env, free_port(), args.workers, args.threads, work / "gunicorn.log") as base:
            samples = Samples()
            readers = [
                Reader(base, f"reader{i}", study_slug(STUDIES[i % len(STUDIES)], args.cases, args.seed), samples, i)
                for i in range(1, args.readers + 1)
            ]
            login_all(readers)
            log(f"{len(readers)} readers logged in; reading and submitting for {args.seconds:.0f} s")
            wall = run_readers(readers, args.seconds, replay_rate=args.replay_rate)
        for line in summary(samples, wall):
            print(line)
        n_requests = sum(len(v) for v in samples.by_kind.values())
        n_ack = sum(len(r.acknowledged) for r in readers)
        print(f"throughput: {n_requests / wall:.1f} requests/s, {n_ack / wall:.1f} acknowledged submits/s "
              f"over {wall:.1f} s with {len(readers)} readers ({sum(r.done for r in readers)} finished)")
        if samples.errors:
            print(f"errors: {samples.errors}")
            server_errors = {k: v for k, v in samples.errors.items() if k.split()[-1].startswith("5")
                             or not k[0].islower()}
            if server_errors:
                problems.append(f"server errors or failed connections: {server_errors}")
        problems += verify(env, readers)
        from django.db import connections

        connections.close_all()
    for problem in problems:
        print("FAIL:", problem)
    print("OK: every acknowledged reading stored exactly once" if not problems else "FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
