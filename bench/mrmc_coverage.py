"""Coverage of the 95 % CI of the AUC difference on simulated split-plot studies (issue 16 check).

Roe-Metz null model (analysis.roe_metz, no arm difference), split-plot design with 2 blocks of
3 readers and 20 + 20 cases each. Per replicate: the split-plot ORH, the U-statistics, and the
fully crossed ORH formula applied as if every reader had read every case (Hillis's denominator
MS(T*R) + r (Cov2 - Cov3), with the within-block covariances), which ignores the blocks.
Also the bias of each variance: mean estimated variance / empirical variance of the estimates.

    .venv/bin/python bench/mrmc_coverage.py --replicates 1000
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analysis.design_detect import detect_design  # noqa: E402
from analysis.mrmc import split_plot_mrmc  # noqa: E402
from analysis.roe_metz import RoeMetz, simulate_roe_metz  # noqa: E402
from analysis.ustat import ustat  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--replicates", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=16)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    spec = RoeMetz(design="split_plot", n_readers=6, n_negative=40, n_positive=40, n_blocks=2)
    est, var = [], {"splitplot": [], "ustat": [], "naive_orh": []}
    cover = dict.fromkeys(var, 0)
    start = time.time()
    for _ in range(args.replicates):
        data = simulate_roe_metz(spec, rng)
        design = detect_design(data, control="0", treatment="1")
        sp = split_plot_mrmc(data, score="rating", truth="truth", control="0", treatment="1", design=design)
        t = sp.foms["auc"]["rrrc"]
        u = ustat(data, score="rating", truth="truth", control="0", treatment="1").difference
        est.append(t["difference"])
        var["splitplot"].append(t["se"] ** 2)
        cover["splitplot"] += t["ci_low"] <= 0 <= t["ci_high"]
        var["ustat"].append(u.var)
        cover["ustat"] += u.ci_low <= 0 <= u.ci_high
        # naive: fully crossed ORH, r (Cov2 - Cov3) with every reader counted as sharing the cases
        r = 6
        blocks = sp.foms["auc"]["blocks"]
        cov_diff = float(np.mean([b["cov2"] - b["cov3"] for b in blocks]))
        s2 = sp.foms["auc"]["ms_reader_differences"]
        den = s2 / 2 + r * max(cov_diff, 0.0)
        naive_var = 2 * den / r
        df = (r - 1) * (den / (s2 / 2)) ** 2
        half = stats.t.ppf(0.975, df) * math.sqrt(naive_var)
        var["naive_orh"].append(naive_var)
        cover["naive_orh"] += abs(t["difference"]) <= half
    empirical = float(np.var(est, ddof=1))
    n = args.replicates
    print(f"{n} replicates, {time.time() - start:.0f} s; empirical variance of the AUC difference {empirical:.6f}")
    for method in var:
        share = cover[method] / n
        se = math.sqrt(share * (1 - share) / n)
        print(f"{method:10s} coverage {share:.3f} (SE {se:.3f})  mean variance / empirical {np.mean(var[method]) / empirical:.3f}")


if __name__ == "__main__":
    main()
