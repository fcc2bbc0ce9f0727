"""Malignancy display: the score, Platt scaling against statsmodels, threshold rules, the gauge."""

from __future__ import annotations

import json

import numpy as np
import pytest
import statsmodels.api as sm
from numpy.testing import assert_allclose

from inference.core.malignancy import (
    PlattCalibration,
    binary_ece,
    binary_nll,
    fit_platt,
    logit,
    malignancy_gauge,
    malignancy_score,
    malignancy_scores,
    study_threshold,
    threshold_for_sensitivity,
    youden_threshold,
)

CODES = ["MEL", "NEV", "BCC", "SK"]
MALIGNANT = {"MEL", "BCC"}


def test_score_sums_the_malignant_conditions():
    assert_allclose(malignancy_score(CODES, [0.2, 0.5, 0.1, 0.2], MALIGNANT), 0.3)
    rows = malignancy_scores(np.array([[0.2, 0.5, 0.1, 0.2], [0.0, 0.0, 0.0, 1.0], [0.6, 0.0, 0.4 + 1e-12, 0.0]]),
                             CODES, MALIGNANT)
    assert_allclose(rows, [0.3, 0.0, 1.0])  # rounding above 1 is clipped
    with pytest.raises(ValueError, match="codes"):
        malignancy_scores(np.ones(3) / 3, CODES, MALIGNANT)


def test_nll_and_ece_by_hand():
    # -(ln .8 + ln .7) / 2 = (0.22314355 + 0.35667494) / 2
    assert_allclose(binary_nll(np.array([0.8, 0.3]), np.array([1, 0])), 0.28990925, atol=1e-8)
    # Two bins: {.1, .2} mean .15, malignant rate .5 -> .35; {.8, .9} mean .85, rate 1 -> .15; halves each.
    assert_allclose(binary_ece(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 1, 1, 1]), n_bins=2), 0.25)


def overconfident_set(n: int = 400, seed: int = 3):
    """Scores whose logit is twice the true log-odds, shifted: P(y=1) = sigmoid(0.5 * logit(s) - 0.3)."""
    rng = np.random.default_rng(seed)
    scores = rng.beta(0.6, 0.6, size=n)
    truth = 1 / (1 + np.exp(-(0.5 * logit(scores) - 0.3)))
    return scores, (rng.random(n) < truth).astype(int)


def test_platt_on_labels_equals_statsmodels_logit():
    scores, labels = overconfident_set()
    fit = fit_platt(scores, labels, smoothed_targets=False)
    reference = sm.Logit(labels, sm.add_constant(logit(scores))).fit(disp=0, tol=1e-12)  # params: [b, a]
    assert fit.estimable and fit.targets == "labels"
    assert_allclose([fit.intercept, fit.slope], reference.params, rtol=1e-7)
    assert_allclose(fit.nll_after, -reference.llf / len(labels), rtol=1e-9)
    assert fit.nll_after < fit.nll_before and fit.ece_after < fit.ece_before
    assert_allclose(fit.apply(0.5), 1 / (1 + np.exp(-fit.intercept)))


def test_platt_smoothed_targets_equal_statsmodels_binomial_glm():
    scores, labels = overconfident_set(n=120, seed=5)
    n_pos = labels.sum()
    targets = np.where(labels == 1, (n_pos + 1) / (n_pos + 2), 1 / (len(labels) - n_pos + 2))
    reference = sm.GLM(targets, sm.add_constant(logit(scores)), family=sm.families.Binomial()).fit(tol=1e-12)
    fit = fit_platt(scores, labels)
    assert fit.targets == "platt"
    assert_allclose([fit.intercept, fit.slope], reference.params, rtol=1e-7)


def test_separated_set_is_not_estimable_on_labels_but_fits_with_platt_targets():
    scores, labels = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9]), np.array([0, 0, 0, 1, 1, 1])
    plain = fit_platt(scores, labels, smoothed_targets=False)
    assert not plain.estimable and "separates" in plain.reason
    assert (plain.slope, plain.intercept) == (1.0, 0.0) and plain.nll_after == plain.nll_before
    smoothed = fit_platt(scores, labels)
    assert smoothed.estimable and np.isfinite(smoothed.slope) and smoothed.slope > 0
    one_class = fit_platt([0.2, 0.4], [1, 1])
    assert not one_class.estimable and one_class.reason == "needs malignant and benign cases"
    assert json.loads(json.dumps(one_class.as_dict()))["estimable"] is False


# Positives .9 .8 .6 .4 .3, negatives .7 .5 .2 .1.
SCORES = np.array([0.9, 0.8, 0.6, 0.4, 0.3, 0.7, 0.5, 0.2, 0.1])
LABELS = np.array([1, 1, 1, 1, 1, 0, 0, 0, 0])


@pytest.mark.parametrize(("target", "value", "sensitivity", "specificity"), [
    (0.8, 0.4, 0.8, 0.5),   # ceil(.8 x 5) = 4 -> the 4th highest malignant score; .2 and .1 below it
    (0.81, 0.3, 1.0, 0.5),  # ceil(4.05) = 5 -> all five
    (0.2, 0.9, 0.2, 1.0),
])
def test_threshold_at_target_sensitivity(target, value, sensitivity, specificity):
    rule = threshold_for_sensitivity(SCORES, LABELS, target=target, scale="raw")
    assert (rule.value, rule.sensitivity, rule.specificity) == (value, sensitivity, specificity)
    assert rule.rule == "sensitivity" and rule.target == target and rule.n_cases == 9


def test_youden_threshold_by_hand():
    # J = sens + spec - 1 at .9 .8 .7 .6 .5 .4 .3 .2 .1: .2 .4 .15 .35 .1 .3 .5 .25 0 -> .3
    rule = youden_threshold(SCORES, LABELS, scale="raw")
    assert (rule.value, rule.sensitivity, rule.specificity) == (0.3, 1.0, 0.5)


def test_gauge_calibrated_value_threshold_and_flag():
    calibration = PlattCalibration(slope=2.0, intercept=-1.0, n_cases=50, n_malignant=20, targets="platt",
                                   estimable=True, reason="", nll_before=0.7, nll_after=0.6, ece_before=0.1,
                                   ece_after=0.05)
    gauge = malignancy_gauge(raw_score=0.5, threshold=study_threshold(0.25), calibration=calibration)
    # sigmoid(2 x logit(.5) - 1) = sigmoid(-1) = 0.26894142
    assert_allclose(gauge.value, 0.26894142, atol=1e-8)
    assert gauge.malignant and gauge.calibrated and gauge.raw_value == 0.5
    assert gauge.as_dict() == {"value": 0.268941, "raw_value": 0.5, "threshold": 0.25, "malignant": True,
                               "calibrated": True, "source": "taxonomy", "threshold_rule": "study"}
    below = malignancy_gauge(raw_score=0.5, threshold=study_threshold(0.3), calibration=calibration)
    assert not below.malignant
    uncalibrated = malignancy_gauge(raw_score=0.5, threshold=study_threshold(0.5, scale="raw"))
    assert uncalibrated.malignant and not uncalibrated.calibrated and uncalibrated.value == 0.5


def test_gauge_refuses_a_threshold_chosen_on_another_scale():
    raw_rule = youden_threshold(SCORES, LABELS, scale="raw")
    calibration = fit_platt(*overconfident_set())
    with pytest.raises(ValueError, match="raw-scale threshold for a calibrated value"):
        malignancy_gauge(raw_score=0.4, threshold=raw_rule, calibration=calibration)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        malignancy_gauge(raw_score=1.2, threshold=study_threshold(0.5))
