"""Web benchmark: the case page and submit against a trivial Django view, on gunicorn + PostgreSQL.

    .venv/bin/python bench/web.py [--cases 5000] [--readers 500] [--clients 50] [--seconds 20]

Creates a throwaway database (readerstudy_web_<pid>), seeds it with
``seed_demo --cases N --readers M``, starts gunicorn with the production command line and runs
three phases with the same number of concurrent clients:

1. ``/healthz`` (a trivial Django view: the whole middleware stack, no database),
2. the case page ``GET /s/<study>/read/`` by logged-in readers,
3. readers reading and submitting (``POST /s/<study>/read/``).

Prints requests/s and p50/p95/p99 for each and the ratio case page / trivial view. Targets: the case
page at >= 50 % of the trivial view's throughput and its p95 under 100 ms at 50 concurrent readers.
Exits 1 when a target is missed or a request fails. By default readers send their next request
at once (closed loop: throughput at saturation); ``--think S`` adds a reading pause per case so
p95 is measured at a load like people's. Clients run on the same machine as the server,
so on a small machine they take CPU from it: compare runs on the same machine only.
"""

from __future__ import annotations

import argparse
import os
import sys
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
    run_readers,
    seed,
    study_slug,
    summary,
    temp_dir,
    throwaway_database,
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
    parser.add_argument("--think", type=float, default=0.0,
                        help="Seconds a reader looks at a case before the next request (0: saturate).")
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    clients = min(args.clients, args.readers)

    work = temp_dir("bench-web-")
    results: dict[str, tuple[float, float]] = {}  # phase -> (requests/s, p95 s)
    failures: list[str] = []
    with throwaway_database(f"readerstudy_web_{os.getpid()}", keep=args.keep_db) as database_url:
        env = app_env(database_url, work / "media")
        seed(env, args.cases, args.readers, args.seed)
        with gunicorn(env, free_port(), args.workers, args.threads, work / "gunicorn.log") as base:
            hammer(base, "/healthz", clients, 2, Samples(), "warm-up")
            if args.think:
                log(f"readers think {args.think:.1f} s (+-50 %) between requests; the trivial view has no think time")

            trivial = Samples()
            wall = hammer(base, "/healthz", clients, args.seconds, trivial, "trivial view")
            _report("1. trivial view (/healthz)", trivial, wall, "trivial view", results, failures)

            readers = [Reader(base, f"reader{i}", study_slug(STUDIES[i % len(STUDIES)], args.cases, args.seed),
                              Samples(), i) for i in range(1, clients + 1)]
            login_all(readers)
            pages = Samples()
            for reader in readers:
                reader.samples = pages
            wall = run_readers(readers, args.seconds, submit=False, think_s=args.think)
            _report("2. case page (GET, 50 readers)".replace("50", str(clients)), pages, wall, "case page",
                    results, failures)

            mixed = Samples()
            for reader in readers:
                reader.samples = mixed
            wall = run_readers(readers, args.seconds, replay_rate=0.0, think_s=args.think)
            _report("3. reading and submitting", mixed, wall, "submit", results, failures)

    ratio = results["case page"][0] / results["trivial view"][0]
    p95 = results["case page"][1]
    print(f"\ncase page / trivial view throughput: {ratio:.0%} (target >= {TARGET_RATIO:.0%}); "
          f"case page p95 {1000 * p95:.0f} ms (target < {1000 * TARGET_P95_S:.0f} ms) "
          f"at {clients} concurrent readers; submit p95 {1000 * results['submit'][1]:.0f} ms")
    if ratio < TARGET_RATIO:
        failures.append(f"case page throughput is {ratio:.0%} of the trivial view's")
    if p95 >= TARGET_P95_S:
        failures.append(f"case page p95 {1000 * p95:.0f} ms")
    for failure in failures:
        print("MISSED:", failure)
    return 1 if failures else 0


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
