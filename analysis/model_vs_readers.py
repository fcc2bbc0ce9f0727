"""The model as a fixed reader against the random reader population, on the empirical AUC.

1T-RRRC (RJafroc's ``StSignificanceTestingCadVsRad(method = "1T-RRRC")``, Chakraborty 2017, from
Hillis 2007's single-treatment ORH): psi_j = AUC_j - AUC_model for each reader j on the same cases;
the cases are resampled jointly for the model and the readers through the jackknife covariance of
the psi_j (Var, Cov2), and
    MS_den = MS_R(psi) + max(r Cov2, 0),  t = mean(psi) / sqrt(MS_den / r),  ddf = MS_den^2 / (MS_R^2 / (r - 1)).
This is never a t-test whose "n" comes from resampling: the reader population gives the df. We report
model - readers (the sign flipped from RJafroc's RAD - CAD). Beside it a two-way bootstrap (readers and
cases drawn independently, the same case draw for the model and every reader; percentile CI) and the
share of readers whose AUC the model exceeds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.fom import empirical_auc, jackknife_covariance, score_array
from analysis.readings import InputError

N_BOOTSTRAP = 2000


@dataclass(frozen=True)
class ModelVsReaders:
    arm: str
    n_readers: int
    n_positive: int
    n_negative: int
    model_auc: float
    readers_auc: float
    per_reader: dict[str, float]
    difference: float  # model - readers' mean
    se: float
    df: float
    t: float
    p_value: float
    ci_low: float
    ci_high: float
    var_error: float
    cov2: float
    bootstrap_ci_low: float
    bootstrap_ci_high: float
    n_bootstrap: int
    readers_beaten: int
    readers_tied: int

    @property
    def share_beaten(self) -> float:
        return self.readers_beaten / self.n_readers if self.n_readers else math.nan

    def to_dict(self) -> dict:
        return dict(self.__dict__) | {"share_beaten": self.share_beaten, "method": "1T-RRRC (RJafroc), model - readers"}


def model_vs_readers(
    data: pd.DataFrame, *, score: str, truth: str, arm: str, model_scores: pd.Series,
    n_bootstrap: int = N_BOOTSTRAP, seed: int = 0,
) -> ModelVsReaders:
    """`data`: readings (reader, case, arm, score, truth); `model_scores`: the model's score by case."""
    rows = data[data["arm"] == arm]
    model = model_scores.dropna()
    rows = rows[rows["case"].isin(model.index)]
    if rows.empty:
        raise InputError(f"no case read in arm '{arm}' has a model score")
    model_rows = rows.drop_duplicates("case")[["case", truth]].assign(arm="__model__")
    readers = sorted(rows["reader"].unique())
    model_rows = pd.concat([model_rows.assign(reader=r) for r in readers], ignore_index=True)
    model_rows[score] = model_rows["case"].map(model).astype(float)
    both = pd.concat([model_rows, rows[["reader", "case", "arm", score, truth]]], ignore_index=True)
    scores = score_array(both, score, truth, ("__model__", arm))  # drops readers / cases not complete
    fom = empirical_auc(scores)
    theta = fom.values  # (2, r): row 0 the model (same for every reader), row 1 the readers
    psi = theta[1] - theta[0]
    loo = fom.leave_one_out()
    cov = jackknife_covariance(loo[1] - loo[0])  # cases resampled jointly for model and readers
    r = psi.size
    var_error = float(np.mean(np.diag(cov)))
    cov2 = float(cov[~np.eye(r, dtype=bool)].mean())
    ms_r = float(psi.var(ddof=1))
    ms_den = ms_r + max(r * cov2, 0.0)
    se = math.sqrt(ms_den / r)
    df = ms_den**2 / (ms_r**2 / (r - 1)) if ms_r > 0 else math.inf
    t = float(psi.mean() / se) if se > 0 else math.nan
    p = float(2 * stats.t.sf(abs(t), df)) if math.isfinite(df) else float(2 * stats.norm.sf(abs(t)))
    half = (float(stats.t.ppf(0.975, df)) if math.isfinite(df) else 1.959964) * se
    difference = -float(psi.mean())
    low, high = _two_way_bootstrap(scores.scores, scores.truth, n_bootstrap, seed)
    model_auc = float(theta[0, 0])
    return ModelVsReaders(
        arm, r, scores.n_positive, scores.n_negative, model_auc, float(theta[1].mean()),
        {reader: float(v) for reader, v in zip(scores.readers, theta[1], strict=True)},
        difference, se, float(df), -t, p, difference - half, difference + half, var_error, cov2, low, high,
        n_bootstrap, int((theta[1] < model_auc).sum()), int(np.isclose(theta[1], model_auc).sum()),
    )


def _two_way_bootstrap(scores: np.ndarray, truth: np.ndarray, n: int, seed: int) -> tuple[float, float]:
    """Percentile CI of AUC_model - mean AUC_readers, readers and cases (by truth class) drawn independently."""
    if n <= 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    pos, neg = truth == 1, truth == 0

    def psi_of(s: np.ndarray) -> np.ndarray:  # (readers, negatives, positives)
        x, y = s[:, pos][:, None, :], s[:, neg][:, :, None]
        return (x > y) + 0.5 * (x == y)

    model_psi = psi_of(scores[0][:1])[0]
    reader_psi = psi_of(scores[1])
    r, n0, n1 = reader_psi.shape
    out = np.empty(n)
    for b in range(n):
        w0 = np.bincount(rng.integers(0, n0, n0), minlength=n0) / n0
        w1 = np.bincount(rng.integers(0, n1, n1), minlength=n1) / n1
        wr = np.bincount(rng.integers(0, r, r), minlength=r) / r
        model_auc = w0 @ model_psi @ w1
        reader_auc = np.einsum("i,rij,j->r", w0, reader_psi, w1)
        out[b] = model_auc - wr @ reader_auc
    low, high = np.percentile(out, [2.5, 97.5])
    return float(low), float(high)
