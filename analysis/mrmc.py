"""Multi-reader multi-case analysis: Obuchowski-Rockette-Hillis (ORH) and Dorfman-Berbaum-Metz (DBM).

References
- Obuchowski NA, Rockette HE. Commun Stat Simul Comput 1995;24:285-308.
- Hillis SL. Stat Med 2007;26:596-619 (ORH = DBM); Acad Radiol 2008;15:647-61 (denominator df);
  Hillis SL et al. Acad Radiol 2005;12:1534-41 (fixed-reader and fixed-case analyses).
- Dorfman DD, Berbaum KS, Metz CE. Invest Radiol 1992;27:723-31.
The difference is always treatment - control. Reproduces OR-DBM MRMC 2.51 and MRMCaov on the
Van Dyke (1993) data (tests/fixtures/vandyke).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.fom import FomValues, RocCurve, ScoreArray, figure_of_merit, roc_curves, score_array

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


@dataclass(frozen=True)
class DbmResult:
    rrrc: DifferenceTest
    frrc: DifferenceTest
    rrfc: DifferenceTest
    variance_components: dict[str, float]
    mean_squares: dict[str, float]

    def to_dict(self) -> dict:
        return {
            "rrrc": self.rrrc.to_dict(),
            "frrc": self.frrc.to_dict(),
            "rrfc": self.rrfc.to_dict(),
            "variance_components": self.variance_components,
            "mean_squares": self.mean_squares,
        }


@dataclass(frozen=True)
class FomAnalysis:
    """ORH (and DBM) analysis of one figure of merit."""

    fom: str
    covariance: str
    treatments: tuple[str, str]
    readers: tuple[str, ...]
    values: np.ndarray  # (2, readers)
    rrrc: DifferenceTest
    frrc: DifferenceTest
    rrfc: DifferenceTest
    single_treatment: dict[str, dict[str, SingleTreatment]]
    variance_components: ORVarianceComponents
    dbm: DbmResult | None

    def mean(self, arm: str) -> float:
        return float(self.values[self.treatments.index(arm)].mean())

    def by_arm(self) -> dict:
        return {
            arm: {
                "mean": float(self.values[i].mean()),
                "per_reader": {r: float(v) for r, v in zip(self.readers, self.values[i], strict=True)},
            }
            for i, arm in enumerate(self.treatments)
        }

    def to_dict(self) -> dict:
        out = {
            "by_arm": self.by_arm(),
            "covariance": self.covariance,
            "rrrc": self.rrrc.to_dict(),
            "frrc": self.frrc.to_dict(),
            "rrfc": self.rrfc.to_dict(),
            "variance_components": self.variance_components.to_dict(),
            "single_treatment": {
                arm: {k: v.to_dict() for k, v in blocks.items()}
                for arm, blocks in self.single_treatment.items()
            },
        }
        if self.dbm is not None:
            out["dbm"] = self.dbm.to_dict()
        return out


@dataclass(frozen=True)
class MrmcResult:
    score: str
    truth: str
    control: str
    treatment: str
    n_readers: int
    n_cases: int
    n_positive: int
    n_negative: int
    auc: FomAnalysis
    sensitivity: FomAnalysis | None
    specificity: FomAnalysis | None
    threshold: float | None
    roc: tuple[RocCurve, ...]
    warnings: tuple[str, ...]

    def to_dict(self) -> dict:
        out = {
            "score": self.score,
            "truth": self.truth,
            "control": self.control,
            "treatment": self.treatment,
            "n_readers": self.n_readers,
            "n_cases": self.n_cases,
            "n_positive": self.n_positive,
            "n_negative": self.n_negative,
            "covariance": self.auc.covariance,
            "auc": self.auc.by_arm(),
            "rrrc": self.auc.rrrc.to_dict(),
            "frrc": self.auc.frrc.to_dict(),
            "rrfc": self.auc.rrfc.to_dict(),
            "variance_components": self.auc.variance_components.to_dict(),
            "single_treatment": self.auc.to_dict()["single_treatment"],
            "dbm": self.auc.dbm.to_dict() if self.auc.dbm else None,
            "threshold": self.threshold,
            "roc": [curve.to_dict() for curve in self.roc],
            "warnings": list(self.warnings),
        }
        for name in ("sensitivity", "specificity"):
            analysis = getattr(self, name)
            out[name] = analysis.to_dict() if analysis is not None else None
        return out


# --- entry point -------------------------------------------------------------------------------


def mrmc(
    data: pd.DataFrame,
    *,
    score: str,
    truth: str,
    control: str,
    treatment: str,
    covariance: str = "jackknife",
    threshold: float | None = None,
) -> MrmcResult:
    """ORH/DBM analysis of the empirical AUC (and sensitivity/specificity at `threshold`).

    `data` has columns reader, case, arm (text) and numeric `score` and `truth` (0/1); use
    `analysis.readings.prepare` to get there from a readings table.
    """
    scores = score_array(data, score, truth, (control, treatment))

    def analyse(name: str) -> FomAnalysis:
        return analyse_fom(figure_of_merit(scores, name, threshold), scores, covariance)

    auc = analyse("auc")
    return MrmcResult(
        score=score,
        truth=truth,
        control=control,
        treatment=treatment,
        n_readers=len(scores.readers),
        n_cases=len(scores.cases),
        n_positive=scores.n_positive,
        n_negative=scores.n_negative,
        auc=auc,
        sensitivity=analyse("sensitivity") if threshold is not None else None,
        specificity=analyse("specificity") if threshold is not None else None,
        threshold=threshold,
        roc=roc_curves(scores, figure_of_merit(scores, "auc")),
        warnings=scores.warnings,
    )


def analyse_fom(fom: FomValues, scores: ScoreArray, covariance: str) -> FomAnalysis:
    theta = fom.values
    cov = fom.covariance(covariance)
    components = or_variance_components(theta, cov)
    return FomAnalysis(
        fom=fom.name,
        covariance=covariance,
        treatments=scores.treatments,
        readers=scores.readers,
        values=theta,
        rrrc=orh_rrrc(theta, components),
        frrc=orh_frrc(theta, components),
        rrfc=orh_rrfc(theta, components),
        single_treatment=single_treatment(theta, cov, scores.treatments),
        variance_components=components,
        dbm=dbm(fom) if covariance == "jackknife" else None,
    )


# --- Obuchowski-Rockette -----------------------------------------------------------------------


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


def _difference(theta: np.ndarray) -> float:
    return float(theta[1].mean() - theta[0].mean())


def _t_test(diff: float, ms_t: float, denominator: float, df2: float, r: int) -> DifferenceTest:
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
    return _t_test(_difference(theta), vc.ms_treatment, denominator, df2, r)


def orh_frrc(theta: np.ndarray, vc: ORVarianceComponents) -> DifferenceTest:
    """Fixed readers, random cases: chi-square = (t-1) MS(T) / [Var - Cov1 + (r-1) max(Cov2-Cov3, 0)]."""
    t, r = theta.shape
    diff = _difference(theta)
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
    return _t_test(_difference(theta), vc.ms_treatment, vc.ms_treatment_reader, (t - 1) * (r - 1), r)


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


# --- Dorfman-Berbaum-Metz ----------------------------------------------------------------------


def pseudovalues(fom: FomValues) -> np.ndarray:
    """Jackknife pseudovalues n * theta - (n - 1) * theta_(-k), (t, r, cases)."""
    loo = fom.leave_one_out()
    n = loo.shape[-1]
    return n * fom.values[..., None] - (n - 1) * loo


def three_way_mean_squares(y: np.ndarray) -> dict[str, float]:
    """Mean squares of the treatments x readers x cases ANOVA without replication."""
    t, r, c = y.shape
    g = y.mean()
    m_t, m_r, m_c = y.mean(axis=(1, 2)), y.mean(axis=(0, 2)), y.mean(axis=(0, 1))
    m_tr, m_tc, m_rc = y.mean(axis=2), y.mean(axis=1), y.mean(axis=0)
    ss = {
        "T": r * c * np.sum((m_t - g) ** 2),
        "R": t * c * np.sum((m_r - g) ** 2),
        "C": t * r * np.sum((m_c - g) ** 2),
        "TR": c * np.sum((m_tr - m_t[:, None] - m_r[None, :] + g) ** 2),
        "TC": r * np.sum((m_tc - m_t[:, None] - m_c[None, :] + g) ** 2),
        "RC": t * np.sum((m_rc - m_r[:, None] - m_c[None, :] + g) ** 2),
    }
    resid = (
        y
        - m_tr[:, :, None]
        - m_tc[:, None, :]
        - m_rc[None, :, :]
        + m_t[:, None, None]
        + m_r[None, :, None]
        + m_c[None, None, :]
        - g
    )
    ss["TRC"] = np.sum(resid**2)
    df = {
        "T": t - 1,
        "R": r - 1,
        "C": c - 1,
        "TR": (t - 1) * (r - 1),
        "TC": (t - 1) * (c - 1),
        "RC": (r - 1) * (c - 1),
        "TRC": (t - 1) * (r - 1) * (c - 1),
    }
    return {k: float(ss[k] / df[k]) if df[k] > 0 else math.nan for k in ss}


def dbm(fom: FomValues) -> DbmResult:
    """DBM analysis of jackknife pseudovalues with Hillis (2008) denominator df."""
    y = pseudovalues(fom)
    t, r, c = y.shape
    ms = three_way_mean_squares(y)
    diff = _difference(fom.values)
    ms_t_per_case = ms["T"] / c
    den_rrrc = (ms["TR"] + max(ms["TC"] - ms["TRC"], 0.0)) / c
    df_rrrc = hillis_df(den_rrrc * c, ms["TR"], (t - 1) * (r - 1))
    rrrc = _t_test(diff, ms_t_per_case, den_rrrc, df_rrrc, r)
    frrc = _t_test(diff, ms_t_per_case, ms["TC"] / c, (t - 1) * (c - 1), r)
    rrfc = _t_test(diff, ms_t_per_case, ms["TR"] / c, (t - 1) * (r - 1), r)
    components = {
        "var_reader": (ms["R"] - ms["TR"] - ms["RC"] + ms["TRC"]) / (t * c),
        "var_case": (ms["C"] - ms["TC"] - ms["RC"] + ms["TRC"]) / (t * r),
        "var_treatment_reader": (ms["TR"] - ms["TRC"]) / c,
        "var_treatment_case": (ms["TC"] - ms["TRC"]) / r,
        "var_reader_case": (ms["RC"] - ms["TRC"]) / t,
        "var_error": ms["TRC"],
    }
    return DbmResult(rrrc, frrc, rrfc, components, ms)
