"""Power and sample size for a planned reader study.

By simulation from the primary mixed model (`analysis.simulate`): each simulated study is
analysed with the reader-level paired t-test (fast; Welch's t on reader means for parallel
groups) and optionally the mixed model's likelihood-ratio test for the arm (``glmm``). Plus the
analytic power of the paired t-test from statsmodels for a given mean and SD of the reader
differences. Power comes with its Monte-Carlo (Clopper-Pearson) interval.

The GLMM path is built for speed: the design (X, level codes, the sparse engine's index arrays)
is built once per study shape and only the outcomes change between simulations; each fit is
warm-started from the previous simulation's optimum, the model without `arm` from the full
fit; no Hessian is computed (the LRT needs none); ``jobs`` > 1 spreads simulations over
processes. Simulation i always uses child i of SeedSequence(seed), so results do not depend on
``jobs``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
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
    jobs: int = 1,
    formula: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> PowerResult:
    """Fraction of simulated studies in which each method rejects 'no arm effect' at `alpha`.

    progress(done, total) is called as simulations finish (for the web app's progress bar).
    """
    unknown = set(methods) - set(METHODS)
    if unknown:
        raise ValueError(f"unknown power method(s): {', '.join(sorted(unknown))}")
    if n_sim < 1 or jobs < 1:
        raise ValueError("n_sim and jobs must be at least 1")
    children = np.random.SeedSequence(seed).spawn(n_sim)
    chunks = [list(range(start, n_sim, jobs)) for start in range(min(jobs, n_sim))]
    outcomes: dict[int, tuple[float, float, float, float | None]] = {}
    if len(chunks) == 1:
        for index, row in _simulate_chunk(spec, methods, formula, children, chunks[0], progress):
            outcomes[index] = row
    else:
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(max_workers=len(chunks)) as pool:
            futures = [pool.submit(_chunk_list, spec, methods, formula, children, chunk) for chunk in chunks]
            for future in as_completed(futures):
                outcomes.update(future.result())
                if progress:
                    progress(len(outcomes), n_sim)
    rejections: dict[str, list[bool]] = {m: [] for m in methods}
    failures = dict.fromkeys(methods, 0)
    differences, sds = [], []
    for index in range(n_sim):
        mean_d, sd_d, p_t, p_glmm = outcomes[index]
        differences.append(mean_d)
        sds.append(sd_d)
        for method in methods:
            p = p_t if method == "reader_t" else p_glmm
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


def _chunk_list(spec, methods, formula, children, indices) -> dict:
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return dict(_simulate_chunk(spec, methods, formula, children, indices, None))


def _simulate_chunk(
    spec: StudySpec,
    methods: tuple[str, ...],
    formula: str | None,
    children: list,
    indices: list[int],
    progress: Callable[[int, int], None] | None,
) -> Iterator[tuple[int, tuple[float, float, float, float | None]]]:
    """(index, (mean reader difference, its SD, reader-t p, GLMM LRT p)) per simulation."""
    fitter = None
    for done, index in enumerate(indices, start=1):
        data = simulate_outcomes(spec, np.random.default_rng(children[index]))
        diff, p_t = reader_level_test(data, spec.design)
        p_glmm = None
        if "glmm" in methods:
            if fitter is None or not fitter.same_design(data):
                fitter = GlmmLrt(data, formula)
            p_glmm = fitter.p_value(data["correct"].to_numpy(float))
        sd = float(np.std(diff, ddof=1)) if diff.size > 1 else math.nan  # nan: parallel
        yield index, (float(np.mean(diff)), sd, p_t, p_glmm)
        if progress:
            progress(done, len(children))


class GlmmLrt:
    """The LRT of `arm` in the primary model, refitted on new outcomes of one study design."""

    def __init__(self, data, formula: str | None = None) -> None:
        from analysis.formula import parse_formula
        from analysis.glmm.design import build_design
        from analysis.glmm.linalg import ReStructure

        self.formula = formula or default_formula("correct")
        frame = data[["reader", "case", "arm", "correct"]]
        full = build_design(frame, parse_formula(self.formula), "binomial")
        reduced = build_design(frame, parse_formula(reduced_formula(self.formula)), "binomial")
        if full.n_dropped or "arm" not in full.column_names:
            raise ValueError("GLMM power needs complete readings and an 'arm' term in the formula")
        self.X, self.X0 = full.X, reduced.X
        self.arm = full.column_names.index("arm")
        self.structure = ReStructure(full.codes, full.n_levels)
        self.key = (
            data["reader_idx"].to_numpy().tobytes(),
            data["case_idx"].to_numpy().tobytes(),
            data["arm"].to_numpy().tobytes(),
        )
        self.start: np.ndarray | None = None

    def same_design(self, data) -> bool:
        key = (
            data["reader_idx"].to_numpy().tobytes(),
            data["case_idx"].to_numpy().tobytes(),
            data["arm"].to_numpy().tobytes(),
        )
        return key == self.key

    def p_value(self, y: np.ndarray) -> float | None:
        from analysis.glmm.fit import laplace_deviance_fit

        if np.unique(y).size < 2:
            return None
        k = self.structure.n_terms
        try:
            dev_full, x, ok = laplace_deviance_fit(y, self.X, self.structure, self.start)
            if not ok:
                dev_full, x, ok = laplace_deviance_fit(y, self.X, self.structure, None)  # cold start
            start0 = np.delete(x, k + self.arm)
            dev_reduced, _, ok0 = laplace_deviance_fit(y, self.X0, self.structure, start0)
        except (np.linalg.LinAlgError, ValueError, FloatingPointError):
            self.start = None
            return None
        if not (ok and ok0):
            return None
        self.start = x
        chi2 = max(0.0, dev_reduced - dev_full)
        return float(stats.chi2.sf(chi2, 1))


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
