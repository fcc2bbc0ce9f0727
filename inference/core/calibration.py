"""Temperature scaling (Guo et al. 2017): one scalar fitted by minimum negative log-likelihood."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from .maths import log_softmax, softmax

TEMPERATURE_BOUNDS = (1e-2, 1e3)


@dataclass(frozen=True)
class CalibrationResult:
    temperature: float
    n_cases: int
    nll_before: float
    nll_after: float
    ece_before: float
    ece_after: float

    def as_dict(self) -> dict[str, float | int]:
        return {
            "temperature": self.temperature,
            "n_cases": self.n_cases,
            "nll_before": self.nll_before,
            "nll_after": self.nll_after,
            "ece_before": self.ece_before,
            "ece_after": self.ece_after,
        }


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of the true labels."""
    labels = np.asarray(labels, int)
    log_probs = log_softmax(logits, temperature)
    return float(-log_probs[np.arange(len(labels)), labels].mean())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, n_bins: int = 15) -> float:
    """Top-1 ECE with equal-width confidence bins: sum over bins of |accuracy - confidence| x share."""
    probs = np.asarray(probs, np.float64)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == np.asarray(labels, int)).astype(float)
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    error = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        error += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(error)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> CalibrationResult:
    """Minimise NLL over log(temperature), bounded; reports NLL and ECE at T = 1 and at the fit."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, int)
    if len(labels) < 2:
        raise ValueError("calibration needs at least two labelled cases")
    low, high = np.log(TEMPERATURE_BOUNDS)
    fit = minimize_scalar(lambda log_t: nll(logits, labels, float(np.exp(log_t))), bounds=(low, high),
                          method="bounded", options={"xatol": 1e-6})
    temperature = float(np.exp(fit.x))
    return CalibrationResult(
        temperature=temperature,
        n_cases=len(labels),
        nll_before=nll(logits, labels, 1.0),
        nll_after=nll(logits, labels, temperature),
        ece_before=expected_calibration_error(softmax(logits), labels),
        ece_after=expected_calibration_error(softmax(logits, temperature), labels),
    )
