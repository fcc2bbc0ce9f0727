"""k arms (issue 14): `compare_arms` against lme4 and statsmodels; any two of k arms in compare/reliance.

Reference values: tests/fixtures/lme4/binary_arms.json, made by make_fixtures_arms.R next to it
(glmer at a tight PIRLS tolerance, anova() for the LRTs, p.adjust(method = "holm")); Holm also
against statsmodels' multipletests; reader-level numbers against pandas/scipy on the same table.
"""

from __future__ import annotations

import json
import math
import re
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import integrate, special, stats
from statsmodels.stats.multitest import multipletests

from analysis.compare import compare
from analysis.interaction import holm
from analysis.multi_arm import compare_arms
from analysis.multi_arm_glmm import pooled_formula
from analysis.readings import InputError
from analysis.reliance import reliance
from analysis.simulate import StudySpec, simulate_study

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "lme4"
ARMS = ("unaided", "top3", "similar")


@cache
def _reference() -> dict:
    return json.loads((FIXTURES / "binary_arms.json").read_text())


@cache
def _table() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "binary_arms.csv")


def _formula(call: str) -> str:
    return re.match(r"glmer\((.*?), data = d", call).group(1)


@cache
def _fit(model: str, p_method: str = "lrt"):
    formula = _formula(_reference()[model]["call"])
    return compare_arms(_table(), outcome="correct_top1", arms=ARMS, glmm_formula=formula, p_method=p_method)


# --- Holm -------------------------------------------------------------------------------------------


def test_holm_matches_statsmodels_multipletests():
    rng = np.random.default_rng(14)
    for size in (1, 2, 3, 5, 12):
        p = rng.uniform(0, 0.2, size) ** 2
        p[: size // 3] = p[-1]  # ties
        assert_allclose(holm(list(p)), multipletests(p, method="holm")[1], rtol=1e-12)
    # a hand case: 0.01, 0.04, 0.03 -> sorted 0.01*3, 0.03*2, max(0.04*1, 0.06)
    assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06], rtol=1e-12)
    adjusted = holm([0.02, math.nan, 0.5])  # NaN is left out of the family and stays NaN
    assert math.isnan(adjusted[1])
    assert_allclose([adjusted[0], adjusted[2]], multipletests([0.02, 0.5], method="holm")[1])


# --- the k-arm mixed model against lme4 ----------------------------------------------------------------


@pytest.mark.parametrize("model", ["two_term", "four_term"])
def test_glmm_matches_lme4_glmer(model):
    reference = _reference()[model]
    glmm = _fit(model).glmm
    assert glmm.error is None and glmm.converged and glmm.reduced_from is None
    assert glmm.n_obs == reference["n_obs"] == 2160
    assert_allclose(glmm.log_likelihood, reference["log_likelihood"], rtol=1e-8)
    fixed = {row["term"]: row for row in glmm.fixed_effects}
    for row in reference["fixed_effects"]:
        assert_allclose(fixed[row["term"]]["estimate"], row["estimate"], rtol=2e-5, atol=1e-6)
        assert_allclose(fixed[row["term"]]["se"], row["se"], rtol=2e-5)
    variances = {row["group"]: row["variance"] for row in glmm.random_effects}
    for row in reference["random_effects"]:
        assert_allclose(variances[row["group"]], row["variance"], rtol=1e-4)
    omnibus = reference["omnibus_lrt"]
    assert glmm.lrt["df"] == omnibus["df"] == 2
    assert_allclose([glmm.lrt["statistic"], glmm.lrt["p_value"]], [omnibus["chi2"], omnibus["p_value"]], rtol=1e-4)


@pytest.mark.parametrize("model", ["two_term", "four_term"])
def test_each_arm_against_control_matches_lme4(model):
    reference = _reference()[model]
    contrasts = {c.arm: c for c in _fit(model).glmm.contrasts}
    assert list(contrasts) == ["top3", "similar"]  # in --arms order, not R's sorted level order
    for arm, row in reference["contrasts"].items():
        c = contrasts[arm]
        assert c.term == row["term"] == f"arm{arm}"
        assert_allclose([c.coefficient, c.se, c.z], [row["estimate"], row["se"], row["z"]], rtol=2e-5)
        assert_allclose(c.estimate, math.exp(row["estimate"]), rtol=2e-5)  # the odds ratio
        assert_allclose([c.ci_low, c.ci_high], np.exp(row["estimate"] + np.array([-1, 1]) * 1.959964 * row["se"]),
                        rtol=2e-5)
        # a p-value's relative error is ~z^2 times the SE's (z ~ 3 here): 2e-5 on SEs is ~2e-4 on p
        assert_allclose(c.p_value_wald, row["p_wald"], rtol=5e-4)
        assert_allclose([c.lrt_statistic, c.p_value_lrt], [row["lrt_chi2"], row["p_lrt"]], rtol=1e-4)
        assert c.p_value == c.p_value_lrt  # LRT p by default
        assert_allclose(c.p_value_holm, reference["holm_lrt"][arm], rtol=5e-4)
        assert c.estimable


def test_wald_p_method_is_holm_adjusted_like_r():
    reference = _reference()["four_term"]
    result = _fit("four_term", "wald")
    for c in result.glmm.contrasts:
        assert c.p_value == c.p_value_wald and c.p_value_lrt is None
        assert_allclose(c.p_value_holm, reference["holm_wald"][c.arm], rtol=5e-4)
    assert result.glmm.p_method == "wald" and result.to_dict()["multi_arm"]["glmm"]["p_adjust"] == "holm"


def test_model_implied_accuracy_per_arm():
    glmm = _fit("two_term").glmm
    fixed = {row["term"]: row["estimate"] for row in glmm.fixed_effects}
    variance = sum(row["variance"] for row in glmm.random_effects)
    density = stats.norm(0, math.sqrt(variance)).pdf
    assert_allclose(variance, 0.404726731659528 + 1.00334737635017, rtol=1e-4)  # lme4's reader + case
    for estimate in glmm.arm_estimates:
        eta = fixed["(Intercept)"] + fixed.get(f"arm{estimate.arm}", 0.0)
        assert_allclose(estimate.conditional, special.expit(eta), rtol=1e-12)
        # independent: E[expit(eta + u)], u ~ N(0, variance), by adaptive quadrature
        marginal = integrate.quad(lambda u, eta=eta: special.expit(eta + u) * density(u), -12, 12)[0]
        assert_allclose(estimate.marginal, marginal, rtol=1e-7)
    assert [e.arm for e in glmm.arm_estimates] == list(ARMS)


def test_pooled_formula_keeps_random_arm_terms():
    full = "y ~ arm + site + (1|reader) + (1|case:arm)"
    assert pooled_formula(full, "arm_pooled") == "y ~ arm_pooled + site + (1|reader) + (1|case:arm)"


# --- reader level -----------------------------------------------------------------------------------


def test_reader_level_per_arm_matches_pandas_and_scipy():
    table = _table()
    result = _fit("two_term")
    means = table.groupby(["reader", "arm"])["correct_top1"].mean().unstack()
    for arm in result.per_arm:
        values = means[arm.arm]
        assert (arm.n_readers, arm.n_cases, arm.n_readings) == (24, 90, 720)
        assert_allclose([arm.summary.mean, arm.summary.sd], [values.mean(), values.std(ddof=1)], rtol=1e-12)
        m = values.mean()  # logit-scale t interval (delta-method SE), transformed back
        low, high = stats.t.interval(0.95, 23, loc=special.logit(m), scale=stats.sem(values) / (m * (1 - m)))
        assert_allclose([arm.summary.ci_low, arm.summary.ci_high], special.expit([low, high]), rtol=1e-10)
    assert_allclose(result.per_arm[0].summary.mean, 358 / 720, rtol=1e-12)  # 24 readers x 30 cases in each arm
    paired = {p.arm: p for p in result.paired}
    p_values = []
    for arm in ("top3", "similar"):
        reference = stats.ttest_rel(means[arm], means["unaided"])
        block = paired[arm].block
        assert block.n_readers == 24
        assert_allclose([block.paired_t.statistic, block.paired_t.p_value], [reference.statistic, reference.pvalue],
                        rtol=1e-10)
        assert_allclose(block.difference.mean, (means[arm] - means["unaided"]).mean(), rtol=1e-12)
        p_values.append(reference.pvalue)
    assert_allclose([paired[a].p_value_holm for a in ("top3", "similar")],
                    multipletests(p_values, method="holm")[1], rtol=1e-10)


def test_parallel_groups_have_no_paired_comparison_but_a_model():
    table = _table()
    reader_index = table["reader"].str[1:].astype(int)
    parallel = table[table["arm"] == np.array(ARMS)[reader_index % 3]]  # each reader reads one arm
    result = compare_arms(parallel, outcome="correct_top1", arms=ARMS,
                          glmm_formula="correct_top1 ~ arm + (1|reader) + (1|case)")
    assert [a.n_readers for a in result.per_arm] == [8, 8, 8]
    expected = parallel.groupby(["arm", "reader"])["correct_top1"].mean().groupby("arm").mean()
    assert_allclose([a.summary.mean for a in result.per_arm], expected[list(ARMS)], rtol=1e-12)
    assert all(p.block is None and "fewer than 2 readers" in p.note for p in result.paired)
    assert result.to_dict()["multi_arm"]["reader_level"]["top3"]["n_readers"] == 0
    assert result.glmm.converged and len(result.glmm.contrasts) == 2
    assert all(np.isfinite(c.p_value_holm) for c in result.glmm.contrasts)


def test_other_arms_are_left_out_with_a_warning():
    table = pd.concat([_table(), _table().assign(arm="concepts")], ignore_index=True)
    result = compare_arms(table, outcome="correct_top1", arms=ARMS, fit_glmm=False)
    assert result.n_readings == 2160
    assert result.warnings[0].startswith("2160 reading(s) of other arms left out ('concepts': 2160)")


@pytest.mark.parametrize(
    ("arms", "message"),
    [(("unaided",), "at least one AI arm"), (("unaided", "top3", "unaided"), "more than once: unaided"),
     (("unaided", "nope"), "unknown arm 'nope'")],
)
def test_bad_arms(arms, message):
    with pytest.raises(InputError, match=message):
        compare_arms(_table(), outcome="correct_top1", arms=arms, fit_glmm=False)


def test_formula_without_arm_is_an_error_not_a_crash():
    result = compare_arms(_table(), outcome="correct_top1", arms=ARMS, glmm_formula="correct_top1 ~ 1 + (1|reader)")
    assert result.glmm.contrasts == () and "no fixed 'arm' term" in result.glmm.error


def test_results_json_keys():
    data = _fit("two_term").to_dict()
    assert set(data) >= {"outcome", "control", "arms", "n_readers", "n_cases", "n_readings", "multi_arm"}
    assert "treatment" not in data and "glmm" not in data  # compare's two-arm blocks keep their meaning
    block = data["multi_arm"]
    assert block["treatments"] == ["top3", "similar"] and block["p_adjust"] == "holm"
    assert set(block["glmm"]["contrasts"]["top3"]) >= {"estimate", "ci_low", "ci_high", "p_value", "p_value_holm",
                                                        "p_value_wald", "p_value_lrt"}


# --- any two of k arms in compare and reliance ----------------------------------------------------------


def test_compare_any_two_arms_equals_the_two_arm_table():
    table = _table()
    pair = compare(table, outcome="correct_top1", control="top3", treatment="similar",
                   glmm_formula="correct_top1 ~ arm + (1|reader) + (1|case)")
    alone = compare(table[table["arm"] != "unaided"], outcome="correct_top1", control="top3", treatment="similar",
                    glmm_formula="correct_top1 ~ arm + (1|reader) + (1|case)")
    assert pair.n_readings == alone.n_readings == 1440
    assert_allclose(pair.reader_level.difference.mean, alone.reader_level.difference.mean, rtol=1e-12)
    assert_allclose(pair.glmm.treatment_odds_ratio.estimate, alone.glmm.treatment_odds_ratio.estimate, rtol=1e-10)
    means = table.groupby(["reader", "arm"])["correct_top1"].mean().unstack()
    assert_allclose(pair.reader_level.difference.mean, (means["similar"] - means["top3"]).mean(), rtol=1e-12)
    note = "720 reading(s) of other arms left out ('unaided': 720): this analysis uses arms 'top3' and 'similar' only"
    assert pair.warnings[0] == note and note not in alone.warnings


@pytest.fixture(scope="module")
def sequential_three_arms() -> pd.DataFrame:
    """Sequential design with a chosen AI arm per reader: readers R07-R12 saw 'ai_b' after the unaided phase."""
    table = simulate_study(StudySpec(n_readers=12, n_cases=30, design="sequential"), seed=21)
    second = table["reader"].isin([f"R{i:02d}" for i in range(7, 13)]) & (table["arm"] == "ai")
    return table.assign(arm=np.where(second, "ai_b", table["arm"]))


def test_reliance_any_two_arms_ignores_the_other_arm(sequential_three_arms):
    table = sequential_three_arms
    result = reliance(table, control="unaided", treatment="ai", replicates=200, seed=3, fit_model=False)
    alone = reliance(table[table["arm"] != "ai_b"], control="unaided", treatment="ai", replicates=200, seed=3,
                     fit_model=False)
    assert result.sequential and result.counts.n_pairs == 6 * 30
    assert result.to_dict()["ci"] == alone.to_dict()["ci"]
    assert result.counts == alone.counts
    pairs = table[table["arm"] == "unaided"].merge(table[table["arm"] == "ai"], on=["reader", "case"])
    changed = (pairs["differential_x"].str.split("|").str[0] != pairs["differential_y"].str.split("|").str[0]).sum()
    assert result.counts.changed == changed
    assert result.notes[0] == ("180 reading(s) of other arms left out ('ai_b': 180): this analysis uses arms "
                               "'unaided' and 'ai' only")
    assert any(note.startswith("180 control reading(s) of 6 reader(s) with no 'ai' reading") for note in result.notes)
