"""Correlated random slopes (arm|reader) against lme4 1.1.31 (issue 11, item 5).

References in tests/fixtures/lme4 with the R call in each JSON's "source":
- binary_slopes.json: glmer(correct_top1 ~ arm + (arm|reader) + (1|case), family = binomial,
  tolPwrss = 1e-12, bobyqa rhoend = 1e-10) on binary_crossed.csv (make_fixtures_sparse.R).
- binary_slopes_exact.json: the minimum of that glmer devfun with its log|A| evaluated at the
  final PIRLS modes (make_fixtures_slopes.R). glmer's ldL2 is factored one PIRLS step early,
  which moves its deviance by ~1e-5 and the arm estimate by 2.6e-4 relative; this engine
  evaluates the Laplace approximation exactly, so estimates and SEs are held to that reference.
- gaussian_slopes_ml.json: lmer(malignancy_score ~ arm + (arm|reader) + (1|case), REML = FALSE)
  on gaussian_ml.csv (make_fixtures_slopes.R).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.formula import parse_formula
from analysis.glmm import fit_glmm, likelihood_ratio_test
from analysis.glmm.design import build_design
from analysis.glmm.slopes import SlopeLaplace, SlopeStructure

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lme4"
BINARY = "correct_top1 ~ arm + (arm|reader) + (1|case)"
GAUSSIAN = "malignancy_score ~ arm + (arm|reader) + (1|case)"


def _json(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _varcorr(reference: dict, grp: str, var1: str, var2: str | None = None) -> float:
    for row in reference["varcorr"]:
        if row["grp"] == grp and row["var1"] == var1 and (row["var2"] or None) == var2:
            return row["vcov"] if var2 is None else row["sdcor"]
    raise KeyError((grp, var1, var2))


@cache
def _binary_fit():
    return fit_glmm(pd.read_csv(FIXTURES / "binary_crossed.csv"), BINARY)


@cache
def _gaussian_fit():
    return fit_glmm(pd.read_csv(FIXTURES / "gaussian_ml.csv"), GAUSSIAN, family="gaussian")


def test_binary_slopes_match_glmer():
    # source: tests/fixtures/lme4/binary_slopes.json (glmer call in its "source")
    reference, fit = _json("binary_slopes"), _binary_fit()
    assert fit.converged and not fit.warnings
    assert_allclose(fit.log_likelihood, reference["log_likelihood"], rtol=1e-6)
    assert_allclose(
        [fit.random("reader", "(Intercept)").variance, fit.random("reader", "arm").variance,
         fit.random("reader", "arm").corr, fit.random("case").variance],
        [_varcorr(reference, "reader", "(Intercept)"), _varcorr(reference, "reader", "arm"),
         _varcorr(reference, "reader", "(Intercept)", "arm"), _varcorr(reference, "case", "(Intercept)")],
        rtol=1e-3,
    )
    # glmer's lagged log|A| shifts its optimum by < 1e-4 absolute (2.6e-4 relative on arm)
    assert_allclose(
        [e.estimate for e in fit.fixed_effects], [e["estimate"] for e in reference["fixed_effects"]], atol=1e-4
    )
    assert_allclose([e.se for e in fit.fixed_effects], [e["se"] for e in reference["fixed_effects"]], rtol=5e-3)


def test_binary_slopes_match_exact_laplace_reference():
    # source: tests/fixtures/lme4/binary_slopes_exact.json (make_fixtures_slopes.R)
    reference, fit = _json("binary_slopes_exact"), _binary_fit()
    assert_allclose(fit.log_likelihood, reference["log_likelihood"], rtol=1e-6)
    assert_allclose(
        [e.estimate for e in fit.fixed_effects], [e["estimate"] for e in reference["fixed_effects"]], rtol=1e-4
    )
    assert_allclose([e.se for e in fit.fixed_effects], [e["se"] for e in reference["fixed_effects"]], rtol=1e-3)
    assert_allclose(
        [fit.random("reader").variance, fit.random("reader", "arm").variance,
         fit.random("reader", "arm").corr, fit.random("case").variance],
        [reference["reader_intercept_variance"], reference["reader_arm_variance"],
         reference["reader_corr"], reference["case_variance"]],
        rtol=1e-3,
    )
    # theta as lme4 orders it (case first), ours follows the formula (reader block first)
    theta = reference["theta"]
    assert_allclose(fit.theta, [*theta[1:], theta[0]], rtol=1e-3)


def test_exact_laplace_log_determinant_against_r():
    # R at theta = (case 1.1, reader 0.8, 0, 0.5), beta = (0.3, 0.4): pwrss parts from glmer's
    # devfun, exact log|A| = 205.521973953559 from determinant() at its final modes; glmer's
    # ldL2 there is 205.5219858364025 (factored one PIRLS step early)
    design = build_design(pd.read_csv(FIXTURES / "binary_crossed.csv"), parse_formula(BINARY), "binomial")
    problem = SlopeLaplace(design.y, design.X, SlopeStructure(design.codes, design.n_levels, design.re_values))
    value = problem.deviance(np.array([0.8, 0.0, 0.5, 1.1, 0.3, 0.4]))
    assert_allclose(value, 2431.6688236464606 + 82.5780427856577 + 205.521973953559, rtol=1e-10)


def test_gaussian_slopes_match_lmer():
    # source: tests/fixtures/lme4/gaussian_slopes_ml.json (lmer call in its "source")
    reference, fit = _json("gaussian_slopes_ml"), _gaussian_fit()
    assert fit.converged
    assert_allclose(fit.log_likelihood, reference["log_likelihood"], rtol=1e-6)
    assert_allclose(
        [e.estimate for e in fit.fixed_effects], [e["estimate"] for e in reference["fixed_effects"]], rtol=1e-4
    )
    assert_allclose([e.se for e in fit.fixed_effects], [e["se"] for e in reference["fixed_effects"]], rtol=1e-3)
    assert_allclose(
        [fit.random("reader").variance, fit.random("reader", "arm").variance,
         fit.random("reader", "arm").corr, fit.random("case").variance, fit.random("Residual").variance],
        [_varcorr(reference, "reader", "(Intercept)"), _varcorr(reference, "reader", "arm"),
         _varcorr(reference, "reader", "(Intercept)", "arm"), _varcorr(reference, "case", "(Intercept)"),
         _varcorr(reference, "Residual", None)],
        rtol=1e-3,
    )


def test_results_json_random_effects_keys():
    payload = _binary_fit().to_dict()["random_effects"]
    assert payload[0].keys() == {"group", "term", "variance"}
    assert payload[1].keys() == {"group", "term", "variance", "corr"}
    assert payload[1]["group"] == "reader" and payload[1]["term"] == "arm"
    assert payload[2].keys() == {"group", "variance"}  # intercept-only terms keep the old keys


def test_lrt_counts_the_correlation():
    data = pd.read_csv(FIXTURES / "binary_crossed.csv")
    reduced = fit_glmm(data, "correct_top1 ~ arm + (1|reader) + (1|case)")
    chi2, df, p = likelihood_ratio_test(_binary_fit(), reduced)
    assert df == 2  # slope variance and correlation
    assert chi2 > 0 and 0 < p < 1


def test_parser_and_errors():
    term = parse_formula("y ~ arm + (1 + arm|reader)").random_terms[0]
    assert term.slopes == ("arm",) and term.intercept
    term = parse_formula("y ~ arm + (0 + arm|reader)").random_terms[0]
    assert term.slopes == ("arm",) and not term.intercept
    with pytest.raises(ValueError, match="random terms are"):
        parse_formula("y ~ (arm:x|reader)")
    data = pd.read_csv(FIXTURES / "binary_crossed.csv")
    with pytest.raises(ValueError, match="dense engine"):
        fit_glmm(data, BINARY, engine="sparse")


def test_marginal_accuracy_adds_the_slope_variance_in_the_treatment_arm():
    from analysis.mixed import arm_estimates, marginal_probability

    fit = _binary_fit()
    control, treatment = arm_estimates(fit, "binomial", "unaided", "ai")
    b0, b1 = (e.estimate for e in fit.fixed_effects)
    v0, v1, corr = fit.random("reader").variance, fit.random("reader", "arm").variance, fit.random("reader", "arm").corr
    vc = fit.random("case").variance
    assert_allclose(control.marginal, marginal_probability(b0, v0 + vc))
    assert_allclose(treatment.marginal, marginal_probability(b0 + b1, v0 + vc + v1 + 2 * corr * np.sqrt(v0 * v1)))


def test_compare_cli_end_to_end_reports_slope_variance_and_correlation(tmp_path):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    readings = tmp_path / "readings.csv"
    data = pd.read_csv(FIXTURES / "binary_crossed.csv")
    data["arm"] = data["arm"].map({0: "unaided", 1: "ai"})
    data.to_csv(readings, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "compare", "--readings", str(readings), "--outcome", "correct_top1",
         "--control", "unaided", "--treatment", "ai", "--out", str(tmp_path / "out"),
         "--glmm-formula", BINARY],
        cwd=root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    glmm = json.loads((tmp_path / "out" / "results.json").read_text())["glmm"]
    assert glmm["formula"] == BINARY and glmm["reduced_from"] is None
    slope = next(r for r in glmm["random_effects"] if r.get("term") == "arm")
    # source: tests/fixtures/lme4/binary_slopes.json (glmer)
    assert_allclose([slope["variance"], slope["corr"]], [0.329571259494872, -0.395345379953509], rtol=1e-3)
    assert all(v["marginal"] is not None for v in glmm["arm_estimates"].values())
    report = (tmp_path / "out" / "report.html").read_text()
    assert "<th>Corr</th>" in report and "-0.395" in report and "0.330" in report
