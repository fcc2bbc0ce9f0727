"""Figures of merit for MRMC analysis: empirical AUC, sensitivity and specificity.

Every figure of merit here is a mean of per-case "structural components" (DeLong 1988):
AUC = mean over diseased cases of V10 = mean over non-diseased cases of V01, sensitivity =
mean over diseased cases of an indicator, specificity likewise over non-diseased cases. That
gives both covariance estimators cheaply: leave-one-case-out (jackknife) values in closed form
and the DeLong covariance from the components' sample covariances.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.readings import InputError

FOM_NAMES = ("auc", "sensitivity", "specificity")


@dataclass(frozen=True)
class ScoreArray:
    """Complete factorial data: scores[t, r, k] for treatments x readers x cases."""

    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: tuple[str, ...]
    truth: np.ndarray  # (cases,) 0/1
    scores: np.ndarray  # (treatments, readers, cases)
    warnings: tuple[str, ...] = ()

    @property
    def positives(self) -> np.ndarray:
        return self.truth == 1

    @property
    def n_positive(self) -> int:
        return int(self.positives.sum())

    @property
    def n_negative(self) -> int:
        return int((~self.positives).sum())


@dataclass(frozen=True)
class FomValues:
    """Figure of merit per (treatment, reader) with its per-case structural components."""

    name: str
    values: np.ndarray  # (t, r)
    v10: np.ndarray | None  # (t, r, n_positive)
    v01: np.ndarray | None  # (t, r, n_negative)
    positives: np.ndarray  # (cases,) bool

    @property
    def n_positive(self) -> int:
        return int(self.positives.sum())

    @property
    def n_negative(self) -> int:
        return int((~self.positives).sum())

    def leave_one_out(self) -> np.ndarray:
        """FOM with each case left out in turn, (t, r, cases) in case order."""
        out = np.empty((*self.values.shape, self.positives.size))
        for components, mask in ((self.v10, self.positives), (self.v01, ~self.positives)):
            n = int(mask.sum())
            if components is None:
                out[..., mask] = self.values[..., None]
            else:
                out[..., mask] = (n * self.values[..., None] - components) / (n - 1)
        return out

    def covariance(self, method: str) -> np.ndarray:
        """Covariance matrix of the flattened (t*r) FOM values, 'jackknife' or 'delong'."""
        if method == "jackknife":
            return jackknife_covariance(self.leave_one_out())
        if method == "delong":
            return self._delong_covariance()
        raise ValueError(f"unknown covariance method '{method}' (use jackknife or delong)")

    def _delong_covariance(self) -> np.ndarray:
        size = self.values.size
        cov = np.zeros((size, size))
        for components, n in ((self.v10, self.n_positive), (self.v01, self.n_negative)):
            if components is not None:
                flat = components.reshape(size, n)
                cov += np.atleast_2d(np.cov(flat, ddof=1)) / n
        return cov


def jackknife_covariance(leave_one_out: np.ndarray) -> np.ndarray:
    """(n-1)/n * sum_k of the outer products of the centred leave-one-out values."""
    n = leave_one_out.shape[-1]
    flat = leave_one_out.reshape(-1, n)
    centred = flat - flat.mean(axis=1, keepdims=True)
    return (n - 1) / n * centred @ centred.T


def empirical_auc(scores: ScoreArray) -> FomValues:
    """Trapezoidal (Mann-Whitney) AUC; ties between a diseased and a non-diseased case count 1/2."""
    pos = scores.scores[..., scores.positives]
    neg = scores.scores[..., ~scores.positives]
    psi = (pos[..., :, None] > neg[..., None, :]) + 0.5 * (pos[..., :, None] == neg[..., None, :])
    return FomValues(
        name="auc",
        values=psi.mean(axis=(-1, -2)),
        v10=psi.mean(axis=-1),
        v01=psi.mean(axis=-2),
        positives=scores.positives,
    )


def sensitivity(scores: ScoreArray, threshold: float) -> FomValues:
    """Fraction of diseased cases with score >= threshold."""
    hits = (scores.scores[..., scores.positives] >= threshold).astype(float)
    return FomValues("sensitivity", hits.mean(axis=-1), hits, None, scores.positives)


def specificity(scores: ScoreArray, threshold: float) -> FomValues:
    """Fraction of non-diseased cases with score < threshold."""
    hits = (scores.scores[..., ~scores.positives] < threshold).astype(float)
    return FomValues("specificity", hits.mean(axis=-1), None, hits, scores.positives)


def figure_of_merit(scores: ScoreArray, name: str, threshold: float | None = None) -> FomValues:
    if name == "auc":
        return empirical_auc(scores)
    if threshold is None:
        raise ValueError(f"{name} needs a threshold")
    if name == "sensitivity":
        return sensitivity(scores, threshold)
    if name == "specificity":
        return specificity(scores, threshold)
    raise ValueError(f"unknown figure of merit '{name}'")


# --- building the complete factorial array ---------------------------------------------------


def score_array(data: pd.DataFrame, score: str, truth: str, treatments: tuple[str, str]) -> ScoreArray:
    """Scores as a complete treatments x readers x cases array.

    Expects columns reader, case, arm (as text), score and truth (numeric). Readers without
    scores in every treatment and cases not scored by every remaining reader in every treatment
    are dropped, with a warning each; truth must be 0/1 and constant within a case.
    """
    truth_by_case = _case_truth(data, truth)
    scored = data.dropna(subset=[score])
    scored = scored[scored["arm"].isin(treatments)]
    table = scored.pivot_table(index="case", columns=["arm", "reader"], values=score, aggfunc="first")
    table, warnings = _complete(table, treatments)
    cases = tuple(table.index)
    readers = tuple(sorted(table.columns.get_level_values("reader").unique(), key=_natural))
    array = np.stack(
        [np.stack([table[(arm, reader)].to_numpy(float) for reader in readers]) for arm in treatments]
    )
    truth_values = truth_by_case.loc[list(cases)].to_numpy(int)
    result = ScoreArray(treatments, readers, cases, truth_values, array, tuple(warnings))
    _check_sizes(result)
    return result


def _case_truth(data: pd.DataFrame, truth: str) -> pd.Series:
    values = data.dropna(subset=[truth])
    if not set(np.unique(values[truth].to_numpy(float))) <= {0.0, 1.0}:
        raise InputError(f"truth column '{truth}' must be 0/1")
    per_case = values.groupby("case")[truth].agg(["min", "max"])
    conflicting = per_case.index[per_case["min"] != per_case["max"]]
    if len(conflicting):
        raise InputError(f"truth column '{truth}' differs within case '{conflicting[0]}'")
    return per_case["min"]


def _complete(table: pd.DataFrame, treatments: tuple[str, str]) -> tuple[pd.DataFrame, list[str]]:
    warnings: list[str] = []
    readers_per_arm = [
        set(table[arm].columns) if arm in table.columns.get_level_values(0) else set() for arm in treatments
    ]
    all_readers = set().union(*readers_per_arm)
    complete_readers = set.intersection(*readers_per_arm)
    for reader in sorted(all_readers - complete_readers, key=_natural):
        warnings.append(f"reader {reader} dropped: no scores in every treatment")
    if not complete_readers:
        raise InputError("no reader has scores in both treatments")
    keep = [(arm, reader) for arm in treatments for reader in sorted(complete_readers)]
    table = table[keep]
    incomplete = table.isna().any(axis=1)
    if incomplete.any():
        warnings.append(
            f"{int(incomplete.sum())} case(s) dropped: not scored by every reader in every treatment"
        )
    return table[~incomplete], warnings


def _check_sizes(scores: ScoreArray) -> None:
    if len(scores.readers) < 2:
        raise InputError("MRMC analysis needs at least 2 readers with scores in both treatments")
    if scores.n_positive < 2 or scores.n_negative < 2:
        raise InputError(
            "MRMC analysis needs at least 2 diseased and 2 non-diseased cases with complete "
            f"scores (have {scores.n_positive} and {scores.n_negative})"
        )


def _natural(label: str) -> tuple:
    """Sort '2' before '10' when labels are numbers."""
    try:
        return (0, float(label), label)
    except ValueError:
        return (1, 0.0, label)


# --- ROC curves --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RocCurve:
    arm: str
    reader: str  # "pooled" for all readers' readings together
    fpr: tuple[float, ...]
    tpr: tuple[float, ...]
    auc: float

    def to_dict(self) -> dict:
        return {
            "arm": self.arm,
            "reader": self.reader,
            "fpr": list(self.fpr),
            "tpr": list(self.tpr),
            "auc": self.auc,
        }


def roc_points(scores: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical ROC: (fpr, tpr) calling 'positive' at score >= each distinct score, from (0, 0)."""
    scores = np.asarray(scores, dtype=float)
    truth = np.asarray(truth).astype(bool)
    thresholds = np.unique(scores)[::-1]
    tpr = [(scores[truth] >= t).mean() for t in thresholds]
    fpr = [(scores[~truth] >= t).mean() for t in thresholds]
    return np.concatenate([[0.0], fpr]), np.concatenate([[0.0], tpr])


def roc_curves(scores: ScoreArray, auc: FomValues) -> tuple[RocCurve, ...]:
    curves = []
    for i, arm in enumerate(scores.treatments):
        for j, reader in enumerate(scores.readers):
            fpr, tpr = roc_points(scores.scores[i, j], scores.truth)
            curves.append(RocCurve(arm, reader, tuple(fpr), tuple(tpr), float(auc.values[i, j])))
        pooled_scores = scores.scores[i].ravel()
        pooled_truth = np.tile(scores.truth, len(scores.readers))
        fpr, tpr = roc_points(pooled_scores, pooled_truth)
        curves.append(RocCurve(arm, "pooled", tuple(fpr), tuple(tpr), _trapezoid(fpr, tpr)))
    return tuple(curves)


def _trapezoid(fpr: np.ndarray, tpr: np.ndarray) -> float:
    x = np.concatenate([fpr, [1.0]])
    y = np.concatenate([tpr, [1.0]])
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2))
