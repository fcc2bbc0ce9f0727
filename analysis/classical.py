"""Classical reader-level and reading-level tests: paired t, Wilcoxon signed-rank, McNemar.

Conventions (fixed so p-values do not drift between scipy versions):
- Wilcoxon: two-sided, zero differences discarded (`zero_method="wilcox"`), the exact null
  distribution when there are fewer than 50 non-zero differences and no ties, otherwise the
  normal approximation with tie correction and continuity correction (as R's `wilcox.test`).
  Effect size r = Phi^-1(1 - p/2) / sqrt(n), n = number of readers in the comparison.
- McNemar: b = pairs positive only under control, c = only under treatment; exact binomial
  test when b + c < 25, else chi-square with continuity correction.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import special, stats

MCNEMAR_EXACT_BELOW = 25
WILCOXON_EXACT_BELOW = 50
ZERO_METHOD = "wilcox"


@dataclass(frozen=True)
class ArmSummary:
    """Mean over readers of each reader's mean, with a t-based 95 % CI."""

    mean: float
    sd: float
    ci_low: float
    ci_high: float
    n: int

    def to_dict(self) -> dict:
        return {"mean": self.mean, "sd": self.sd, "ci_low": self.ci_low, "ci_high": self.ci_high}


@dataclass(frozen=True)
class DifferenceSummary:
    mean: float
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class PairedT:
    statistic: float
    df: int
    p_value: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Wilcoxon:
    statistic: float
    p_value: float
    effect_size_r: float
    method: str
    zero_method: str
    n_nonzero: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class McNemar:
    b: int
    c: int
    statistic: float
    p_value: float
    method: str

    def to_dict(self) -> dict:
        return asdict(self)


def t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sd, ci_low, ci_high) of values with a Student t interval."""
    values = np.asarray(values, dtype=float)
    n = values.size
    if n == 0:
        return (math.nan,) * 4
    mean = float(values.mean())
    if n < 2:
        return mean, math.nan, math.nan, math.nan
    sd = float(values.std(ddof=1))
    half = stats.t.ppf(0.5 + level / 2, n - 1) * sd / math.sqrt(n)
    return mean, sd, mean - half, mean + half


def arm_summary(values: np.ndarray, *, proportion: bool = False) -> ArmSummary:
    """Mean over readers with a t interval; for proportions the logit-based interval (inside [0, 1])."""
    mean, sd, low, high = logit_t_interval(values) if proportion else t_interval(values)
    return ArmSummary(mean=mean, sd=sd, ci_low=low, ci_high=high, n=int(np.size(values)))


def logit_t_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float, float, float]:
    """(mean, sd, ci_low, ci_high) of per-reader proportions, the t interval built on the logit scale.

    The SE of the mean is carried to logit(mean) by the delta method, se / (p (1 - p)), and the limits
    are transformed back, so they stay inside (0, 1). With the mean at 0 or 1 (every reader scored 0 %
    or 100 %) the logit is infinite; the limits then follow the Wilson score interval for the pooled
    proportion over n readers' means (upper or lower limit at the boundary itself).
    """
    values = np.asarray(values, dtype=float)
    mean, sd, low, high = t_interval(values, level)
    n = values.size
    if n < 2 or not np.isfinite(mean):
        return mean, sd, low, high
    if 0 < mean < 1:
        se = sd / math.sqrt(n)
        half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * se / (mean * (1 - mean))
        centre = math.log(mean / (1 - mean))
        return mean, sd, float(special.expit(centre - half)), float(special.expit(centre + half))
    z = float(stats.norm.ppf(0.5 + level / 2))
    bound = n / (n + z * z)  # Wilson limit at p = 1 (its mirror at p = 0)
    return (mean, sd, bound, 1.0) if mean >= 1 else (mean, sd, 0.0, 1 - bound)


def difference_summary(differences: np.ndarray) -> DifferenceSummary:
    mean, _, low, high = t_interval(differences)
    return DifferenceSummary(mean=mean, ci_low=low, ci_high=high)


def paired_t(control: np.ndarray, treatment: np.ndarray) -> PairedT:
    """Two-sided paired t-test of treatment - control."""
    n = len(control)
    if n < 2:
        return PairedT(statistic=math.nan, df=max(n - 1, 0), p_value=math.nan)
    differences = np.asarray(treatment, float) - np.asarray(control, float)
    if np.allclose(differences, differences[0]):
        # No spread: t is undefined (scipy would warn and return nan or +-inf).
        return PairedT(statistic=math.nan, df=n - 1, p_value=math.nan)
    result = stats.ttest_rel(treatment, control)
    return PairedT(statistic=float(result.statistic), df=n - 1, p_value=float(result.pvalue))


def wilcoxon_method(differences: np.ndarray) -> str:
    """'exact' for < 50 non-zero differences without ties, else 'asymptotic' (R's rule)."""
    nonzero = differences[differences != 0]
    has_ties = np.unique(np.abs(nonzero)).size < nonzero.size
    has_zeros = nonzero.size < differences.size
    if nonzero.size < WILCOXON_EXACT_BELOW and not has_ties and not has_zeros:
        return "exact"
    return "asymptotic"


# `compare --wilcoxon-correction off`: scipy's default (no continuity correction), as published Python
# pipelines ran it; on (the default) is R's wilcox.test. Set for a whole comparison by wilcoxon_correction().
_WILCOXON_CORRECTION: ContextVar[bool] = ContextVar("wilcoxon_correction", default=True)


@contextmanager
def wilcoxon_correction(on: bool) -> Iterator[None]:
    token = _WILCOXON_CORRECTION.set(bool(on))
    try:
        yield
    finally:
        _WILCOXON_CORRECTION.reset(token)


def wilcoxon_signed_rank(control: np.ndarray, treatment: np.ndarray, *, correction: bool | None = None) -> Wilcoxon:
    """Two-sided Wilcoxon signed-rank test of treatment - control, method passed explicitly.

    The continuity correction applies to the normal approximation only; `correction=None` takes the
    setting of wilcoxon_correction() (on unless switched off).
    """
    correction = _WILCOXON_CORRECTION.get() if correction is None else correction
    differences = np.asarray(treatment, float) - np.asarray(control, float)
    nonzero = int(np.count_nonzero(differences))
    method = wilcoxon_method(differences)
    if nonzero == 0:
        return Wilcoxon(math.nan, math.nan, math.nan, method, ZERO_METHOD, 0)
    result = stats.wilcoxon(
        differences,
        zero_method=ZERO_METHOD,
        correction=(method == "asymptotic") and correction,
        alternative="two-sided",
        method=method,
    )
    p_value = float(result.pvalue)
    return Wilcoxon(
        statistic=float(result.statistic),
        p_value=p_value,
        effect_size_r=effect_size_r(p_value, differences.size),
        method=method,
        zero_method=ZERO_METHOD,
        n_nonzero=nonzero,
    )


def effect_size_r(p_value: float, n: int) -> float:
    """r = Phi^-1(1 - p/2) / sqrt(n): the z equivalent to a two-sided p, per sqrt(observation)."""
    if n <= 0 or not np.isfinite(p_value):
        return math.nan
    return float(stats.norm.ppf(1 - p_value / 2) / math.sqrt(n))


def mcnemar(control: np.ndarray, treatment: np.ndarray) -> McNemar:
    """McNemar's test for paired binary outcomes (exact if b + c < 25, else chi-square cc)."""
    control = np.asarray(control, dtype=float)
    treatment = np.asarray(treatment, dtype=float)
    b = int(np.sum((control == 1) & (treatment == 0)))
    c = int(np.sum((control == 0) & (treatment == 1)))
    return mcnemar_from_counts(b, c)


def mcnemar_from_counts(b: int, c: int) -> McNemar:
    discordant = b + c
    if discordant == 0:
        return McNemar(b=b, c=c, statistic=math.nan, p_value=1.0, method="exact")
    if discordant < MCNEMAR_EXACT_BELOW:
        p_value = stats.binomtest(b, discordant, 0.5, alternative="two-sided").pvalue
        return McNemar(b=b, c=c, statistic=float(b), p_value=float(p_value), method="exact")
    chi2 = (abs(b - c) - 1) ** 2 / discordant
    p_value = stats.chi2.sf(chi2, 1)
    return McNemar(b=b, c=c, statistic=float(chi2), p_value=float(p_value), method="chi2_cc")


def reader_means(data: pd.DataFrame, outcome: str, control: str, treatment: str) -> pd.DataFrame:
    """Per-reader mean outcome in each arm, readers with readings in both arms only.

    Expects columns reader, arm and the outcome; returns columns reader, control, treatment.
    """
    valid = data.dropna(subset=[outcome])
    table = valid.pivot_table(index="reader", columns="arm", values=outcome, aggfunc="mean")
    for arm in (control, treatment):
        if arm not in table.columns:
            table[arm] = np.nan
    table = table[[control, treatment]].dropna()
    table.columns = ["control", "treatment"]
    return table.reset_index().sort_values("reader", kind="stable").reset_index(drop=True)


def paired_readings(data: pd.DataFrame, outcome: str, control: str, treatment: str) -> pd.DataFrame:
    """One row per (reader, case) read in both arms: columns reader, case, control, treatment.

    A reader who read a case more than once in an arm (attention repeats) counts their first
    reading in table order.
    """
    valid = data.dropna(subset=[outcome])
    first = valid.drop_duplicates(subset=["reader", "case", "arm"], keep="first")
    wide = first.pivot(index=["reader", "case"], columns="arm", values=outcome)
    for arm in (control, treatment):
        if arm not in wide.columns:
            wide[arm] = np.nan
    wide = wide[[control, treatment]].dropna()
    wide.columns = ["control", "treatment"]
    return wide.reset_index()
