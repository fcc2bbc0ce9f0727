"""Power: the analytic paired t against the noncentral t, and the simulation's calibration."""

from __future__ import annotations

import math

import pytest
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


def test_glmm_power_fast_path_equals_two_full_fits():
    # the warm-started, Hessian-free LRT gives the p-value of two ordinary fits + anova
    import numpy as np

    from analysis.glmm import fit_glmm, likelihood_ratio_test
    from analysis.mixed import default_formula, reduced_formula
    from analysis.power import GlmmLrt
    from analysis.simulate import simulate_outcomes

    spec = StudySpec(n_readers=8, n_cases=20, control_accuracy=0.5, treatment_accuracy=0.7)
    first = simulate_outcomes(spec, np.random.default_rng(1))
    fitter = GlmmLrt(first)
    for seed in (1, 2, 3):  # the first fit cold, then warm-started from the previous optimum
        data = simulate_outcomes(spec, np.random.default_rng(seed))
        assert fitter.same_design(data)
        fast = fitter.p_value(data["correct"].to_numpy(float))
        frame = data[["reader", "case", "arm", "correct"]]
        full = fit_glmm(frame, default_formula("correct"))
        reduced = fit_glmm(frame, reduced_formula(default_formula("correct")))
        assert fast == pytest.approx(likelihood_ratio_test(full, reduced)[2], rel=1e-4, abs=1e-8)


def test_glmm_power_does_not_depend_on_jobs_and_reports_progress():
    spec = StudySpec(n_readers=6, n_cases=12, control_accuracy=0.5, treatment_accuracy=0.8)
    seen = []
    one = simulate_power(
        spec, n_sim=6, seed=7, methods=("reader_t", "glmm"), progress=lambda d, t: seen.append((d, t))
    )
    two = simulate_power(spec, n_sim=6, seed=7, methods=("reader_t", "glmm"), jobs=2)
    assert one.to_dict() == two.to_dict()
    assert seen[-1] == (6, 6)
    glmm = {e.method: e for e in one.estimates}["glmm"]
    assert glmm.ci_low <= glmm.power <= glmm.ci_high  # Monte-Carlo (Clopper-Pearson) interval


def test_power_curve_over_readers_and_cases(tmp_path):
    import json

    from analysis.cli import main

    code = main(["power", "--readers", "4", "6", "--cases", "10", "--n-sim", "4", "--out", str(tmp_path)])
    assert code == 0
    curve = json.loads((tmp_path / "power.json").read_text())["curve"]
    assert [(row["n_readers"], row["n_cases"], row["method"]) for row in curve] == [
        (4, 10, "reader_t"),
        (6, 10, "reader_t"),
    ]
    assert all(0 <= row["ci_low"] <= row["power"] <= row["ci_high"] <= 1 for row in curve)
