"""Power and sample size for a planned reader study.

By simulation from the primary mixed model (`analysis.simulate`): each simulated study is
analysed with the reader-level paired t-test (fast; Welch's t on reader means for parallel
groups) and optionally the mixed model's likelihood-ratio test (slow). Plus the analytic power
of the paired t-test from statsmodels for a given mean and SD of the reader differences.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.power import TTestPower

from analysis.mixed import default_formula, reduced_formula
from analysis.simulate import StudySpec, simulate_outcomes

METHODS = ("reader_t", "glmm")


@dataclass(frozen=True)
class PowerEstimate:
    method: str
    power: float
    ci_low: float
    ci_high: float
    n_analysed: int
    n_failed: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PowerResult:
    spec: StudySpec
    n_sim: int
    alpha: float
    seed: int
    estimates: tuple[PowerEstimate, ...]
    mean_difference: float
    sd_difference: float
    paired_t_power: float

    def to_dict(self) -> dict:
        return {
            "spec": asdict(self.spec),
            "n_sim": self.n_sim,
            "alpha": self.alpha,
            "seed": self.seed,
            "power": {e.method: e.to_dict() for e in self.estimates},
            "reader_difference": {"mean": self.mean_difference, "sd": self.sd_difference},
            "paired_t_power": self.paired_t_power,
        }


def paired_t_power(
    mean_difference: float, sd_difference: float, n_readers: int, alpha: float = 0.05
) -> float:
    """Power of the two-sided paired t-test (statsmodels TTestPower)."""
    if sd_difference <= 0 or n_readers < 2:
        return math.nan
    effect = abs(mean_difference) / sd_difference
    return float(TTestPower().power(effect_size=effect, nobs=n_readers, alpha=alpha, alternative="two-sided"))


def paired_t_readers(
    mean_difference: float, sd_difference: float, power: float = 0.8, alpha: float = 0.05
) -> int:
    """Readers needed for the paired t-test to reach `power` (rounded up)."""
    effect = abs(mean_difference) / sd_difference
    n = TTestPower().solve_power(effect_size=effect, power=power, alpha=alpha, alternative="two-sided")
    return int(math.ceil(float(np.atleast_1d(n)[0])))


def simulate_power(
    spec: StudySpec,
    *,
    n_sim: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    methods: tuple[str, ...] = ("reader_t",),
) -> PowerResult:
    """Fraction of simulated studies in which each method rejects 'no arm effect' at `alpha`."""
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown power method(s): {', '.join(sorted(unknown))}")
    rejections: dict[str, list[bool]] = {m: [] for m in methods}
    failures = dict.fromkeys(methods, 0)
    differences, sds = [], []
    for child in np.random.SeedSequence(seed).spawn(n_sim):
        data = simulate_outcomes(spec, np.random.default_rng(child))
        diff, p_t = reader_level_test(data, spec.design)
        differences.append(float(np.mean(diff)))
        sds.append(float(np.std(diff, ddof=1)) if diff.size > 1 else math.nan)  # nan: parallel
        for method in methods:
            p = p_t if method == "reader_t" else glmm_lrt_p(data)
            if p is None or not np.isfinite(p):
                failures[method] += 1
            else:
                rejections[method].append(p < alpha)
    mean_diff = float(np.mean(differences))
    sd_diff = float(np.nanmean(sds)) if np.isfinite(sds).any() else math.nan
    return PowerResult(
        spec=spec,
        n_sim=n_sim,
        alpha=alpha,
        seed=seed,
        estimates=tuple(_estimate(m, rejections[m], failures[m]) for m in methods),
        mean_difference=mean_diff,
        sd_difference=sd_diff,
        paired_t_power=(
            paired_t_power(mean_diff, sd_diff, spec.n_readers, alpha)
            if spec.design != "parallel"
            else math.nan
        ),
    )


def reader_level_test(data, design: str) -> tuple[np.ndarray, float]:
    """Reader differences (treatment - control) and the reader-level t-test p-value."""
    means = _reader_arm_means(data)
    if design == "parallel":
        control, treatment = means[:, 0], means[:, 1]
        control, treatment = control[np.isfinite(control)], treatment[np.isfinite(treatment)]
        p = stats.ttest_ind(treatment, control, equal_var=False).pvalue
        return np.array([treatment.mean() - control.mean()]), float(p)
    diff = means[:, 1] - means[:, 0]
    diff = diff[np.isfinite(diff)]
    if diff.size < 2 or np.allclose(diff, diff[0]):
        return diff, math.nan
    return diff, float(stats.ttest_1samp(diff, 0.0).pvalue)


def _reader_arm_means(data) -> np.ndarray:
    """(readers, 2) mean outcome per reader and arm; NaN where a reader has no readings."""
    index = data["reader_idx"].to_numpy() * 2 + data["arm"].to_numpy()
    size = 2 * (int(data["reader_idx"].max()) + 1)
    totals = np.bincount(index, weights=data["correct"].to_numpy(float), minlength=size)
    counts = np.bincount(index, minlength=size)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (totals / counts).reshape(-1, 2)


def glmm_lrt_p(data, formula: str | None = None) -> float | None:
    """Likelihood-ratio p of the arm effect in the primary model (None if the fit fails)."""
    from analysis.glmm import fit_glmm, likelihood_ratio_test

    formula = formula or default_formula("correct")
    frame = data[["reader", "case", "arm", "correct"]]
    try:
        full = fit_glmm(frame, formula, family="binomial")
        reduced = fit_glmm(frame, reduced_formula(formula), family="binomial")
        return float(likelihood_ratio_test(full, reduced)[2])
    except Exception:  # noqa: BLE001 - a failed fit counts as a failure, not a crash
        return None


def _estimate(method: str, rejections: list[bool], failed: int) -> PowerEstimate:
    n = len(rejections)
    hits = int(np.sum(rejections))
    power = hits / n if n else math.nan
    low, high = _clopper_pearson(hits, n)
    return PowerEstimate(method, power, low, high, n, failed)


def _clopper_pearson(hits: int, n: int, level: float = 0.95) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    ci = stats.binomtest(hits, n).proportion_ci(confidence_level=level, method="exact")
    return float(ci.low), float(ci.high)
