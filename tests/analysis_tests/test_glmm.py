"""The mixed-model engine against lme4 reference fits, plus its warnings, errors and pieces.

Reference values: tests/fixtures/lme4/*.json, produced by make_fixtures.R next to them; each JSON
names the exact R call and the R and lme4 versions in its "source" field. R is not needed here.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.formula import parse_formula
from analysis.glmm import FixedEffect, GlmmResult, RandomEffect, fit_glmm, likelihood_ratio_test
from analysis.glmm import fit as fit_module
from analysis.glmm.binomial import BinomialLaplace
from analysis.glmm.design import build_design
from analysis.glmm.linalg import ReStructure

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lme4"
CASES = [
    "binary_crossed",
    "binary_groups",
    "binary_boundary",
    "gaussian_ml",
    "gaussian_reml",
    "gaussian_small_reader",
]


def _reference(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _formula(call: str) -> str:
    return re.match(r"g?lmer\((.*?), data = d", call).group(1)


@cache
def _fit(name: str) -> GlmmResult:
    reference = _reference(name)
    family = "binomial" if reference["call"].startswith("glmer") else "gaussian"
    data = pd.read_csv(FIXTURES / f"{name}.csv")
    return fit_glmm(data, _formula(reference["call"]), family=family, reml=reference["reml"])


def _compare(result: GlmmResult, reference: dict, rtol: float, variance_atol: float) -> None:
    terms = [fe["term"] for fe in reference["fixed_effects"]]
    assert [fe.term for fe in result.fixed_effects] == terms
    assert_allclose(
        [result.fixed(t).estimate for t in terms],
        [fe["estimate"] for fe in reference["fixed_effects"]],
        rtol=rtol,
    )
    assert_allclose(
        [result.fixed(t).se for t in terms], [fe["se"] for fe in reference["fixed_effects"]], rtol=rtol
    )
    groups = [re_["group"] for re_ in reference["random_effects"]]
    assert_allclose(
        [result.random(g).variance for g in groups],
        [re_["variance"] for re_ in reference["random_effects"]],
        rtol=rtol,
        atol=variance_atol,
    )


@pytest.mark.parametrize("name", CASES)
def test_matches_lme4_to_three_significant_digits(name):
    # source: the "source" field of tests/fixtures/lme4/<name>.json (lme4 1.1.31, R 4.2.2)
    reference, result = _reference(name), _fit(name)
    assert result.n_obs == reference["n_obs"]
    assert result.converged
    _compare(result, reference, rtol=1e-3, variance_atol=1e-6)
    assert_allclose(result.log_likelihood, reference["log_likelihood"], rtol=1e-6)


@pytest.mark.parametrize("name", ["binary_crossed", "binary_groups", "binary_boundary"])
def test_close_to_glmer_with_default_settings(name):
    # Plain glmer() stops PIRLS at tolPwrss = 1e-7 and evaluates log|L| one iterate early, which
    # moves its Hessian standard errors by up to ~1 % from the Laplace approximation as defined
    # (see make_fixtures.R). We evaluate the definition, so agreement here is to ~2 %.
    defaults = _reference(name)["lme4_defaults"]
    _compare(_fit(name), defaults, rtol=2e-2, variance_atol=1e-3)
    assert_allclose(_fit(name).log_likelihood, defaults["log_likelihood"], atol=5e-3)


def test_method_family_and_random_effect_names():
    binary, gaussian = _fit("binary_crossed"), _fit("gaussian_reml")
    assert (binary.family, binary.method) == ("binomial", "Laplace (ML)")
    assert [r.group for r in binary.random_effects] == ["reader", "case", "reader:arm", "case:arm"]
    assert (gaussian.family, gaussian.method) == ("gaussian", "REML")
    assert gaussian.random_effects[-1].group == "Residual"
    assert _fit("gaussian_ml").method == "ML"


def test_r_style_names_for_categorical_terms_and_interactions():
    names = [fe.term for fe in _fit("binary_groups").fixed_effects]
    assert names == [
        "(Intercept)",
        "arm",
        "reader_groupdermatologist",
        "reader_groupresident",
        "confidence",
        "arm:reader_groupdermatologist",
        "arm:reader_groupresident",
    ]


def test_boundary_fit_is_reported_not_hidden():
    result = _fit("binary_boundary")
    assert result.random("reader").variance == 0.0
    assert result.converged  # lme4 too: a singular fit is a converged fit on the boundary
    assert any("boundary (singular) fit" in w and "(1|reader)" in w for w in result.warnings)
    assert _reference("binary_boundary")["singular"]


def test_likelihood_ratio_test_matches_anova():
    reference = _reference("binary_crossed")["likelihood_ratio_test"]
    data = pd.read_csv(FIXTURES / "binary_crossed.csv")
    reduced = fit_glmm(data, _formula(reference["reduced_call"]))
    assert_allclose(reduced.log_likelihood, reference["reduced_log_likelihood"], rtol=1e-6)
    chi2, df, p = likelihood_ratio_test(_fit("binary_crossed"), reduced)
    assert df == reference["df"]
    assert_allclose([chi2, p], [reference["chi2"], reference["p_value"]], rtol=1e-3)


def test_likelihood_ratio_test_rejects_incomparable_fits():
    full = _fit("binary_crossed")
    with pytest.raises(ValueError, match="more parameters"):
        likelihood_ratio_test(full, full)
    with pytest.raises(ValueError, match="different rows"):
        likelihood_ratio_test(full, _fit("binary_boundary"))
    with pytest.raises(ValueError, match="same family"):
        likelihood_ratio_test(full, _fit("gaussian_ml"))


def test_to_dict_is_json_ready_and_odds_ratio_is_wald():
    result = _fit("binary_crossed")
    payload = json.loads(json.dumps(result.to_dict()))
    for key in (
        "formula",
        "method",
        "converged",
        "log_likelihood",
        "fixed_effects",
        "random_effects",
        "warnings",
    ):
        assert key in payload
    assert set(payload["fixed_effects"][0]) == {"term", "estimate", "se", "z", "p_value"}
    assert set(payload["random_effects"][0]) == {"group", "variance"}
    arm = result.fixed("arm")
    odds = result.odds_ratio("arm")
    assert_allclose(odds["estimate"], np.exp(arm.estimate))
    assert_allclose(
        [np.log(odds["ci_low"]), np.log(odds["ci_high"])],
        [arm.estimate - 1.959964 * arm.se, arm.estimate + 1.959964 * arm.se],
        rtol=1e-6,
    )
    assert_allclose(arm.z, arm.estimate / arm.se)
    with pytest.raises(KeyError, match="arm"):
        result.fixed("treatment")


def test_public_dataclasses_are_frozen():
    effect = FixedEffect(term="arm", estimate=1.0, se=0.5, z=2.0, p_value=0.05)
    with pytest.raises(AttributeError):
        effect.estimate = 2.0  # type: ignore[misc]
    assert RandomEffect(group="reader", variance=0.1).group == "reader"


def _small_readings(seed: int = 7, n_readers: int = 8, n_cases: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    reader = np.repeat(np.arange(n_readers), n_cases * 2)
    case = np.tile(np.repeat(np.arange(n_cases), 2), n_readers)
    arm = np.tile([0, 1], n_readers * n_cases)
    eta = 0.2 + 0.6 * arm + rng.normal(0, 0.7, n_readers)[reader] + rng.normal(0, 1.0, n_cases)[case]
    return pd.DataFrame(
        {
            "reader": [f"r{i}" for i in reader],
            "case": [f"c{i}" for i in case],
            "arm": arm,
            "correct_top1": (rng.random(len(arm)) < 1 / (1 + np.exp(-eta))).astype(int),
        }
    )


def test_analytic_gradient_matches_finite_differences():
    data = _small_readings()
    formula = "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm)"
    design = build_design(data, parse_formula(formula), "binomial")
    problem = BinomialLaplace(design.y, design.X, ReStructure(design.codes, design.n_levels))
    for x in ([0.7, 1.1, 0.3, 0.1, 0.5], [0.0, 0.9, -0.4, 0.2, 0.4]):
        x = np.array(x)
        _, gradient = problem.value_and_gradient(x)
        step = 1e-5
        numeric = [
            (problem.deviance(x + e) - problem.deviance(x - e)) / (2 * step) for e in np.eye(len(x)) * step
        ]
        assert_allclose(gradient, numeric, atol=1e-4)


def test_single_random_term_and_missing_rows():
    data = _small_readings()
    data.loc[[0, 5], "correct_top1"] = np.nan
    result = fit_glmm(data, "correct_top1 ~ arm + (1|case)")
    assert result.n_obs == len(data) - 2
    assert any("2 rows with missing values" in w for w in result.warnings)
    assert result.converged and result.fixed("arm").se > 0


def test_separation_is_warned():
    data = _small_readings()
    data["marker"] = data["correct_top1"]  # a covariate that predicts the outcome perfectly
    result = fit_glmm(data, "correct_top1 ~ marker + (1|reader)")
    assert any("separation" in w and "marker" in w for w in result.warnings)


def test_non_convergence_is_reported(monkeypatch):
    monkeypatch.setattr(fit_module, "GRADIENT_TOL", 0.0)
    result = fit_glmm(_small_readings(), "correct_top1 ~ arm + (1|reader) + (1|case)")
    assert not result.converged
    assert any("failed to converge" in w for w in result.warnings)


def test_gaussian_family_reports_residual_variance():
    data = _small_readings()
    data["score"] = data["correct_top1"] * 10.0 + np.arange(len(data)) % 7
    result = fit_glmm(data, "score ~ arm + (1|reader) + (1|case)", family="gaussian", reml=True)
    assert result.random("Residual").variance > 0
    assert result.method == "REML"


@pytest.mark.parametrize(
    ("formula", "family", "message"),
    [
        ("correct_top1 ~ arm + (1|surgeon)", "binomial", "'surgeon'"),
        ("correct_top1 ~ arm + (1|reader)", "poisson", "family"),
        ("correct_top1 ~ arm", "binomial", "no random term"),
        ("reader ~ arm + (1|case)", "binomial", "'reader' must be numeric"),
        ("score ~ arm + (1|case)", "binomial", "'score' must be 0/1"),
        ("constant ~ arm + (1|case)", "binomial", "'constant' is constant"),
    ],
)
def test_bad_input_raises_value_error_naming_the_column(formula, family, message):
    data = _small_readings()
    data["score"] = np.linspace(0, 3, len(data))
    data["constant"] = 1
    with pytest.raises(ValueError, match=message):
        fit_glmm(data, formula, family=family)


def test_reml_is_for_gaussian_only():
    with pytest.raises(ValueError, match="REML"):
        fit_glmm(_small_readings(), "correct_top1 ~ arm + (1|reader)", reml=True)


def test_design_follows_r_model_matrix_conventions():
    data = pd.read_csv(FIXTURES / "binary_groups.csv")
    data["ai"] = np.where(data["arm"] == 1, "assisted", "unaided")
    data["flag"] = data["confidence"] > 3

    def names(formula: str) -> tuple[str, ...]:
        return build_design(data, parse_formula(formula), "binomial").column_names

    # no intercept: the first factor gets a column per level (R's contrasts rule)
    assert names("correct_top1 ~ 0 + reader_group + (1|reader)") == (
        "reader_groupGP",
        "reader_groupdermatologist",
        "reader_groupresident",
    )
    assert names("correct_top1 ~ ai * flag + (1|reader)") == (
        "(Intercept)",
        "aiunaided",
        "flagTRUE",
        "aiunaided:flagTRUE",
    )
    # aliased columns are dropped with a warning, as lme4 does
    data["arm_copy"] = data["arm"]
    design = build_design(data, parse_formula("correct_top1 ~ arm + arm_copy + (1|reader)"), "binomial")
    assert design.column_names == ("(Intercept)", "arm") and design.dropped_columns == ("arm_copy",)


def test_hessian_fallback_is_reported(monkeypatch):
    monkeypatch.setattr(fit_module, "_hessian_vcov", lambda h, x, n_theta: None)
    result = fit_glmm(_small_readings(), "correct_top1 ~ arm + (1|reader) + (1|case)")
    assert any("conditional (RX)" in w for w in result.warnings)
    assert result.fixed("arm").se > 0
