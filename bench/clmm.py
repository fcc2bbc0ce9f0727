"""The cumulative-link mixed model (analysis.ordinal) side by side with R's ordinal::clmm.

    .venv/bin/python bench/clmm.py                      # 100 readers x 100 cases x 2 arms = 20,000 readings
    .venv/bin/python bench/clmm.py --readers 50 --cases 60 --models 4 --r-timeout 900
    .venv/bin/python bench/clmm.py --no-r               # ours only

A 5-level rubric simulated with fixed seeds (thresholds -1.6, -0.4, 0.7, 1.9; arm effect 0.5;
reader SD 0.6, case SD 1.0, reader:arm 0.3, case:arm 0.4). Models: 2 = ``grade ~ arm + (1|reader)
+ (1|case)``, 4 = that + ``(1|reader:arm) + (1|case:arm)``. clmm runs with its defaults on the same
CSV via Rscript, under a time limit (it is slow on crossed designs of this size); reading the data
is not timed on either side. Printed: wall and CPU seconds each, clmm/ours in CPU, and the largest relative
differences of estimates, SEs and variances, and of logLik.
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
from scipy.special import expit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analysis.ordinal import fit_clmm  # noqa: E402

FORMULAS = {
    2: "grade ~ arm + (1|reader) + (1|case)",
    4: "grade ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)",
}
R_SCRIPT = """
library(ordinal); library(jsonlite)
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1]); d$grade <- factor(d$grade, ordered = TRUE)
d$reader <- factor(d$reader); d$case <- factor(d$case); d$armf <- factor(d$arm)
f <- gsub(":arm)", ":armf)", args[2], fixed = TRUE)
t0 <- proc.time(); t0 <- c(t0[["elapsed"]], t0[["user.self"]] + t0[["sys.self"]])
fit <- clmm(as.formula(f), data = d, link = "logit", threshold = "flexible", Hess = TRUE)
t1 <- proc.time(); secs <- t1[["elapsed"]] - t0[1]; cpu <- t1[["user.self"]] + t1[["sys.self"]] - t0[2]
s <- summary(fit)$coefficients; vc <- VarCorr(fit)
cat(toJSON(list(seconds = secs, cpu = cpu, logLik = as.numeric(logLik(fit)), estimate = unname(s[, 1]), se = unname(s[, 2]),
  variances = setNames(lapply(names(vc), function(g) as.numeric(vc[[g]])), gsub("armf", "arm", names(vc)))),
  auto_unbox = TRUE, digits = NA))
"""


def simulate(n_readers: int, n_cases: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    theta = np.array([-1.6, -0.4, 0.7, 1.9])
    reader = np.repeat(np.arange(n_readers), n_cases * 2)
    case = np.tile(np.repeat(np.arange(n_cases), 2), n_readers)
    arm = np.tile([0, 1], n_readers * n_cases)
    eta = (0.5 * arm + rng.normal(0, 0.6, n_readers)[reader] + rng.normal(0, 1.0, n_cases)[case]
           + rng.normal(0, 0.3, (n_readers, 2))[reader, arm] + rng.normal(0, 0.4, (n_cases, 2))[case, arm])
    cumulative = expit(theta[None, :] - eta[:, None])
    grade = 1 + (rng.random(len(eta))[:, None] > cumulative).sum(1)
    return pd.DataFrame({"reader": [f"R{r}" for r in reader], "case": [f"C{c}" for c in case], "arm": arm,
                         "grade": grade})


def run_r(path: Path, formula: str, timeout: float) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".R", delete=False) as handle:
        handle.write(R_SCRIPT)
    try:
        done = subprocess.run(["Rscript", handle.name, str(path), formula], capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"timeout": timeout}
    if done.returncode != 0:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "Rscript failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--cases", type=int, default=100)
    parser.add_argument("--models", type=int, nargs="+", default=[2], choices=(2, 4))
    parser.add_argument("--no-r", action="store_true")
    parser.add_argument("--r-timeout", type=float, default=600)
    args = parser.parse_args()
    data = simulate(args.readers, args.cases)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "readings.csv"
        data.to_csv(path, index=False)
        for k in args.models:
            formula = FORMULAS[k]
            started, cpu_started = time.perf_counter(), time.process_time()
            fit = fit_clmm(data, formula)
            ours, ours_cpu = time.perf_counter() - started, time.process_time() - cpu_started
            line = f"{len(data)} readings, {k} terms: ours {ours:.1f} s ({ours_cpu:.1f} s CPU, converged {fit.converged})"
            r = None if args.no_r else run_r(path, formula, args.r_timeout)
            if r is None:
                print(line)
                continue
            if "timeout" in r or "error" in r:
                print(f"{line}; clmm {r}")
                continue
            rows = [*fit.thresholds, fit.fixed("arm")]
            est = max(abs(a["estimate"] / b - 1) for a, b in zip(rows, r["estimate"], strict=True))
            se = max(abs(a["se"] / b - 1) for a, b in zip(rows, r["se"], strict=True))
            var = max(abs(e["variance"] / r["variances"][e["group"]] - 1) for e in fit.random_effects)
            ours_sorted = sorted(e["variance"] for e in fit.random_effects)
            by_value = max(abs(a / b - 1) for a, b in zip(ours_sorted, sorted(r["variances"].values()), strict=True))
            if var > 1e-2 and by_value < 1e-3:  # clmm's VarCorr swaps labels of terms with equal level counts
                print(f"clmm's variance labels differ from ours; matched by value they agree to {by_value:.1e}")
                var = by_value
            print(f"variances ours {[(e['group'], round(e['variance'], 5)) for e in fit.random_effects]}, clmm {r['variances']}")
            print(f"{line}; clmm {r['seconds']:.1f} s ({r['cpu']:.1f} s CPU; {r['cpu'] / ours_cpu:.1f}x ours in CPU); "
                  "max rel diff: estimates "
                  f"{est:.1e}, SEs {se:.1e}, variances {var:.1e}; logLik ours - clmm {fit.log_likelihood - r['logLik']:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
