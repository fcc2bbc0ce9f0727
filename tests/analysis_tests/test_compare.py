"""The compare analysis (DESIGN 5.2): numbers against independent scipy calls, edge cases, contract keys."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis.compare import compare
from analysis.mixed import marginal_probability, reduced_formula
from analysis.readings import InputError
from analysis.results import to_jsonable
from analysis.simulate import StudySpec, simulate_study

HAS_GLMM = importlib.util.find_spec("analysis.glmm") is not None

READER_LEVEL_KEYS = {"n_readers", "control", "treatment", "difference", "paired_t", "wilcoxon"}


@pytest.fixture(scope="module")
def study() -> pd.DataFrame:
    return simulate_study(StudySpec(n_readers=12, n_cases=30), seed=11)


def test_reader_level_matches_scipy_on_reader_means(study):
    result = compare(study, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False)
    means = study.groupby(["reader", "arm"])["correct_top1"].mean().unstack()
    # independent: scipy's paired t and the t interval of the reader means
    reference = stats.ttest_rel(means["ai"], means["unaided"])
    block = result.reader_level
    assert block.n_readers == 12
    assert_allclose(block.paired_t.statistic, reference.statistic, rtol=1e-10)
    assert_allclose(block.paired_t.p_value, reference.pvalue, rtol=1e-10)
    # a 0/1 outcome: the t interval on the logit scale (delta-method SE), transformed back
    m = means["ai"].mean()
    low, high = stats.t.interval(0.95, 11, loc=np.log(m / (1 - m)), scale=stats.sem(means["ai"]) / (m * (1 - m)))
    assert_allclose([block.treatment.ci_low, block.treatment.ci_high], [1 / (1 + np.exp(-low)), 1 / (1 + np.exp(-high))],
                    rtol=1e-10)
    assert_allclose(block.difference.mean, (means["ai"] - means["unaided"]).mean())


def test_paired_readings_and_mcnemar(study):
    result = compare(study, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False)
    wide = study.pivot_table(index=["reader", "case"], columns="arm", values="correct_top1")
    b = int(((wide["unaided"] == 1) & (wide["ai"] == 0)).sum())
    c = int(((wide["unaided"] == 0) & (wide["ai"] == 1)).sum())
    paired = result.paired_readings
    assert paired.n_pairs == 12 * 30
    assert (paired.mcnemar.b, paired.mcnemar.c) == (b, c)
    # b + c >= 25 here: chi-square with continuity correction
    assert_allclose(paired.mcnemar.p_value, stats.chi2.sf((abs(b - c) - 1) ** 2 / (b + c), 1))


def test_contract_keys_and_json_types(study):
    result = compare(
        study,
        outcome="correct_top1",
        control="unaided",
        treatment="ai",
        by=["reader_group"],
        by_case=["truth_malignant"],
        min_readers=5,
        fit_glmm=False,
    )
    out = to_jsonable(result.to_dict())
    for key in ("outcome", "control", "treatment", "n_readers", "n_cases", "n_readings"):
        assert key in out
    assert READER_LEVEL_KEYS <= set(out["reader_level"])
    assert set(out["reader_level"]["control"]) == {"mean", "sd", "ci_low", "ci_high"}
    assert set(out["reader_level"]["paired_t"]) >= {"statistic", "df", "p_value"}
    assert set(out["reader_level"]["wilcoxon"]) >= {"statistic", "p_value", "effect_size_r"}
    assert set(out["paired_readings"]["mcnemar"]) >= {"b", "c", "p_value"}
    assert set(out["by"]["reader_group"]) <= {"dermatologist", "resident", "general practitioner"}
    for block in out["by_case"]["truth_malignant"].values():
        assert READER_LEVEL_KEYS | {"p_value_bonferroni"} <= set(block)
    assert out["glmm"] is None


def test_by_case_tests_only_levels_with_enough_readers_and_bonferroni(study):
    data = study.copy()
    # level "rare" read by 3 readers only
    data["site"] = np.where(data["case"].isin(["C001", "C002"]), "rare", "common")
    data.loc[(data["site"] == "rare") & ~data["reader"].isin(["R01", "R02", "R03"]), "site"] = "common"
    data["site2"] = np.where(data["case"] < "C015", "early", "late")
    result = compare(
        data,
        outcome="correct_top1",
        control="unaided",
        treatment="ai",
        by_case=["site", "site2"],
        min_readers=10,
        fit_glmm=False,
    )
    assert set(result.by_case["site"]) == {"common"}
    common = result.by_case["site"]["common"]
    assert common.p_value_bonferroni == common.paired_t.p_value  # one level tested
    late = result.by_case["site2"]["late"]
    assert_allclose(late.p_value_bonferroni, min(1.0, 2 * late.paired_t.p_value))


def test_class_with_few_readers_in_by_is_reported_with_nan_tests(study):
    data = study.copy()
    data.loc[data["reader"] == "R01", "reader_group"] = "nurse"
    result = compare(
        data, outcome="correct_top1", control="unaided", treatment="ai", by=["reader_group"], fit_glmm=False
    )
    nurse = result.by["reader_group"]["nurse"]
    assert nurse.n_readers == 1
    assert math.isnan(nurse.paired_t.p_value) and math.isnan(nurse.control.ci_low)
    assert to_jsonable(nurse.to_dict())["paired_t"]["p_value"] is None


def test_reader_with_one_arm_only(study):
    data = study[~((study["reader"] == "R05") & (study["arm"] == "ai"))]
    result = compare(data, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False)
    assert result.n_readers == 12
    assert result.reader_level.n_readers == 11
    assert any("R05" in w and "one arm" in w for w in result.warnings)


def test_all_correct_readers_do_not_break_the_tests(study):
    data = study.assign(correct_top1=1)
    result = compare(data, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False)
    assert result.reader_level.difference.mean == 0
    assert math.isnan(result.reader_level.paired_t.statistic)
    assert math.isnan(result.reader_level.wilcoxon.p_value)
    assert result.paired_readings.mcnemar.p_value == 1.0


def test_continuous_outcome_has_no_mcnemar(study):
    result = compare(study, outcome="duration_s", control="unaided", treatment="ai", fit_glmm=False)
    assert not result.binary
    assert result.paired_readings.mcnemar is None
    assert "duration_s" not in result.secondary


def test_vandyke_style_columns():
    data = pd.DataFrame(
        {
            "rdr": ["1", "1", "2", "2", "3", "3"],
            "img": ["a", "a", "a", "a", "a", "a"],
            "modality": [1, 2, 1, 2, 1, 2],
            "y": [0, 1, 1, 1, 0, 1],
        }
    )
    result = compare(
        data,
        outcome="y",
        control="1",
        treatment="2",
        reader_col="rdr",
        case_col="img",
        arm_col="modality",
        fit_glmm=False,
    )
    assert result.reader_level.n_readers == 3
    assert_allclose(result.reader_level.difference.mean, 2 / 3)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"outcome": "nope"}, "missing column.*nope"),
        ({"treatment": "robot"}, "unknown arm 'robot'"),
        ({"outcome": "management"}, "column 'management' is not numeric"),
        ({"by": ["site"]}, "missing column.*site"),
    ],
)
def test_bad_input_names_the_culprit(study, kwargs, message):
    args = {"outcome": "correct_top1", "control": "unaided", "treatment": "ai", "fit_glmm": False} | kwargs
    with pytest.raises(InputError, match=message):
        compare(study, **args)


def test_reduced_formula_drops_only_the_fixed_arm_term():
    full = "y ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)"
    assert reduced_formula(full) == "y ~ (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)"
    assert reduced_formula("y ~ x + (1|reader)") is None


def test_marginal_probability_by_quadrature():
    # variance 0 is the plain inverse logit; otherwise compare with brute-force normal integration
    assert_allclose(marginal_probability(0.4, 0.0), 1 / (1 + math.exp(-0.4)))
    u = np.linspace(-12, 12, 200001)
    density = stats.norm.pdf(u, scale=math.sqrt(1.7))
    brute = np.trapezoid(density / (1 + np.exp(-(0.4 + u))), u)
    assert_allclose(marginal_probability(0.4, 1.7), brute, rtol=1e-8)


# --- the mixed model (needs analysis.glmm, written in parallel) --------------------------------


@pytest.mark.skipif(not HAS_GLMM, reason="analysis.glmm not available")
def test_glmm_block_derives_odds_ratio_and_lrt(study):
    from analysis.glmm import fit_glmm, likelihood_ratio_test

    result = compare(study, outcome="correct_top1", control="unaided", treatment="ai")
    glmm = result.glmm
    assert glmm.error is None, glmm.error
    assert glmm.formula == "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)"
    arm = next(fe for fe in glmm.fixed_effects if fe["term"] == "arm")
    odds = glmm.treatment_odds_ratio
    assert_allclose(odds.estimate, math.exp(arm["estimate"]))
    assert_allclose(odds.ci_low, math.exp(arm["estimate"] - 1.959964 * arm["se"]))
    assert_allclose(odds.ci_high, math.exp(arm["estimate"] + 1.959964 * arm["se"]))
    # LRT p from fitting both models directly
    frame = study.assign(arm=(study["arm"] == "ai").astype(int))
    full = fit_glmm(frame, glmm.formula, family="binomial")
    reduced = fit_glmm(frame, reduced_formula(glmm.formula), family="binomial")
    assert_allclose(odds.p_value, likelihood_ratio_test(full, reduced)[2], rtol=1e-6)
    assert [r["group"] for r in glmm.random_effects] == ["reader", "case", "reader:arm", "case:arm"]
    accuracy = {a.arm: a for a in glmm.arm_estimates}
    assert accuracy["ai"].marginal > accuracy["unaided"].marginal
    # the model-implied marginal accuracy is close to the observed one
    observed = study.groupby("arm")["correct_top1"].mean()
    assert abs(accuracy["ai"].marginal - observed["ai"]) < 0.05
    out = to_jsonable(result.to_dict())["glmm"]
    assert {"formula", "method", "converged", "log_likelihood", "fixed_effects"} <= set(out)
    assert set(out["treatment_odds_ratio"]) == {"estimate", "ci_low", "ci_high", "p_value"}


@pytest.mark.skipif(not HAS_GLMM, reason="analysis.glmm not available")
def test_glmm_gaussian_for_a_score_and_custom_formula(study):
    result = compare(
        study,
        outcome="confidence",
        control="unaided",
        treatment="ai",
        glmm_formula="confidence ~ arm + (1|reader) + (1|case)",
    )
    glmm = result.glmm
    assert glmm.error is None, glmm.error
    assert glmm.family == "gaussian" and glmm.treatment_odds_ratio is None
    arm = next(fe for fe in glmm.fixed_effects if fe["term"] == "arm")
    assert_allclose(glmm.treatment_effect.estimate, arm["estimate"])
    assert to_jsonable(result.to_dict())["glmm"]["treatment_odds_ratio"]["estimate"] is None


def test_glmm_failure_is_reported_not_raised(study):
    result = compare(
        study,
        outcome="correct_top1",
        control="unaided",
        treatment="ai",
        glmm_formula="correct_top1 ~ arm + (1|nope)",
    )
    assert result.glmm.error
    assert result.glmm.converged is False


def test_scores_without_malignancy_truth_skip_the_roc_instead_of_failing():
    # Regression: malignancy_score present but truth_malignant empty raised KeyError in the ROC step.
    data = simulate_study(seed=3).copy()
    data["malignancy_score"] = 50.0
    data["truth_malignant"] = pd.NA
    result = compare(data, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False)
    assert result.roc is None and result.n_readings == len(data)


def test_complete_separation_gives_an_infinite_odds_ratio_not_a_crash():
    # Every unaided reading wrong, every AI reading right: the logit estimate runs off to infinity.
    rows = [
        {"reader": f"r{r}", "case": f"c{c}", "arm": arm, "correct_top1": int(arm == "ai")}
        for r in range(4) for c in range(6) for arm in ("unaided", "ai")
    ]
    result = compare(pd.DataFrame(rows), outcome="correct_top1", control="unaided", treatment="ai")
    assert result.reader_level.difference.mean == 1.0
    data = to_jsonable(result.to_dict())  # inf becomes null in JSON
    assert data["glmm"] is not None
