"""Power: the analytic paired t against the noncentral t, and the simulation's calibration."""

from __future__ import annotations

import math

from numpy.testing import assert_allclose
from scipy import stats

from analysis.power import paired_t_power, paired_t_readers, simulate_power
from analysis.simulate import StudySpec


def test_paired_t_power_equals_noncentral_t():
    # independent: power = P(|T| > t_crit), T ~ noncentral t(df = n - 1, nc = d sqrt(n))
    d, n = 0.05 / 0.1, 20
    crit = stats.t.ppf(0.975, n - 1)
    nc = d * math.sqrt(n)
    expected = stats.nct.sf(crit, n - 1, nc) + stats.nct.cdf(-crit, n - 1, nc)
    assert_allclose(paired_t_power(0.05, 0.1, n), expected, rtol=1e-8)


def test_paired_t_readers_for_a_medium_effect():
    # Cohen (1988), one-sample/paired t, d = 0.5, alpha 0.05 two-sided, power 0.80: n = 34
    assert paired_t_readers(0.05, 0.1, power=0.8) == 34


def test_simulated_null_rejects_at_about_alpha():
    # no case:arm variance, so reader differences are independent and the t-test is exact
    spec = StudySpec(n_readers=10, n_cases=20, control_accuracy=0.6, treatment_accuracy=0.6, var_case_arm=0.0)
    result = simulate_power(spec, n_sim=300, seed=1)
    estimate = result.estimates[0]
    assert estimate.method == "reader_t" and estimate.n_analysed + estimate.n_failed == 300
    assert 0.01 <= estimate.power <= 0.10
    assert estimate.ci_low <= 0.05 <= estimate.ci_high


def test_simulated_power_grows_with_readers_and_is_reproducible():
    small = StudySpec(n_readers=6, n_cases=30, control_accuracy=0.6, treatment_accuracy=0.72)
    large = StudySpec(n_readers=24, n_cases=30, control_accuracy=0.6, treatment_accuracy=0.72)
    p_small = simulate_power(small, n_sim=100, seed=2)
    p_large = simulate_power(large, n_sim=100, seed=2)
    assert p_large.estimates[0].power > p_small.estimates[0].power
    assert p_large.estimates[0].power > 0.8
    assert simulate_power(small, n_sim=100, seed=2).estimates == p_small.estimates
    assert 0.05 < p_large.mean_difference < 0.2
    assert 0 < p_large.paired_t_power <= 1


def test_parallel_groups_use_welch_on_reader_means():
    spec = StudySpec(n_readers=12, n_cases=20, design="parallel")
    result = simulate_power(spec, n_sim=30, seed=3)
    assert math.isnan(result.paired_t_power)
    assert result.estimates[0].n_analysed == 30


def test_glmm_power_runs_with_the_mixed_model():
    spec = StudySpec(n_readers=6, n_cases=12, control_accuracy=0.5, treatment_accuracy=0.8)
    result = simulate_power(spec, n_sim=3, seed=4, methods=("reader_t", "glmm"))
    glmm = {e.method: e for e in result.estimates}["glmm"]
    assert glmm.n_analysed + glmm.n_failed == 3
    assert 0 <= glmm.power <= 1 or glmm.n_analysed == 0
