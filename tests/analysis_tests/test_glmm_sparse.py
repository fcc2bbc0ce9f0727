"""The sparse block-elimination engine, boundary fits and the fallbacks of the mixed model.

lme4 references: tests/fixtures/lme4/*.json made by make_fixtures_sparse.R (the R call of each
fit is in its "source" field); R is not needed to run these tests.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis import mixed
from analysis.formula import parse_formula
from analysis.glmm import fit_glmm
from analysis.glmm import linalg as linalg_module
from analysis.glmm import sparse as sparse_module
from analysis.glmm.binomial import BinomialLaplace
from analysis.glmm.design import build_design
from analysis.glmm.linalg import DenseFactor, Factor, ReStructure
from analysis.glmm.sparse import BlockFactor

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lme4"
FOUR = "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)"
SPARSE_CASES = ["binary_platform", "binary_sparse_cases", "binary_singular", "gaussian_platform"]


def _reference(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@cache
def _fit(name: str, engine: str = "auto") -> object:
    reference = _reference(name)
    family = "binomial" if reference["call"].startswith("glmer") else "gaussian"
    formula = re.match(r"g?lmer\((.*?), data = d", reference["call"]).group(1)
    data = pd.read_csv(FIXTURES / f"{name}.csv")
    return fit_glmm(data, formula, family=family, reml=reference["reml"], engine=engine)


def _platform(n_readers=60, n_cases=240, per_reader=8, seed=3, skew=False) -> pd.DataFrame:
    """Readers reading a few cases each in both arms; with skew most cases are read once."""
    rng = np.random.default_rng(seed)
    weights = rng.gamma(0.5, size=n_cases) if skew else np.ones(n_cases)
    weights /= weights.sum()
    reader = np.repeat(np.arange(n_readers), per_reader)
    case = np.concatenate(
        [rng.choice(n_cases, per_reader, replace=False, p=weights) for _ in range(n_readers)]
    )
    reader, case = np.repeat(reader, 2), np.repeat(case, 2)
    arm = np.tile([0, 1], len(reader) // 2)
    eta = 0.3 + 0.5 * arm + rng.normal(0, 0.7, n_readers)[reader] + rng.normal(0, 1.0, n_cases)[case]
    return pd.DataFrame(
        {
            "reader": [f"r{i:03d}" for i in reader],
            "case": [f"c{i:03d}" for i in case],
            "arm": arm,
            "correct_top1": (rng.random(len(arm)) < 1 / (1 + np.exp(-eta))).astype(int),
        }
    )


def _structure(data: pd.DataFrame, formula: str = FOUR, engine: str = "auto") -> tuple:
    design = build_design(data, parse_formula(formula), "binomial")
    return design, ReStructure(design.codes, design.n_levels, engine)


# --- agreement with lme4 -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SPARSE_CASES)
def test_sparse_shapes_match_lme4(name):
    # source: the "source" field of tests/fixtures/lme4/<name>.json (lme4 1.1.31, R 4.2.2)
    reference, result = _reference(name), _fit(name)
    assert result.n_obs == reference["n_obs"]
    assert result.converged, result.warnings
    assert_allclose(result.log_likelihood, reference["log_likelihood"], rtol=1e-6)
    for fe in reference["fixed_effects"]:
        assert_allclose(result.fixed(fe["term"]).estimate, fe["estimate"], rtol=1e-4, atol=1e-6)
        assert_allclose(result.fixed(fe["term"]).se, fe["se"], rtol=1e-3)
    for re_ in reference["random_effects"]:
        # lme4 leaves a boundary variance at ~1e-10 to 1e-8 where we report exactly 0
        assert_allclose(result.random(re_["group"]).variance, re_["variance"], rtol=1e-3, atol=1e-5)


def test_singular_fit_reports_its_boundary_components_as_lme4():
    reference, result = _reference("binary_singular"), _fit("binary_singular")
    assert reference["singular"]
    at_zero = {r["group"] for r in reference["random_effects"] if r["variance"] < 1e-6}
    assert at_zero and set(result.boundary) == at_zero
    assert all(f"(1|{g})" in " ".join(result.warnings) for g in at_zero)
    assert result.to_dict()["boundary"] == list(result.boundary)


@pytest.mark.parametrize("name", ["binary_platform", "binary_crossed", "gaussian_ml"])
def test_engines_agree_to_rounding(name):
    sparse, dense = _fit(name, "sparse"), _fit(name, "dense")
    assert_allclose(sparse.log_likelihood, dense.log_likelihood, rtol=1e-10)
    assert_allclose(
        [e.estimate for e in sparse.fixed_effects],
        [e.estimate for e in dense.fixed_effects],
        rtol=1e-6,
        atol=1e-9,
    )
    assert_allclose([e.se for e in sparse.fixed_effects], [e.se for e in dense.fixed_effects], rtol=1e-5)


# --- the factorisation itself -------------------------------------------------------------------


@pytest.mark.parametrize("per_block", [False, True], ids=["dense-C", "per-block"])
@pytest.mark.parametrize("theta", [[0.7, 1.2, 0.4, 0.3], [0.0, 1.1, 0.0, 0.6], [0.5, 0.0, 0.3, 0.0]])
def test_block_factor_equals_the_dense_factor(monkeypatch, per_block, theta):
    monkeypatch.setattr(sparse_module, "DENSE_C_ENTRIES", 0 if per_block else 10**9)
    monkeypatch.setattr(sparse_module, "DENSE_C_RATIO", 1e12)
    monkeypatch.setattr(sparse_module, "BATCH_ENTRIES", 50)  # several batches per block size
    design, dense_s = _structure(_platform(skew=True), engine="dense")
    _, sparse_s = _structure(_platform(skew=True), engine="sparse")
    assert sparse_s.plan.dense_c is (not per_block)
    rng = np.random.default_rng(0)
    theta, w = np.array(theta), rng.uniform(0.05, 0.25, len(design.y))
    dense, block = DenseFactor(dense_s, theta, w), Factor(sparse_s, theta, w)
    assert isinstance(block, BlockFactor)
    assert_allclose(block.logdet(), dense.logdet(), rtol=1e-12)
    rhs = rng.normal(size=(dense_s.q, 3))
    assert_allclose(block.solve(rhs), dense.solve(rhs), atol=1e-12)
    assert_allclose(block.solve(rhs[:, 0]), dense.solve(rhs[:, 0]), atol=1e-12)
    for got, expected in zip(block.inverse_gathers(), dense.inverse_gathers(), strict=True):
        assert_allclose(got, expected, atol=1e-12)


def test_root_is_the_nested_group_that_leaves_the_smallest_dense_block():
    # cases with case:arm nested in them are eliminated in 3 x 3 blocks; readers stay dense
    _, s = _structure(_platform())
    plan = s.plan
    assert s.engine == "sparse"
    assert [s_ for s_ in plan.e_terms] == [1, 3] and plan.b == 3
    assert plan.q_r == 60 + 120  # reader + reader:arm levels
    assert s.q_rest > plan.q_r  # the one-term elimination would keep cases in the dense part


def test_analytic_gradient_on_the_sparse_engine(monkeypatch):
    monkeypatch.setattr(sparse_module, "DENSE_C_ENTRIES", 0)
    design, s = _structure(_platform(skew=True), engine="sparse")
    problem = BinomialLaplace(design.y, design.X, s)
    x = np.array([0.6, 0.9, 0.0, 0.3, 0.2, 0.4])
    _, gradient = problem.value_and_gradient(x)
    step = 1e-5
    numeric = [
        (problem.deviance(x + e) - problem.deviance(x - e)) / (2 * step) for e in np.eye(len(x)) * step
    ]
    assert_allclose(gradient, numeric, atol=2e-4)


def test_size_is_no_cutoff_the_sparse_engine_fits_what_the_dense_one_refuses(monkeypatch):
    monkeypatch.setattr(linalg_module, "MAX_DENSE_LEVELS", 100)
    data = _platform()
    with pytest.raises(ValueError, match="dense engine supports up to 100"):
        fit_glmm(data, FOUR, engine="dense")
    result = fit_glmm(data, FOUR)
    assert result.converged and result.fixed("arm").se > 0


def test_too_large_for_both_engines_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(linalg_module, "MAX_DENSE_LEVELS", 50)
    monkeypatch.setattr(sparse_module, "MAX_DENSE_LEVELS", 50)
    with pytest.raises(ValueError, match="180 levels"):
        fit_glmm(_platform(), FOUR)


# --- fallbacks in compare ------------------------------------------------------------------------


def test_fallback_order_is_documented_and_ends_with_one_random_term():
    assert mixed.fallback_formulas(FOUR) == [
        FOUR,
        "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm)",
        "correct_top1 ~ arm + (1|reader) + (1|case)",
        "correct_top1 ~ arm + (1|reader)",
    ]
    assert mixed.fallback_formulas("y ~ arm + (1|case)") == ["y ~ arm + (1|case)"]


def _summary(data: pd.DataFrame, **kwargs):
    frame = data.assign(arm=np.where(data["arm"] == 1, "AI", "unaided"))
    return mixed.fit_mixed_model(
        frame, outcome="correct_top1", control="unaided", treatment="AI", formula=None, binary=True, **kwargs
    )


def test_compare_reports_the_next_simpler_model_and_says_why(monkeypatch):
    # the 4- and 3-term models need 180 dense levels, more than allowed here; the 2-term one fits
    monkeypatch.setattr(linalg_module, "MAX_DENSE_LEVELS", 70)
    monkeypatch.setattr(sparse_module, "MAX_DENSE_LEVELS", 70)
    summary = _summary(_platform())
    out = summary.to_dict()
    assert out["error"] is None
    assert out["formula"] == "correct_top1 ~ arm + (1|reader) + (1|case)"
    assert out["reduced_from"] == FOUR
    assert "reported instead" in out["warnings"][0] and "180 levels" in out["warnings"][0]
    assert [a["outcome"].split(":")[0] for a in out["attempts"]] == ["failed", "failed", "converged"]
    assert out["treatment_odds_ratio"]["estimate"] > 0 and out["likelihood_ratio_test"] is not None


def test_non_convergence_also_falls_back(monkeypatch):
    from analysis import glmm as glmm_package

    real = glmm_package.fit_glmm

    def flaky(data, formula, **kwargs):
        result = real(data, formula, **kwargs)
        if "case:arm" in formula:
            return replace(result, converged=False, warnings=("model failed to converge: test",))
        return result

    monkeypatch.setattr(glmm_package, "fit_glmm", flaky)
    out = _summary(_platform()).to_dict()
    assert out["reduced_from"] == FOUR
    assert out["formula"] == "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm)"
    assert out["attempts"][0]["outcome"] == "did not converge: model failed to converge: test"


def test_nothing_fits_gives_an_error_listing_every_attempt(monkeypatch):
    from analysis import glmm as glmm_package

    def broken(data, formula, **kwargs):
        raise np.linalg.LinAlgError("Schur complement not positive definite")

    monkeypatch.setattr(glmm_package, "fit_glmm", broken)
    out = _summary(_platform()).to_dict()
    assert out["error"].startswith("no mixed model could be fitted")
    assert len(out["attempts"]) == 4 and all(a["outcome"].startswith("failed") for a in out["attempts"])
    assert "(1|reader:arm)" in out["error"] and "LinAlgError" in out["error"]


def test_without_fallback_the_requested_model_is_all_that_is_tried(monkeypatch):
    monkeypatch.setattr(linalg_module, "MAX_DENSE_LEVELS", 70)
    monkeypatch.setattr(sparse_module, "MAX_DENSE_LEVELS", 70)
    out = _summary(_platform(), fallback=False).to_dict()
    assert out["error"] and out["reduced_from"] is None and len(out["attempts"]) == 1


# --- profile-likelihood intervals ---------------------------------------------------------------


@pytest.mark.parametrize("index", [0, 1], ids=["2-term", "4-term"])
def test_profile_interval_matches_lme4_confint_profile(index):
    # source: tests/fixtures/lme4/binary_profile.json (confint(fit, parm = 'arm', method = 'profile'))
    reference = _reference("binary_profile")["fits"][index]
    formula = re.match(r"glmer\((.*?), data = d", reference["call"]).group(1)
    data = pd.read_csv(FIXTURES / "binary_crossed.csv")
    result = fit_glmm(data, formula, profile=("arm",))
    low, high = result.profile_interval("arm")
    # lme4 interpolates a spline through a grid of profile points; we solve zeta = -/+ z exactly
    assert_allclose([low, high], reference["profile"], atol=2e-3)
    wald = result.odds_ratio("arm")
    assert_allclose(np.log([wald["ci_low"], wald["ci_high"]]), reference["wald"], atol=1e-4)
    assert (low, high) != pytest.approx(tuple(reference["wald"]), abs=1e-4)  # profile is not Wald
    assert result.to_dict()["profile_ci"][0]["term"] == "arm"


def test_profile_interval_of_a_gaussian_fit_is_wald_when_the_likelihood_is_quadratic():
    # with theta profiled too the LMM profile is close to, not equal to, Wald; it must bracket it
    data = pd.read_csv(FIXTURES / "gaussian_ml.csv")
    result = fit_glmm(
        data, "malignancy_score ~ arm + (1|reader) + (1|case)", family="gaussian", profile=("arm",)
    )
    low, high = result.profile_interval("arm")
    arm = result.fixed("arm")
    assert low < arm.estimate < high
    assert_allclose([low, high], [arm.estimate - 1.96 * arm.se, arm.estimate + 1.96 * arm.se], rtol=0.05)


def test_profile_needs_a_known_term_and_ml():
    data = pd.read_csv(FIXTURES / "gaussian_ml.csv")
    with pytest.raises(ValueError, match="cannot profile 'age'"):
        fit_glmm(data, "malignancy_score ~ arm + (1|reader)", family="gaussian", profile=("age",))
    with pytest.raises(ValueError, match="ML fit"):
        fit_glmm(data, "malignancy_score ~ arm + (1|reader)", family="gaussian", reml=True, profile=("arm",))


def test_compare_adds_the_profile_ci_next_to_wald_when_asked():
    wald_only = _summary(_platform()).to_dict()["treatment_odds_ratio"]
    assert "profile_ci_low" not in wald_only
    odds = _summary(_platform(), ci="profile").to_dict()["treatment_odds_ratio"]
    assert odds["ci_low"] == pytest.approx(wald_only["ci_low"])  # Wald unchanged
    assert odds["profile_ci_low"] < odds["estimate"] < odds["profile_ci_high"]
    assert odds["profile_ci_low"] != pytest.approx(odds["ci_low"], rel=1e-6)
    with pytest.raises(ValueError, match="ci must be"):
        _summary(_platform(), ci="bootstrap")
