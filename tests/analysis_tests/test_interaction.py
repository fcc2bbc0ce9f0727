"""compare --interaction against lme4 (tests/fixtures/interaction, R call in make.R); Holm; Wilcoxon switch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis import classical
from analysis.compare import compare
from analysis.interaction import holm, interaction_analysis
from analysis.readings import InputError

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "interaction"


@pytest.fixture(scope="module")
def readings() -> pd.DataFrame:
    return pd.read_csv(FIXTURES / "readings.csv", dtype={"reader": str, "case": str})


@pytest.fixture(scope="module")
def reference() -> dict:
    # glmer(correct_top1 ~ lv1 + arm_lv0 + arm_lv1 + (1|reader) + (1|case) + (1|reader:armf) + (1|case:armf),
    # binomial, tolPwrss = 1e-12) vs the model with one arm effect; anova(); p.adjust(holm) - make.R
    return json.loads((FIXTURES / "lme4.json").read_text())


@pytest.fixture(scope="module")
def result(readings):
    return interaction_analysis(readings, outcome="correct_top1", control="unaided", treatment="ai",
                                column="fitzpatrick", binary=True)


def test_level_effects_match_lme4(result, reference):
    coefficients = {c["term"]: c for c in reference["coefficients"]}
    levels = {e.level: e for e in result.levels}
    assert list(levels) == ["I-III", "IV-VI"]
    got = [levels["I-III"].log_estimate, levels["IV-VI"].log_estimate]
    assert_allclose(got, [coefficients["arm_lv0"]["estimate"], coefficients["arm_lv1"]["estimate"]], rtol=1e-4)
    assert_allclose([levels["I-III"].se, levels["IV-VI"].se],
                    [coefficients["arm_lv0"]["se"], coefficients["arm_lv1"]["se"]], rtol=1e-4)
    assert levels["I-III"].estimate == pytest.approx(np.exp(coefficients["arm_lv0"]["estimate"]), rel=1e-4)


def test_lrt_and_holm_match_r(result, reference):
    assert result.lrt["df"] == reference["lrt"]["df"]
    assert result.lrt["statistic"] == pytest.approx(reference["lrt"]["statistic"], rel=1e-6)
    assert_allclose([e.p_value_holm for e in result.levels], reference["holm"], rtol=5e-4)  # Wald p in the far tail: SEs agree to 7e-6
    assert "differs between levels of fitzpatrick" in result.verdict


def test_holm_by_hand():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan")])[0] == 0.5


def test_ai_standalone_accuracy_per_level(result, readings):
    treated = readings[readings["arm"] == "ai"]
    per_case = treated.groupby(["fitzpatrick", "case"])["ai_correct_top1"].mean().groupby("fitzpatrick").mean()
    for effect in result.levels:
        assert effect.ai_accuracy == pytest.approx(per_case[effect.level])


def test_compare_interaction_block_and_report(readings, tmp_path):
    path = tmp_path / "readings.csv"
    readings.to_csv(path, index=False)
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "compare", "--readings", str(path), "--outcome", "correct_top1",
         "--control", "unaided", "--treatment", "ai", "--interaction", "fitzpatrick", "--no-glmm",
         "--out", str(tmp_path / "out")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    block = json.loads((tmp_path / "out" / "results.json").read_text())["interaction"]
    assert block["column"] == "fitzpatrick" and set(block["lrt"]) == {"statistic", "df", "p_value"}
    assert set(block["levels"]["IV-VI"]) >= {"estimate", "ci_low", "ci_high", "p_value", "p_value_holm"}
    report = (tmp_path / "out" / "report.html").read_text()
    assert 'id="interaction"' in report and "AI&#x27;s help differs" in report


def test_unknown_interaction_column(readings):
    with pytest.raises(InputError, match="skin"):
        compare(readings, outcome="correct_top1", control="unaided", treatment="ai", interaction="skin",
                fit_glmm=False)


def test_wilcoxon_correction_off_is_scipys_default():
    rng = np.random.default_rng(1)
    control = np.round(rng.uniform(0.4, 0.7, 60), 2)
    treatment = control + np.round(rng.normal(0.03, 0.05, 60), 2)  # ties and n > 50: normal approximation
    on = classical.wilcoxon_signed_rank(control, treatment)
    with classical.wilcoxon_correction(False):
        off = classical.wilcoxon_signed_rank(control, treatment)
    scipy_default = stats.wilcoxon(treatment - control)  # correction=False by default
    assert off.p_value == pytest.approx(scipy_default.pvalue, rel=1e-12)
    assert on.p_value == pytest.approx(stats.wilcoxon(treatment - control, correction=True).pvalue, rel=1e-12)
    assert on.p_value > off.p_value


def test_compare_records_the_wilcoxon_choice(readings):
    result = compare(readings, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False,
                     wilcoxon_correction=False)
    assert result.to_dict()["wilcoxon_correction"] == "off"
    assert compare(readings, outcome="correct_top1", control="unaided", treatment="ai",
                   fit_glmm=False).to_dict()["wilcoxon_correction"] == "on"
    from analysis.report import methods_text

    assert "without continuity correction" in methods_text(result)
