"""Obuchowski-Rockette analysis with Hillis' refinements, given FOMs and their error covariance.

References: Obuchowski & Rockette, Commun Stat Simul Comput 1995; Hillis, Stat Med 2007 and
Acad Radiol 2008 (denominator df); Hillis et al., Acad Radiol 2005 (fixed readers / fixed cases).
`theta` is the treatments x readers table of figures of merit, row 0 = control, 1 = treatment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

Z_975 = float(stats.norm.ppf(0.975))


@dataclass(frozen=True)
class DifferenceTest:
    """Test of treatment - control; df2 is None for chi-square (fixed-reader) tests."""

    difference: float
    se: float
    ci_low: float
    ci_high: float
    statistic: float
    df1: int
    df2: float | None
    p_value: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SingleTreatment:
    """Mean figure of merit of one treatment with its SE, df (None = normal) and 95 % CI."""

    estimate: float
    se: float
    df: float | None
    ci_low: float
    ci_high: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class ORVarianceComponents:
    var_error: float
    cov1: float
    cov2: float
    cov3: float
    var_reader: float
    var_treatment_reader: float
    ms_treatment: float
    ms_reader: float
    ms_treatment_reader: float

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def two_way_mean_squares(theta: np.ndarray) -> tuple[float, float, float]:
    """MS(T), MS(R), MS(T*R) of the treatments x readers table of figures of merit."""
    t, r = theta.shape
    grand = theta.mean()
    t_means = theta.mean(axis=1)
    r_means = theta.mean(axis=0)
    ms_t = r * np.sum((t_means - grand) ** 2) / (t - 1)
    ms_r = t * np.sum((r_means - grand) ** 2) / (r - 1) if r > 1 else math.nan
    resid = theta - t_means[:, None] - r_means[None, :] + grand
    ms_tr = np.sum(resid**2) / ((t - 1) * (r - 1)) if r > 1 else math.nan
    return float(ms_t), float(ms_r), float(ms_tr)


def or_covariances(cov: np.ndarray, t: int, r: int) -> tuple[float, float, float, float]:
    """(Var, Cov1, Cov2, Cov3): averages of the error covariance matrix over its cell types.

    Cov1: same reader, different treatments; Cov2: same treatment, different readers;
    Cov3: different treatment and reader.
    """
    treatment_of = np.repeat(np.arange(t), r)
    reader_of = np.tile(np.arange(r), t)
    same_t = treatment_of[:, None] == treatment_of[None, :]
    same_r = reader_of[:, None] == reader_of[None, :]

    def average(mask: np.ndarray) -> float:
        return float(cov[mask].mean()) if mask.any() else math.nan

    return (
        average(same_t & same_r),
        average(~same_t & same_r),
        average(same_t & ~same_r),
        average(~same_t & ~same_r),
    )


def or_variance_components(theta: np.ndarray, cov: np.ndarray) -> ORVarianceComponents:
    """OR error covariances plus the reader and treatment-by-reader variances (Hillis 2005)."""
    t, r = theta.shape
    var, cov1, cov2, cov3 = or_covariances(cov, t, r)
    ms_t, ms_r, ms_tr = two_way_mean_squares(theta)
    # E[MS(T*R)] = var_TR + Var - Cov1 - Cov2 + Cov3
    var_tr = ms_tr - var + cov1 + cov2 - cov3
    # E[MS(R)] = t var_R + var_TR + Var + (t-1) Cov1 - Cov2 - (t-1) Cov3
    var_r = (ms_r - var - (t - 1) * cov1 + cov2 + (t - 1) * cov3 - var_tr) / t
    return ORVarianceComponents(var, cov1, cov2, cov3, float(var_r), float(var_tr), ms_t, ms_r, ms_tr)


def difference(theta: np.ndarray) -> float:
    return float(theta[1].mean() - theta[0].mean())


def t_test(diff: float, ms_t: float, denominator: float, df2: float, r: int) -> DifferenceTest:
    se = math.sqrt(2 * denominator / r) if denominator > 0 else math.nan
    f = ms_t / denominator if denominator > 0 else math.nan
    half = float(stats.t.ppf(0.975, df2)) * se
    return DifferenceTest(
        diff, se, diff - half, diff + half, float(f), 1, float(df2), float(stats.f.sf(f, 1, df2))
    )


def hillis_df(denominator: float, ms: float, ms_df: int) -> float:
    """Satterthwaite df of a denominator built on a mean square with `ms_df` df (Hillis 2008).

    Infinite when the mean square is 0 (the denominator is then known exactly); NaN when both are.
    """
    if denominator <= 0:
        return math.nan
    if ms <= 0:
        return math.inf
    return ms_df * (denominator / ms) ** 2


def orh_rrrc(theta: np.ndarray, vc: ORVarianceComponents) -> DifferenceTest:
    """Random readers and cases: F = MS(T) / [MS(T*R) + r max(Cov2 - Cov3, 0)], Hillis ddf."""
    t, r = theta.shape
    denominator = vc.ms_treatment_reader + r * max(vc.cov2 - vc.cov3, 0.0)
    df2 = hillis_df(denominator, vc.ms_treatment_reader, (t - 1) * (r - 1))
    return t_test(difference(theta), vc.ms_treatment, denominator, df2, r)


def orh_frrc(theta: np.ndarray, vc: ORVarianceComponents) -> DifferenceTest:
    """Fixed readers, random cases: chi-square = (t-1) MS(T) / [Var - Cov1 + (r-1) max(Cov2-Cov3, 0)]."""
    t, r = theta.shape
    diff = difference(theta)
    denominator = vc.var_error - vc.cov1 + (r - 1) * max(vc.cov2 - vc.cov3, 0.0)
    chi2 = (t - 1) * vc.ms_treatment / denominator if denominator > 0 else math.nan
    se = math.sqrt(2 * max(denominator, 0.0) / r)
    return DifferenceTest(
        diff,
        se,
        diff - Z_975 * se,
        diff + Z_975 * se,
        float(chi2),
        t - 1,
        None,
        float(stats.chi2.sf(chi2, t - 1)),
    )


def orh_rrfc(theta: np.ndarray, vc: ORVarianceComponents) -> DifferenceTest:
    """Random readers, fixed cases: F = MS(T) / MS(T*R) on (t-1) and (t-1)(r-1) df."""
    t, r = theta.shape
    return t_test(difference(theta), vc.ms_treatment, vc.ms_treatment_reader, (t - 1) * (r - 1), r)


def single_treatment(
    theta: np.ndarray, cov: np.ndarray, treatments: tuple[str, ...]
) -> dict[str, dict[str, SingleTreatment]]:
    """Each treatment's mean FOM with RRRC, FRRC and RRFC confidence intervals."""
    t, r = theta.shape
    out = {}
    for i, arm in enumerate(treatments):
        block = cov[i * r : (i + 1) * r, i * r : (i + 1) * r]
        var_i, _, cov2_i, _ = or_covariances(block, 1, r)
        out[arm] = _single(theta[i], var_i, cov2_i)
    return out


def _single(values: np.ndarray, var_i: float, cov2_i: float) -> dict[str, SingleTreatment]:
    r = values.size
    mean = float(values.mean())
    ms_r = float(values.var(ddof=1))
    cov2_pos = max(cov2_i, 0.0)
    se_rrrc = math.sqrt(ms_r / r + cov2_pos)
    df_rrrc = hillis_df(ms_r + r * cov2_pos, ms_r, r - 1)
    se_frrc = math.sqrt(var_i / r + (r - 1) / r * cov2_pos)
    se_rrfc = math.sqrt(ms_r / r)

    def t_interval(se: float, df: float | None) -> SingleTreatment:
        q = Z_975 if df is None else float(stats.t.ppf(0.975, df))
        return SingleTreatment(mean, se, df, mean - q * se, mean + q * se)

    return {
        "rrrc": t_interval(se_rrrc, float(df_rrrc)),
        "frrc": t_interval(se_frrc, None),
        "rrfc": t_interval(se_rrfc, float(r - 1)),
    }


# --- split-plot designs (Obuchowski, Gallas & Hillis, Acad Radiol 2012;19:1508-17) ---------------


def orh_split_plot(thetas: list[np.ndarray], covs: list[np.ndarray]) -> tuple[DifferenceTest, dict]:
    """ORH random-reader random-case test of treatment - control for a split-plot design.

    Block g has its own readers and cases, fully crossed inside; `thetas[g]` is its (2, r_g) table of
    figures of merit and `covs[g]` their error covariance over the block's cases. Readers of different
    blocks read different cases, so only readers of the same block share case-sampling error. Under
    the OR model, with d_j = theta_1j - theta_0j over all r readers and s2 their sample variance,
        E[s2 / r + cbar] = Var(mean d),   cbar = 2 sum_g r_g (r_g - 1) (Cov2_g - Cov3_g) / (r (r - 1)),
    which reduces to Hillis's 2 [MS(T*R) + r (Cov2 - Cov3)] / r when there is one block. As in ORH,
    cbar is truncated at 0 and the df are Hillis's (r - 1) (den / MS)^2.
    """
    d = np.concatenate([theta[1] - theta[0] for theta in thetas])
    r = d.size
    s2 = float(d.var(ddof=1))
    pairs = 0.0
    blocks = []
    for theta, cov in zip(thetas, covs, strict=True):
        r_g = theta.shape[1]
        var, cov1, cov2, cov3 = or_covariances(cov, 2, r_g)
        if r_g > 1:
            pairs += r_g * (r_g - 1) * (cov2 - cov3)
        blocks.append({"n_readers": r_g, "var_error": var, "cov1": cov1, "cov2": cov2, "cov3": cov3})
    cbar = max(2 * pairs / (r * (r - 1)), 0.0)
    variance = s2 / r + cbar
    diff = float(d.mean())
    se = math.sqrt(variance) if variance > 0 else math.nan
    df2 = hillis_df(r * variance / 2, s2 / 2, r - 1)
    f = diff**2 / variance if variance > 0 else math.nan
    half = float(stats.t.ppf(0.975, df2)) * se
    test = DifferenceTest(diff, se, diff - half, diff + half, float(f), 1, float(df2), float(stats.f.sf(f, 1, df2)))
    return test, {"cbar": cbar, "ms_reader_differences": s2, "blocks": blocks}
