"""Dorfman-Berbaum-Metz analysis: ANOVA of jackknife pseudovalues (Dorfman, Berbaum & Metz,
Invest Radiol 1992), with Hillis (2008) denominator df. With jackknife pseudovalues its
random-reader random-case test equals Obuchowski-Rockette's (Hillis, Stat Med 2007).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.fom import FomValues
from analysis.orh import DifferenceTest, difference, hillis_df, t_test


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
    diff = difference(fom.values)
    ms_t_per_case = ms["T"] / c
    den_rrrc = (ms["TR"] + max(ms["TC"] - ms["TRC"], 0.0)) / c
    df_rrrc = hillis_df(den_rrrc * c, ms["TR"], (t - 1) * (r - 1))
    rrrc = t_test(diff, ms_t_per_case, den_rrrc, df_rrrc, r)
    frrc = t_test(diff, ms_t_per_case, ms["TC"] / c, (t - 1) * (c - 1), r)
    rrfc = t_test(diff, ms_t_per_case, ms["TR"] / c, (t - 1) * (r - 1), r)
    components = {
        "var_reader": (ms["R"] - ms["TR"] - ms["RC"] + ms["TRC"]) / (t * c),
        "var_case": (ms["C"] - ms["TC"] - ms["RC"] + ms["TRC"]) / (t * r),
        "var_treatment_reader": (ms["TR"] - ms["TRC"]) / c,
        "var_treatment_case": (ms["TC"] - ms["TRC"]) / r,
        "var_reader_case": (ms["RC"] - ms["TRC"]) / t,
        "var_error": ms["TRC"],
    }
    return DbmResult(rrrc, frrc, rrfc, components, ms)
