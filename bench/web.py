"""Web benchmark: the case page and submit against reference views, on gunicorn + PostgreSQL.

    .venv/bin/python bench/web.py [--cases 5000] [--readers 500] [--clients 50] [--seconds 20] [--think S]

Creates a throwaway database (readerstudy_web_<pid>), seeds it with
``seed_demo --cases N --readers M``, starts gunicorn with the production command line and
settings (sessions in Redis when one runs on 127.0.0.1:6379, as in deploy/docker-compose.yml),
serving ``bench.reference_app`` (the app plus two reference views), and runs these phases with the
same number of concurrent clients:

1. ``/healthz``: a trivial Django view (the whole middleware stack; no session, no database);
2. ``/bench/authenticated``: a logged-in reader's request that does nothing else (session + user);
3. ``/bench/membership/<study>``: that plus the reader access check every reader page starts with;
4. the case page ``GET /s/<study>/read/`` by logged-in readers;
5. readers reading and submitting (``POST /s/<study>/read/``), each pausing ``--think`` seconds
   (+-50 %, default 1) on a case before answering, as people do (far faster than clinicians read).

Phases 1-4 are closed loops (each client sends its next request at once: throughput at
saturation); phase 5 is 50 people reading. Prints requests/s and p50/p95/p99 for each and the case
page's throughput as a share of each reference. Targets: the case page at >= 50 % of the trivial
view's throughput (phase 4 vs 1), and case page p95 under 100 ms with 50 readers reading (phase 5;
``--think 0`` makes it a closed loop too). Exits 1 when a target is missed or a request fails.
Clients run on the same machine as the server, so on a small machine they take CPU from it:
compare runs on the same machine only. ``--database NAME`` keeps a seeded database between runs
(seeded on first use).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (  # noqa: E402
    Reader,
    Samples,
    app_env,
    free_port,
    gunicorn,
    hammer,
    log,
    login_all,
    percentile,
    reader_gets,
    run_readers,
    seed,
    server_url,
    study_slug,
    summary,
    temp_dir,
    throwaway_database,
    with_database,
)

STUDIES = ("demo-sequential", "demo-blocks", "demo-parallel", "demo-benchmark")
TARGET_RATIO = 0.5
TARGET_P95_S = 0.100


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=5000)
    parser.add_argument("--readers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--think", type=float, default=1.0,
                        help="Phase 5: seconds a reader looks at a case before answering (0: saturate).")
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--database", default="", help="Use (and keep) this database; seeded only when new.")
    args = parser.parse_args()
    clients = min(args.clients, args.readers)

    work = temp_dir("bench-web-")
    results: dict[str, tuple[float, float]] = {}  # phase -> (requests/s, p95 s)
    failures: list[str] = []
    with _database(args) as (database_url, fresh):
        media = Path(tempfile.gettempdir()) / f"{args.database}-media" if args.database else work / "media"
        env = app_env(database_url, media)
        if fresh:
            seed(env, args.cases, args.readers, args.seed)
        log(f"sessions: {'Redis cache ' + env['CACHE_URL'] if env.get('CACHE_URL') else 'database'}")
        with gunicorn(env, free_port(), args.workers, args.threads, work / "gunicorn.log",
                      app="bench.reference_app:application") as base:
            hammer(base, "/healthz", clients, 2, Samples(), "warm-up")
            trivial = Samples()
            wall = hammer(base, "/healthz", clients, args.seconds, trivial, "trivial view")
            _report("1. trivial view (/healthz)", trivial, wall, "trivial view", results, failures)

            readers = [Reader(base, f"reader{i}", study_slug(STUDIES[i % len(STUDIES)], args.cases, args.seed),
                              Samples(), i) for i in range(1, clients + 1)]
            login_all(readers)
            for title, kind, path_for in (
                ("2. logged in, nothing else (/bench/authenticated)", "authenticated", lambda r: "/bench/authenticated"),
                ("3. logged in + reader access check (/bench/membership/<study>)", "access check",
                 lambda r: f"/bench/membership/{r.slug}"),
            ):
                samples = Samples()
                wall = reader_gets(readers, path_for, args.seconds, samples, kind)
                _report(title, samples, wall, kind, results, failures)

            pages = Samples()
            for reader in readers:
                reader.samples = pages
            wall = run_readers(readers, args.seconds, submit=False)
            _report(f"4. case page (GET, {clients} readers, no pause)", pages, wall, "case page", results, failures)

            mixed = Samples()
            for reader in readers:
                reader.samples = mixed
            wall = run_readers(readers, args.seconds, replay_rate=0.0, think_s=args.think)
            pause = f"pausing {args.think:g} s (+-50 %) per case" if args.think else "no pause"
            _report(f"5. {clients} readers reading and submitting, {pause}", mixed, wall, "submit", results,
                    failures)
            values = mixed.by_kind.get("case page", [])
            results["reading"] = (len(values) / wall if wall else 0.0, percentile(values, 95))

    page_rate = results["case page"][0]
    p95 = results["reading"][1]
    ratio = page_rate / results["trivial view"][0]
    print(f"\ncase page throughput as a share of: trivial view {ratio:.0%} (target >= {TARGET_RATIO:.0%}), "
          f"logged-in request {page_rate / results['authenticated'][0]:.0%}, "
          f"logged-in + access check {page_rate / results['access check'][0]:.0%}")
    print(f"logged-in request alone: {results['authenticated'][0] / results['trivial view'][0]:.0%} of the trivial "
          f"view; with the access check: {results['access check'][0] / results['trivial view'][0]:.0%}")
    print(f"{clients} readers reading: case page p95 {1000 * p95:.0f} ms (target < {1000 * TARGET_P95_S:.0f} ms), "
          f"submit p95 {1000 * results['submit'][1]:.0f} ms")
    print(f"closed loops of {clients} clients: case page p95 {1000 * results['case page'][1]:.0f} ms, trivial view "
          f"p95 {1000 * results['trivial view'][1]:.0f} ms")
    if ratio < TARGET_RATIO:
        failures.append(f"case page throughput is {ratio:.0%} of the trivial view's")
    if p95 >= TARGET_P95_S:
        failures.append(f"case page p95 {1000 * p95:.0f} ms")
    for failure in failures:
        print("MISSED:", failure)
    return 1 if failures else 0


@contextmanager
def _database(args: argparse.Namespace) -> Iterator[tuple[str, bool]]:
    """(url, needs seeding): a throwaway database, or --database NAME kept between runs."""
    if not args.database:
        with throwaway_database(f"readerstudy_web_{os.getpid()}", keep=args.keep_db) as url:
            yield url, True
        return
    import psycopg

    url = with_database(server_url(), args.database)
    with psycopg.connect(with_database(server_url(), "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [args.database]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{args.database}"')
    if not exists:
        log(f"created database {args.database}; it is kept for later runs")
    yield url, not exists


def _report(title: str, samples: Samples, wall: float, kind: str, results: dict, failures: list[str]) -> None:
    print(f"\n{title}")
    for line in summary(samples, wall):
        print(line)
    values = samples.by_kind.get(kind, [])
    results[kind] = (len(values) / wall if wall else 0.0, percentile(values, 95))
    if samples.errors:
        print(f"errors: {samples.errors}")
        failures.append(f"{title}: {samples.errors}")
    log(f"{title}: {results[kind][0]:.1f} req/s, p95 {1000 * results[kind][1]:.0f} ms")


if __name__ == "__main__":
    sys.exit(main())
