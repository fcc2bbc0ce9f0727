"""Time the crossed-random-effects GLMM on a large simulated reader study, and lme4 if R is here.

    .venv/bin/python bench/glmm.py                      # 1,000 readers x 1,000 cases, 200,000 readings
    .venv/bin/python bench/glmm.py --readers 200 --cases 300 --per-reader 100

Each reader reads --per-reader distinct cases, half in each arm. The model is
``correct_top1 ~ arm + (1|reader) + (1|case)`` (override with --formula). When ``Rscript`` with
lme4 is on the PATH, the same CSV is fitted with glmer() (default settings) in the same run and
the ratio of the two fitting times is printed (wall clock and CPU); reading the CSV is not timed
on either side. analysis.glmm runs BLAS single-threaded; R's BLAS is whatever R links.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.glmm import fit_glmm  # noqa: E402

R_SCRIPT = """
suppressPackageStartupMessages(library(lme4))
d <- read.csv(commandArgs(TRUE)[1], stringsAsFactors = TRUE)
took <- system.time(fit <- glmer(as.formula(commandArgs(TRUE)[2]), data = d, family = binomial))
cat(sprintf('{"seconds": %.6f, "cpu_seconds": %.6f, "arm": %.8f, "arm_se": %.8f, "log_likelihood": %.6f, "version": "%s"}\\n',
            took[["elapsed"]], took[["user.self"]] + took[["sys.self"]], fixef(fit)[["arm"]],
            sqrt(diag(vcov(fit)))[["arm"]], as.numeric(logLik(fit)), packageVersion("lme4")))
"""


def simulate(readers: int, cases: int, per_reader: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    reader = np.repeat(np.arange(readers), per_reader)
    case = np.concatenate([rng.choice(cases, per_reader, replace=False) for _ in range(readers)])
    arm = np.tile(np.arange(per_reader) % 2, readers)
    eta = 0.4 + 0.35 * arm + rng.normal(0, 0.6, readers)[reader] + rng.normal(0, 1.1, cases)[case]
    correct = (rng.random(len(eta)) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame(
        {
            "reader": [f"r{i:04d}" for i in reader],
            "case": [f"c{i:04d}" for i in case],
            "arm": arm,
            "correct_top1": correct,
        }
    )


def time_lme4(csv: Path, formula: str) -> dict | None:
    rscript = shutil.which("Rscript")
    if rscript is None:
        return None
    script = csv.with_suffix(".R")
    script.write_text(R_SCRIPT)
    done = subprocess.run(
        [rscript, str(script), str(csv), formula], capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        print(f"lme4: Rscript failed: {done.stderr.strip()[-500:]}")
        return None
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=1000)
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--per-reader", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--formula", default="correct_top1 ~ arm + (1|reader) + (1|case)")
    parser.add_argument("--no-r", action="store_true", help="skip lme4 even when Rscript is present")
    args = parser.parse_args()

    data = simulate(args.readers, args.cases, args.per_reader, args.seed)
    print(f"data: {len(data):,} readings, {args.readers:,} readers x {args.cases:,} cases; {args.formula}")
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fit_glmm(data, args.formula)
    ours, ours_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    arm = result.fixed("arm")
    print(
        f"analysis.glmm: {ours:.2f} s wall, {ours_cpu:.2f} s CPU  arm {arm.estimate:.5f} (se {arm.se:.5f})  "
        f"logLik {result.log_likelihood:.3f}  converged={result.converged}  warnings={list(result.warnings)}"
    )
    print("  variances: " + ", ".join(f"{r.group} {r.variance:.5f}" for r in result.random_effects))
    if args.no_r:
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "readings.csv"
        data.to_csv(csv, index=False)
        lme4 = time_lme4(csv, args.formula)
    if lme4 is None:
        print("lme4: Rscript with lme4 not available; no comparison")
        return
    print(
        f"lme4 {lme4['version']} glmer: {lme4['seconds']:.2f} s wall, {lme4['cpu_seconds']:.2f} s CPU  arm {lme4['arm']:.5f} (se {lme4['arm_se']:.5f})  "
        f"logLik {lme4['log_likelihood']:.3f}"
    )
    print(
        f"ratio lme4 / analysis.glmm: {lme4['seconds'] / ours:.1f}x wall, "
        f"{lme4['cpu_seconds'] / ours_cpu:.1f}x CPU (machine load makes wall times noisy)"
    )


if __name__ == "__main__":
    main()
