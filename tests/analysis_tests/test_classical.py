"""Classical tests against values computed by hand or from textbook formulas (sources inline)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar

from analysis import classical


def test_paired_t_matches_the_textbook_formula():
    control = np.array([0.50, 0.62, 0.55, 0.70, 0.48, 0.66])
    treatment = np.array([0.58, 0.65, 0.61, 0.72, 0.60, 0.64])
    d = treatment - control
    # t = mean(d) / (sd(d) / sqrt(n)), two-sided p from Student t with n - 1 df
    t = d.mean() / (d.std(ddof=1) / math.sqrt(d.size))
    result = classical.paired_t(control, treatment)
    assert_allclose(result.statistic, t, rtol=1e-12)
    assert result.df == 5
    assert_allclose(result.p_value, 2 * stats.t.sf(abs(t), 5), rtol=1e-10)


def test_t_interval_by_hand():
    # mean 2, sd 1 (values 1, 2, 3), t_{0.975, 2} = 4.30265273 (tables)
    mean, sd, low, high = classical.t_interval(np.array([1.0, 2.0, 3.0]))
    half = 4.30265273 / math.sqrt(3)
    assert (mean, sd) == (2.0, 1.0)
    assert_allclose([low, high], [2 - half, 2 + half], rtol=1e-8)


def test_wilcoxon_exact_hand_computed():
    # |d| ranks 1..7, negative rank 3 only: W- = 3. Subsets of {1..7} summing to <= 3:
    # {}, {1}, {2}, {3}, {1,2} -> P(W <= 3) = 5/128, two-sided p = 10/128 = 0.078125.
    d = np.array([0.5, 1.0, 2.0, -1.5, 3.0, 5.0, 6.0])
    result = classical.wilcoxon_signed_rank(np.zeros(7), d)
    assert result.method == "exact" and result.zero_method == "wilcox"
    assert result.statistic == 3.0
    assert_allclose(result.p_value, 10 / 128, rtol=1e-12)
    # r = Phi^-1(1 - p/2) / sqrt(n)
    assert_allclose(result.effect_size_r, stats.norm.ppf(1 - 10 / 256) / math.sqrt(7), rtol=1e-12)


def test_wilcoxon_normal_approximation_with_ties_and_zero():
    # zero dropped (n = 9); ranks with ties: W+ = 38.5, W- = 6.5; tie groups of 3 and 2.
    # R wilcox.test(correct = TRUE): z = (W+ - n(n+1)/4 - 1/2) / sqrt(n(n+1)(2n+1)/24 - sum(t^3-t)/48)
    d = np.array([1, 1, 2, -2, 3, 0, 4, 5, -1, 6], dtype=float)
    n = 9
    z = (38.5 - n * (n + 1) / 4 - 0.5) / math.sqrt(n * (n + 1) * (2 * n + 1) / 24 - (24 + 6) / 48)
    result = classical.wilcoxon_signed_rank(np.zeros(d.size), d)
    assert result.method == "asymptotic" and result.n_nonzero == 9
    assert_allclose(result.p_value, math.erfc(z / math.sqrt(2)), rtol=1e-10)
    assert_allclose(result.effect_size_r, stats.norm.ppf(1 - result.p_value / 2) / math.sqrt(10))


def test_wilcoxon_passes_method_explicitly_like_scipy_called_directly():
    rng = np.random.default_rng(4)
    control = rng.normal(0.6, 0.1, 15)
    treatment = control + rng.normal(0.05, 0.05, 15)
    direct = stats.wilcoxon(treatment - control, zero_method="wilcox", method="exact")
    result = classical.wilcoxon_signed_rank(control, treatment)
    assert_allclose([result.statistic, result.p_value], [direct.statistic, direct.pvalue])


def test_wilcoxon_all_zero_differences_is_nan_not_an_error():
    result = classical.wilcoxon_signed_rank(np.ones(5), np.ones(5))
    assert math.isnan(result.p_value) and result.n_nonzero == 0


def test_mcnemar_exact_by_hand():
    # b = 3, c = 10: p = 2 * P(Bin(13, 1/2) <= 3) = 2 * (1 + 13 + 78 + 286) / 8192
    result = classical.mcnemar_from_counts(3, 10)
    assert result.method == "exact"
    assert_allclose(result.p_value, 2 * 378 / 8192, rtol=1e-12)


def test_mcnemar_chi_square_with_continuity_correction_by_hand():
    # b = 10, c = 20: X2 = (|10 - 20| - 1)^2 / 30 = 2.7; P(chi2_1 > x) = erfc(sqrt(x / 2))
    result = classical.mcnemar_from_counts(10, 20)
    assert result.method == "chi2_cc"
    assert_allclose(result.statistic, 2.7)
    assert_allclose(result.p_value, math.erfc(math.sqrt(2.7 / 2)), rtol=1e-12)
    # statsmodels agrees
    reference = sm_mcnemar([[5, 10], [20, 7]], exact=False, correction=True)
    assert_allclose(result.p_value, reference.pvalue, rtol=1e-12)


@pytest.mark.parametrize(("b", "c", "method"), [(12, 12, "exact"), (12, 13, "chi2_cc"), (0, 0, "exact")])
def test_mcnemar_switches_at_25_discordant_pairs(b, c, method):
    result = classical.mcnemar_from_counts(b, c)
    assert result.method == method
    if b + c == 0:
        assert result.p_value == 1.0


def test_mcnemar_counts_from_pairs():
    control = np.array([1, 1, 0, 0, 1, 0, 1])
    treatment = np.array([1, 0, 1, 1, 1, 1, 0])
    result = classical.mcnemar(control, treatment)
    assert (result.b, result.c) == (2, 3)


def test_reader_means_keep_readers_with_both_arms_only():
    data = pd.DataFrame(
        {
            "reader": ["a", "a", "a", "b", "b", "c"],
            "case": ["1", "2", "1", "1", "1", "1"],
            "arm": ["u", "u", "ai", "u", "ai", "u"],
            "y": [1.0, 0.0, 1.0, 0.0, 1.0, 1.0],
        }
    )
    means = classical.reader_means(data, "y", "u", "ai")
    assert list(means["reader"]) == ["a", "b"]
    assert_allclose(means["control"], [0.5, 0.0])
    pairs = classical.paired_readings(data, "y", "u", "ai")
    assert len(pairs) == 2 and set(pairs["case"]) == {"1"}
