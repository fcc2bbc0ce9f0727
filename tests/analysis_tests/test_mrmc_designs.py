"""`mrmc` for every design: split-plot ORH, method choice by design, non-inferiority, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis.cli import main
from analysis.cli_mrmc import analyse
from analysis.design_detect import detect_design
from analysis.fom import figure_of_merit, score_array
from analysis.mrmc import mrmc, split_plot_mrmc
from analysis.noninferiority import intersection_union, non_inferiority
from analysis.orh import orh_split_plot
from analysis.readings import InputError, prepare
from analysis.roe_metz import RoeMetz, simulate_roe_metz
from analysis.ustat import ustat, write_imrmc

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vandyke"
PUBLISHED = json.loads((FIXTURE / "published.json").read_text())


def vandyke() -> pd.DataFrame:
    raw = pd.read_csv(FIXTURE / "vandyke.csv")
    return prepare(raw, value_cols=["rating", "truth"], control="1", treatment="2", arm_col="treatment")


# --- split-plot ORH --------------------------------------------------------------------------------


def test_split_plot_orh_with_one_block_is_the_fully_crossed_orh():
    # published.json "rrrc" (OR-DBM MRMC 2.51): F 4.456319, df2 15.2597, p 0.051666, SE 0.02075
    scores = score_array(vandyke(), "rating", "truth", ("1", "2"))
    fom = figure_of_merit(scores, "auc")
    test, _ = orh_split_plot([fom.values], [fom.covariance("jackknife")])
    assert_allclose([test.statistic, test.df2, test.p_value, test.se],
                    [PUBLISHED["rrrc"]["f"], PUBLISHED["rrrc"]["df2"], PUBLISHED["rrrc"]["p"], PUBLISHED["rrrc"]["se"]],
                    atol=5e-5)


def test_split_plot_orh_by_hand_on_two_blocks():
    # Two blocks built from Van Dyke: readers 1-2 on the odd-numbered cases, readers 3-5 on the even.
    data = vandyke()
    cases = sorted(data.case.unique(), key=int)
    first, second = set(cases[::2]), set(cases[1::2])
    block = data[(data.reader.isin(["1", "2"]) & data.case.isin(first)) | (data.reader.isin(["3", "4", "5"])
                                                                          & data.case.isin(second))]
    design = detect_design(block, control="1", treatment="2")
    assert design.kind == "split_plot" and len(design.groups) == 2
    result = split_plot_mrmc(block, score="rating", truth="truth", control="1", treatment="2", design=design)
    # by hand: per-block ORH covariances from the fully crossed analysis of each block
    d, pairs = [], 0.0
    for readers, block_cases in (({"1", "2"}, first), ({"3", "4", "5"}, second)):
        part = mrmc(block[block.reader.isin(readers) & block.case.isin(block_cases)], score="rating", truth="truth",
                    control="1", treatment="2")
        vc = part.auc.variance_components
        d += list(part.auc.values[1] - part.auc.values[0])
        pairs += len(readers) * (len(readers) - 1) * (vc.cov2 - vc.cov3)
    d = np.array(d)
    var = d.var(ddof=1) / 5 + max(2 * pairs / (5 * 4), 0)
    assert_allclose(result.foms["auc"]["rrrc"]["difference"], d.mean())
    assert_allclose(result.foms["auc"]["rrrc"]["se"], np.sqrt(var))
    assert_allclose(result.foms["auc"]["rrrc"]["df2"], 4 * (5 * var / d.var(ddof=1)) ** 2)


def test_split_plot_coverage_over_simulated_studies():
    # Roe-Metz null (no difference), split-plot with 2 blocks; 95 % CIs should cover 0 about 95 % of
    # the time. 150 replicates here (binomial SE 1.8 %); bench/mrmc_coverage.py runs 1,000.
    rng = np.random.default_rng(7)
    spec = RoeMetz(design="split_plot", n_readers=6, n_negative=20, n_positive=20)
    covered = {"splitplot": 0, "ustat": 0}
    n = 150
    for _ in range(n):
        data = simulate_roe_metz(spec, rng)
        design = detect_design(data, control="0", treatment="1")
        sp = split_plot_mrmc(data, score="rating", truth="truth", control="0", treatment="1", design=design)
        t = sp.foms["auc"]["rrrc"]
        covered["splitplot"] += t["ci_low"] <= 0 <= t["ci_high"]
        u = ustat(data, score="rating", truth="truth", control="0", treatment="1").difference
        covered["ustat"] += u.ci_low <= 0 <= u.ci_high
    for method, count in covered.items():
        assert 0.90 <= count / n <= 0.99, (method, count / n)


# --- method choice by design ----------------------------------------------------------------------


def test_auto_runs_the_default_method_of_each_design():
    rng = np.random.default_rng(3)
    expected = {"fully_crossed": "orh", "split_plot": "splitplot", "reader_subset": "ustat", "unpaired": "ustat"}
    for design, method in expected.items():
        data = simulate_roe_metz(RoeMetz(design=design), rng)
        run = analyse(data, score="rating", truth="truth", control="0", treatment="1")
        assert run.payload["method"] == method and run.payload["design"]["kind"] == design


def test_orh_on_split_plot_is_refused_naming_the_valid_methods():
    data = simulate_roe_metz(RoeMetz(design="split_plot"), np.random.default_rng(0))
    with pytest.raises(InputError, match="--method splitplot or --method ustat"):
        analyse(data, score="rating", truth="truth", control="0", treatment="1", method="orh")


# --- non-inferiority ---------------------------------------------------------------------------


def test_non_inferiority_bound_and_decision():
    # one-sided 97.5 % lower bound with t(10): 0.01 - 2.228139 * 0.02 = -0.034563
    test = non_inferiority(estimate=0.01, se=0.02, df=10, margin=0.05)
    assert_allclose(test.bound, 0.01 - stats.t.ppf(0.975, 10) * 0.02)
    assert test.decision == "non-inferior"
    assert_allclose(test.p_value, stats.t.sf((0.01 + 0.05) / 0.02, 10))
    assert non_inferiority(estimate=0.01, se=0.02, df=10, margin=0.03).decision == "non-inferiority not shown"
    normal = non_inferiority(estimate=0.0, se=0.01, df=None, margin=0.02, alpha=0.05)
    assert_allclose(normal.bound, -stats.norm.ppf(0.95) * 0.01)
    with pytest.raises(InputError, match="--margin must be a positive"):
        non_inferiority(estimate=0, se=1, df=5, margin=-0.1)


def test_co_primary_is_intersection_union():
    good = non_inferiority(estimate=0.02, se=0.01, df=20, margin=0.05)
    bad = non_inferiority(estimate=-0.06, se=0.01, df=20, margin=0.05)
    assert intersection_union({"sensitivity": good, "specificity": good})["decision"] == "non-inferior"
    both = intersection_union({"sensitivity": good, "specificity": bad})
    assert both["decision"] == "non-inferiority not shown" and both["p_value"] == bad.p_value


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_ustat_on_a_split_plot_file_with_margin(tmp_path, capsys):
    data = simulate_roe_metz(RoeMetz(design="split_plot", n_blocks=3), np.random.default_rng(1))
    path = tmp_path / "split.csv"
    data.to_csv(path, index=False)
    out = tmp_path / "out"
    code = main(["mrmc", "--readings", str(path), "--score", "rating", "--truth", "truth", "--control", "0",
                 "--treatment", "1", "--method", "ustat", "--margin", "0.1", "--threshold", "0.5", "--out", str(out)])
    assert code == 0
    assert "split-plot with 3 blocks design, ustat" in capsys.readouterr().out
    results = json.loads((out / "results.json").read_text())
    u = results["ustat"]
    assert {"mean", "var", "df"} <= set(u["0"]) and {"mean", "var", "df"} <= set(u["1"])
    assert {"estimate", "var", "se", "df", "ci_low", "ci_high", "p_value"} <= set(u["difference"])
    assert results["design"]["kind"] == "split_plot" and results["design"]["n_blocks"] == 3
    ni = results["non_inferiority"]
    assert {"margin", "alpha", "bound", "decision"} <= set(ni) and ni["alpha"] == 0.025
    assert set(ni["co_primary"]["endpoints"]) == {"sensitivity", "specificity"}
    assert "U-statistics" in (out / "report.html").read_text()
    assert (out / "tables" / "ustat_estimates.csv").is_file()


def test_cli_orh_on_split_plot_exits_2_with_the_reason(tmp_path, capsys):
    data = simulate_roe_metz(RoeMetz(design="split_plot"), np.random.default_rng(1))
    path = tmp_path / "split.csv"
    data.to_csv(path, index=False)
    code = main(["mrmc", "--readings", str(path), "--score", "rating", "--truth", "truth", "--control", "0",
                 "--treatment", "1", "--method", "orh", "--out", str(tmp_path / "o")])
    assert code == 2
    assert "split-plot with 2 blocks" in capsys.readouterr().err


def test_cli_reads_an_imrmc_file_and_still_reproduces_vandyke(tmp_path):
    path = tmp_path / "vandyke.imrmc"
    write_imrmc(vandyke(), path, score="rating", truth="truth")
    out = tmp_path / "out"
    assert main(["mrmc", "--readings", str(path), "--score", "rating", "--truth", "truth", "--control", "1",
                 "--treatment", "2", "--out", str(out), "--margin", "0.05"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["method"] == "orh"
    assert_allclose(results["rrrc"]["statistic"], PUBLISHED["rrrc"]["f"], atol=5e-7)
    assert_allclose(results["rrrc"]["df2"], PUBLISHED["rrrc"]["df2"], atol=5e-5)
    ni = results["non_inferiority"]
    assert_allclose(ni["bound"], results["rrrc"]["difference"] - stats.t.ppf(0.975, ni["df"]) * results["rrrc"]["se"])


def test_glmm_non_inferiority_on_both_scales():
    import math

    from analysis.mixed import ArmEstimate, MixedModelSummary, TreatmentEffect
    from analysis.noninferiority import glmm_non_inferiority

    z = stats.norm.ppf(0.975)

    def summary(family, estimate, se, arms=()):
        effect = TreatmentEffect(estimate, estimate - z * se, estimate + z * se, 0.02)
        odds = TreatmentEffect(math.exp(estimate), math.exp(estimate - z * se), math.exp(estimate + z * se), 0.02)
        return MixedModelSummary("y ~ arm", family, "laplace", True, -1.0, 100, (), ({"group": "reader", "variance": 0.2},),
                                 odds if family == "binomial" else None, effect, None, arms)

    gaussian = glmm_non_inferiority(summary("gaussian", 0.1, 0.2), margin=0.5)
    assert_allclose(gaussian["bound"], 0.1 - stats.norm.ppf(0.975) * 0.2)
    assert gaussian["decision"] == "non-inferior" and gaussian["scale"] == "difference in means"
    # binomial: control accuracy 0.7, margin 0.1 -> OR margin odds(0.6)/odds(0.7) = 1.5 / 2.333 = 0.642857
    arms = (ArmEstimate("c", 0.72, 0.7), ArmEstimate("t", 0.75, 0.73))
    binary = glmm_non_inferiority(summary("binomial", 0.1, 0.2, arms), margin=0.1)
    assert_allclose(binary["margin_odds_ratio"], (0.6 / 0.4) / (0.7 / 0.3))
    assert_allclose(binary["bound"], math.exp(0.1 - stats.norm.ppf(0.975) * 0.2))
    assert binary["decision"] == "non-inferior"  # exp(-0.292) = 0.747 > 0.643
    assert glmm_non_inferiority(summary("binomial", 0.1, 0.2, arms), margin=0.02)["decision"] != "non-inferior"
    assert glmm_non_inferiority(None, margin=0.1)["decision"] == "not estimable"


def test_cli_compare_takes_a_margin(tmp_path):
    from analysis.simulate import StudySpec, simulate_study

    path = tmp_path / "readings.csv"
    simulate_study(StudySpec(n_readers=6, n_cases=10), seed=1).to_csv(path, index=False)
    out = tmp_path / "out"
    assert main(["compare", "--readings", str(path), "--outcome", "correct_top1", "--control", "unaided",
                 "--treatment", "ai", "--no-glmm", "--margin", "0.05", "--out", str(out)]) == 0
    ni = json.loads((out / "results.json").read_text())["non_inferiority"]
    assert ni["engine"] == "glmm" and ni["decision"] == "not estimable" and ni["margin"] == 0.05


def test_cli_threshold_adds_reader_averaged_operating_points_with_mrmc_cis(tmp_path):
    out = tmp_path / "out"
    assert main(["mrmc", "--readings", str(FIXTURE / "vandyke.csv"), "--score", "rating", "--truth", "truth",
                 "--control", "1", "--treatment", "2", "--arm-col", "treatment", "--threshold", "3",
                 "--out", str(out)]) == 0
    points = json.loads((out / "results.json").read_text())["operating_points"]
    data = vandyke()
    for arm in ("1", "2"):
        rows = data[data.arm == arm]
        # independent: the reader-averaged proportions (fully crossed, so every reading weighs the same)
        assert_allclose(points[arm]["sensitivity"]["estimate"], (rows[rows.truth == 1].rating >= 3).mean())
        assert_allclose(points[arm]["specificity"]["estimate"], (rows[rows.truth == 0].rating < 3).mean())
        for name in ("sensitivity", "specificity"):
            p = points[arm][name]
            assert 0 < p["ci_low"] < p["estimate"] < p["ci_high"] < 1
    assert 'id="operating-points"' in (out / "report.html").read_text()
