"""The malignancy display: P(malignant), its calibration, an operating threshold, and the gauge (numpy).

Score. From a probability vector over a taxonomy, P(malignant) is the sum over the taxonomy's
malignant conditions (clipped to [0, 1] against rounding); a model with a binary head gives it
directly (``source="binary_head"``).

Calibration. Platt scaling on the logit: calibrated = sigmoid(a * logit(s) + b), fitted by maximum
likelihood (Newton's method) on a labelled set. Scores are clipped to [EPS, 1 - EPS] first so a 0 or
1 has a finite logit. By default the targets are Platt's (1999) smoothed labels, (N+ + 1)/(N+ + 2)
for malignant and 1/(N- + 2) for benign cases, which keep the fit finite when the score separates
the classes (common on a small labelled set); ``smoothed_targets=False`` fits the plain 0/1 labels,
and a separated set is then reported as not estimable rather than returning a slope of 10^6.
NLL and ECE (reliability of P(malignant): equal-width bins, |malignant share - mean score| weighted
by bin size) are reported on the 0/1 labels before and after.

Threshold. The gauge's flag is "malignant" when value >= threshold, on the same scale as the value
the gauge shows (``scale``: calibrated when a calibration is applied, else raw). Rules: ``study`` (a
threshold the study fixes, e.g. its protocol's 0.5, read on the scale shown), ``sensitivity`` (on labelled data, the highest
threshold whose sensitivity reaches the target: the most specific rule that misses at most
1 - target of the malignant cases, the usual choice for a triage aid), ``youden`` (maximum
sensitivity + specificity - 1; ties go to the higher threshold). Thresholds chosen on labelled data
are chosen on the scale they are used on (calibration is monotone, so the partition is the same).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

EPS = 1e-6
ECE_BINS = 15
SCALES = ("calibrated", "raw")


def malignancy_scores(probabilities: np.ndarray, codes: Sequence[str], malignant: Collection[str]) -> np.ndarray:
    """P(malignant) of each row of probabilities [N, C] (or one vector [C]) over `codes`."""
    probs = np.asarray(probabilities, np.float64)
    if probs.shape[-1] != len(codes):
        raise ValueError(f"{probs.shape[-1]} probabilities for {len(codes)} codes")
    if not np.all(np.isfinite(probs)):
        raise ValueError("probabilities are not finite")
    mask = np.array([code in malignant for code in codes])
    return np.clip((probs * mask).sum(axis=-1), 0.0, 1.0)


def malignancy_score(codes: Sequence[str], probabilities: Sequence[float], malignant: Collection[str]) -> float:
    return float(malignancy_scores(np.asarray(probabilities), codes, malignant))


def logit(scores: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(scores, np.float64), EPS, 1 - EPS)
    return np.log(clipped) - np.log1p(-clipped)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * np.asarray(z, np.float64)))  # stable at both tails


def binary_nll(scores: np.ndarray, labels: np.ndarray) -> float:
    """Mean negative log-likelihood of 0/1 labels under P(malignant) = scores (clipped to [EPS, 1 - EPS])."""
    p = np.clip(np.asarray(scores, np.float64), EPS, 1 - EPS)
    y = np.asarray(labels, np.float64)
    return float(-(y * np.log(p) + (1 - y) * np.log1p(-p)).mean())


def binary_ece(scores: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Expected calibration error of P(malignant): sum over bins of share x |malignant rate - mean score|."""
    p = np.asarray(scores, np.float64)
    y = np.asarray(labels, np.float64)
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    size = np.bincount(bins, minlength=n_bins)
    filled = size > 0
    gap = np.abs(np.bincount(bins, y, n_bins)[filled] - np.bincount(bins, p, n_bins)[filled]) / size[filled]
    return float((size[filled] / len(p) * gap).sum())


@dataclass(frozen=True)
class PlattCalibration:
    slope: float
    intercept: float
    n_cases: int
    n_malignant: int
    targets: str  # "platt" (smoothed) or "labels"
    estimable: bool
    reason: str  # why not estimable; "" when it is
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def apply(self, scores: np.ndarray | float) -> np.ndarray | float:
        """Calibrated P(malignant); the identity (clipped) when the fit is not estimable."""
        out = sigmoid(self.slope * logit(scores) + self.intercept)
        return float(out) if np.ndim(out) == 0 else out

    def as_dict(self) -> dict[str, object]:
        return {"method": "platt", "slope": self.slope, "intercept": self.intercept, "n_cases": self.n_cases,
                "n_malignant": self.n_malignant, "targets": self.targets, "estimable": self.estimable,
                "reason": self.reason, "nll_before": self.nll_before, "nll_after": self.nll_after,
                "ece_before": self.ece_before, "ece_after": self.ece_after}


def fit_platt(scores: Sequence[float], labels: Sequence[int], *, smoothed_targets: bool = True,
              max_iter: int = 100, tol: float = 1e-10) -> PlattCalibration:
    """Platt scaling of P(malignant) on a labelled set (labels 1 = malignant)."""
    s = np.asarray(scores, np.float64)
    y = np.asarray(labels, np.int64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError("scores and labels must be 1-D and of the same length")
    if not np.all(np.isfinite(s)) or not set(np.unique(y)) <= {0, 1}:
        raise ValueError("scores must be finite and labels 0/1")
    x = logit(s)
    n_pos = int(y.sum())
    reason = _not_estimable(x, y, smoothed_targets)
    before = (binary_nll(s, y), binary_ece(s, y))
    base = dict(n_cases=len(y), n_malignant=n_pos, targets="platt" if smoothed_targets else "labels",
                nll_before=before[0], ece_before=before[1])
    if not reason:
        targets = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (len(y) - n_pos + 2)) if smoothed_targets else y
        slope, intercept, converged = _newton(x, targets.astype(np.float64), max_iter, tol)
        reason = "" if converged else f"Newton's method did not converge in {max_iter} iterations"
    if reason:
        return PlattCalibration(slope=1.0, intercept=0.0, estimable=False, reason=reason, nll_after=before[0],
                                ece_after=before[1], **base)
    calibrated = sigmoid(slope * x + intercept)
    return PlattCalibration(slope=slope, intercept=intercept, estimable=True, reason="",
                            nll_after=binary_nll(calibrated, y), ece_after=binary_ece(calibrated, y), **base)


def _not_estimable(x: np.ndarray, y: np.ndarray, smoothed: bool) -> str:
    if len(y) < 2 or y.min() == y.max():
        return "needs malignant and benign cases"
    if np.ptp(x) == 0:
        return "all scores are equal"
    if not smoothed and (x[y == 0].max() <= x[y == 1].min() or x[y == 1].max() <= x[y == 0].min()):
        return "the score separates the classes (the maximum-likelihood slope is infinite)"
    return ""


def _newton(x: np.ndarray, t: np.ndarray, max_iter: int, tol: float) -> tuple[float, float, bool]:
    """Minimise the logistic loss of targets t in [0, 1] over z = a x + b; step-halving keeps it monotone."""
    design = np.column_stack([x, np.ones_like(x)])
    theta = np.array([1.0, 0.0])

    def loss(th: np.ndarray) -> float:
        z = design @ th
        return float(np.sum(np.logaddexp(0, z) - t * z))

    current = loss(theta)
    for _ in range(max_iter):
        p = sigmoid(design @ theta)
        gradient = design.T @ (p - t)
        hessian = design.T @ (design * (p * (1 - p))[:, None])
        try:
            step = np.linalg.solve(hessian, gradient)
        except np.linalg.LinAlgError:
            return float(theta[0]), float(theta[1]), False
        for _ in range(30):
            trial = theta - step
            value = loss(trial)
            if value <= current + 1e-12:
                break
            step = step / 2
        theta, current = trial, value
        if np.max(np.abs(step)) < tol * (1 + np.max(np.abs(theta))):
            return float(theta[0]), float(theta[1]), True
    return float(theta[0]), float(theta[1]), False


@dataclass(frozen=True)
class OperatingThreshold:
    value: float
    rule: str  # "study", "sensitivity" or "youden"
    scale: str  # "calibrated" or "raw": the gauge value it applies to
    target: float | None = None  # the target sensitivity of the "sensitivity" rule
    sensitivity: float | None = None  # on the labelled set it was chosen on (None for a study threshold)
    specificity: float | None = None
    n_cases: int | None = None

    def as_dict(self) -> dict[str, object]:
        return {"value": self.value, "rule": self.rule, "scale": self.scale, "target": self.target,
                "sensitivity": self.sensitivity, "specificity": self.specificity, "n_cases": self.n_cases}


def study_threshold(value: float, *, scale: str = "calibrated") -> OperatingThreshold:
    if not 0 <= value <= 1 or scale not in SCALES:
        raise ValueError("a threshold lies in [0, 1] on the calibrated or raw scale")
    return OperatingThreshold(value=float(value), rule="study", scale=scale)


def threshold_for_sensitivity(scores: Sequence[float], labels: Sequence[int], *, target: float = 0.9,
                              scale: str = "calibrated") -> OperatingThreshold:
    """The highest threshold t with sensitivity(score >= t) >= target on the labelled set."""
    s, y = _labelled(scores, labels)
    if not 0 < target <= 1:
        raise ValueError("target sensitivity must lie in (0, 1]")
    positives = np.sort(s[y == 1])[::-1]
    needed = math.ceil(target * len(positives) - 1e-9)
    value = float(positives[max(needed, 1) - 1])
    return _evaluated(value, s, y, rule="sensitivity", scale=scale, target=target)


def youden_threshold(scores: Sequence[float], labels: Sequence[int], *, scale: str = "calibrated") -> OperatingThreshold:
    """The observed score maximising sensitivity + specificity - 1 (ties: the higher threshold)."""
    s, y = _labelled(scores, labels)
    candidates = np.unique(s)[::-1]
    positive = s[None, :] >= candidates[:, None]
    j = (positive & (y == 1)).sum(1) / (y == 1).sum() + (~positive & (y == 0)).sum(1) / (y == 0).sum()
    return _evaluated(float(candidates[int(np.argmax(j))]), s, y, rule="youden", scale=scale)


def _labelled(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, np.float64), np.asarray(labels, np.int64)
    if s.shape != y.shape or s.ndim != 1 or not np.all(np.isfinite(s)):
        raise ValueError("scores must be finite, 1-D and as long as the labels")
    if not set(np.unique(y)) == {0, 1}:
        raise ValueError("choosing a threshold needs malignant and benign cases")
    return s, y


def _evaluated(value, s, y, *, rule, scale, target=None) -> OperatingThreshold:
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES}")
    flagged = s >= value
    return OperatingThreshold(value=value, rule=rule, scale=scale, target=target,
                              sensitivity=float(flagged[y == 1].mean()), specificity=float((~flagged[y == 0]).mean()),
                              n_cases=len(y))


@dataclass(frozen=True)
class MalignancyGauge:
    """What the gauge shows: the value, the threshold mark and the flag, frozen in the reading's snapshot."""

    value: float
    raw_value: float
    threshold: float
    malignant: bool
    calibrated: bool
    source: str  # "taxonomy" (sum over malignant conditions) or "binary_head"
    threshold_rule: str

    def as_dict(self) -> dict[str, object]:
        return {"value": round(self.value, 6), "raw_value": round(self.raw_value, 6),
                "threshold": round(self.threshold, 6), "malignant": self.malignant, "calibrated": self.calibrated,
                "source": self.source, "threshold_rule": self.threshold_rule}


def malignancy_gauge(*, raw_score: float, threshold: OperatingThreshold, calibration: PlattCalibration | None = None,
                     source: str = "taxonomy") -> MalignancyGauge:
    """The gauge for one case; the threshold must be on the scale of the value shown."""
    if not 0 <= raw_score <= 1 or not math.isfinite(raw_score):
        raise ValueError("P(malignant) must lie in [0, 1]")
    calibrated = calibration is not None and calibration.estimable
    # A study's threshold is a number on whatever the gauge shows; one chosen on data has its scale.
    if threshold.rule != "study" and threshold.scale != ("calibrated" if calibrated else "raw"):
        raise ValueError(f"a {threshold.scale}-scale threshold for a {'calibrated' if calibrated else 'raw'} value")
    value = float(calibration.apply(raw_score)) if calibrated else float(raw_score)
    return MalignancyGauge(value=value, raw_value=float(raw_score), threshold=threshold.value,
                           malignant=value >= threshold.value, calibrated=calibrated, source=source,
                           threshold_rule=threshold.rule)
