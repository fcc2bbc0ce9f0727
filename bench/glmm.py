"""The crossed-random-effects GLMM side by side with lme4's glmer, over the shapes of real studies.

    .venv/bin/python bench/glmm.py                          # every shape, 2- and 4-term models
    .venv/bin/python bench/glmm.py --shapes crossed_100,singular --models 4
    .venv/bin/python bench/glmm.py --no-r                   # ours only

Shapes (simulated with fixed seeds; ``--shapes`` picks some):

- crossed_100: 100 readers x 100 cases, every case read in both arms (20,000 readings)
- crossed_1000: 1,000 readers x 1,000 cases, 200 cases per reader, arms alternating (200,000)
- platform: 1,000 readers x 5,000 cases, 40 cases per reader, both arms (80,000)
- sparse_cases: 63 readers, most of ~1,400 cases read by one reader, some by two (3,330)
- singular: 40 x 100 in both arms with true zero interaction variances (8,000; boundary fit)

Models: 2 = ``y ~ arm + (1|reader) + (1|case)``, 4 = that + ``(1|reader:arm) + (1|case:arm)``.
Each fit runs in its own process (so peak RSS is per fit); glmer runs with default settings on
the same CSV in the same run. Reading the data is not timed on either side. Printed per fit: our
seconds, lme4 seconds, lme4/ours, the largest relative differences of fixed-effect estimates,
SEs, variances (absolute below 1e-4, where lme4 reports ~0 for a boundary), the relative logLik
difference ours - lme4 (> 0: our optimum is higher; glmer's defaults stop PIRLS early), and the
peak RSS of each process. analysis.glmm runs BLAS single-threaded; R's BLAS is what R links.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

MODELS = {
    2: "correct_top1 ~ arm + (1|reader) + (1|case)",
    4: "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)",
}
SHAPES = ("crossed_100", "crossed_1000", "platform", "sparse_cases", "singular")

R_SCRIPT = r"""
suppressPackageStartupMessages(library(lme4))
args <- commandArgs(TRUE)
d <- read.csv(args[1], stringsAsFactors = TRUE)
took <- system.time(fit <- glmer(as.formula(args[2]), data = d, family = binomial))
vc <- as.data.frame(VarCorr(fit))
cf <- summary(fit)$coefficients
out <- list(seconds = took[["elapsed"]], cpu_seconds = took[["user.self"]] + took[["sys.self"]],
            fixed = as.list(cf[, 1]), se = as.list(cf[, 2]),
            variances = as.list(setNames(vc$vcov, vc$grp)), log_likelihood = as.numeric(logLik(fit)),
            singular = isSingular(fit), version = as.character(packageVersion("lme4")))
cat(jsonlite::toJSON(out, auto_unbox = TRUE, digits = NA), "\n")
"""


def simulate(
    readers: int,
    cases: int,
    per_reader: int,
    *,
    both_arms: bool,
    seed: int,
    sd_interaction: float = 0.4,
    case_weights: np.ndarray | None = None,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    reader = np.repeat(np.arange(readers), per_reader)
    case = np.concatenate(
        [rng.choice(cases, per_reader, replace=False, p=case_weights) for _ in range(readers)]
    )
    if both_arms:
        reader, case = np.repeat(reader, 2), np.repeat(case, 2)
        arm = np.tile([0, 1], len(reader) // 2)
    else:
        arm = np.tile(np.arange(per_reader) % 2, readers)
    b_reader, b_case = rng.normal(0, 0.6, readers), rng.normal(0, 1.1, cases)
    b_reader_arm = rng.normal(0, sd_interaction, (readers, 2))
    b_case_arm = rng.normal(0, sd_interaction, (cases, 2))
    eta = (
        0.4 + 0.35 * arm + b_reader[reader] + b_case[case] + b_reader_arm[reader, arm] + b_case_arm[case, arm]
    )
    correct = (rng.random(len(eta)) < 1 / (1 + np.exp(-eta))).astype(int)
    return pd.DataFrame(
        {
            "reader": [f"r{i:04d}" for i in reader],
            "case": [f"c{i:04d}" for i in case],
            "arm": arm,
            "correct_top1": correct,
        }
    )


def shape_data(name: str) -> pd.DataFrame:
    if name == "crossed_100":
        return simulate(100, 100, 100, both_arms=True, seed=1)
    if name == "crossed_1000":
        return simulate(1000, 1000, 200, both_arms=False, seed=2)
    if name == "platform":
        return simulate(1000, 5000, 40, both_arms=True, seed=3)
    if name == "sparse_cases":
        # 63 readers x 26-27 cases from a pool of 1,400: ~80 % of cases read once (3,330 readings)
        rng = np.random.default_rng(4)
        weights = rng.gamma(0.6, size=1400)
        frame = simulate(63, 1400, 27, both_arms=True, seed=4, case_weights=weights / weights.sum())
        return frame.iloc[:3330].reset_index(drop=True)
    if name == "singular":
        return simulate(40, 100, 100, both_arms=True, seed=5, sd_interaction=0.0)
    raise ValueError(f"unknown shape {name!r}; choose from {', '.join(SHAPES)}")


def _run_child(command: list[str]) -> tuple[str, str, float]:
    """Run a process, return (stdout, stderr, peak RSS in MiB) from wait4's rusage."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(command, stdout=out, stderr=err, text=True)
        _, _, usage = os.wait4(process.pid, 0)
        process.returncode = 0
        out.seek(0)
        err.seek(0)
        return out.read(), err.read(), usage.ru_maxrss / 1024


def worker(csv: str, formula: str) -> None:
    """Child process: fit one CSV and print the result as JSON."""
    from analysis.glmm import fit_glmm

    data = pd.read_csv(csv)
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fit_glmm(data, formula)
    out = {
        "seconds": time.perf_counter() - start,
        "cpu_seconds": time.process_time() - start_cpu,
        "fixed": {e.term: e.estimate for e in result.fixed_effects},
        "se": {e.term: e.se for e in result.fixed_effects},
        "variances": {e.group: e.variance for e in result.random_effects},
        "log_likelihood": result.log_likelihood,
        "boundary": list(result.boundary),
        "converged": result.converged,
        "warnings": list(result.warnings),
    }
    print(json.dumps(out))


def _max_rel(ours: dict, theirs: dict, floor: float = 0.0) -> float:
    worst = 0.0
    for key, value in theirs.items():
        if key not in ours:
            return float("nan")
        diff = abs(ours[key] - value)
        worst = max(worst, diff if abs(value) <= floor else diff / abs(value))
    return worst


def _parse(stdout: str) -> dict | None:
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return json.loads(lines[-1]) if lines else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--models", default="2,4", help="comma-separated: 2 and/or 4 random terms")
    parser.add_argument("--no-r", action="store_true", help="skip lme4 even when Rscript is present")
    parser.add_argument("--worker", nargs=2, metavar=("CSV", "FORMULA"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return
    rscript = None if args.no_r else shutil.which("Rscript")
    header = (
        f"{'shape':<13} {'model':>5} {'n':>8} {'ours s':>8} {'lme4 s':>8} {'ratio':>6} "
        f"{'est':>8} {'se':>8} {'var':>8} {'dlogLik':>8} {'RSS MiB':>8} {'R MiB':>7}  boundary"
    )
    print(header)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "fit.R"
        script.write_text(R_SCRIPT)
        for shape in args.shapes.split(","):
            data = shape_data(shape)
            csv = Path(tmp) / f"{shape}.csv"
            data.to_csv(csv, index=False)
            for model in (int(m) for m in args.models.split(",")):
                formula = MODELS[model]
                out, err, rss = _run_child([sys.executable, __file__, "--worker", str(csv), formula])
                ours = _parse(out)
                if ours is None:
                    print(f"{shape} {model}: our fit failed: {err.strip()[-400:]}")
                    continue
                lme4, r_rss = None, float("nan")
                if rscript:
                    r_out, r_err, r_rss = _run_child([rscript, str(script), str(csv), formula])
                    lme4 = _parse(r_out)
                    if lme4 is None:
                        print(f"{shape} {model}: glmer failed: {r_err.strip()[-400:]}")
                row = {
                    "shape": shape,
                    "model": model,
                    "n": len(data),
                    "ours": ours,
                    "lme4": lme4,
                    "rss_mib": rss,
                    "r_rss_mib": r_rss,
                }
                rows.append(row)
                if lme4:
                    diffs = (
                        _max_rel(ours["fixed"], lme4["fixed"]),
                        _max_rel(ours["se"], lme4["se"]),
                        _max_rel(ours["variances"], lme4["variances"], floor=1e-4),
                        (ours["log_likelihood"] - lme4["log_likelihood"]) / abs(lme4["log_likelihood"]),
                    )
                    ratio = lme4["seconds"] / ours["seconds"]
                    r_seconds = f"{lme4['seconds']:8.2f}"
                else:
                    diffs, ratio, r_seconds = (float("nan"),) * 4, float("nan"), f"{'-':>8}"
                print(
                    f"{shape:<13} {model:>5} {len(data):>8,} {ours['seconds']:8.2f} {r_seconds} {ratio:6.1f} "
                    + " ".join(f"{d:8.1e}" for d in diffs)
                    + f" {rss:8.0f} {r_rss:7.0f}  {','.join(ours['boundary']) or '-'}",
                    flush=True,
                )
    if os.environ.get("BENCH_JSON"):
        Path(os.environ["BENCH_JSON"]).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
