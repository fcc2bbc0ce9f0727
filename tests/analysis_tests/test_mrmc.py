"""MRMC analysis against published values for the Van Dyke (1993) data.

Sources (tests/fixtures/vandyke/README.md):
- published.json: OR-DBM MRMC 2.51 output (jackknife, trapezoidal AUC), confirmed by JAFROC 4.2.1
  and MRMCaov; its DeLong row from the MRMCaov paper. Published differences are 1 - 2; we report
  treatment - control = 2 - 1, so signs flip.
- MRMCaov README, `summary(mrmc(empirical_auc(truth, rating), treatment, reader, case, VanDyke))`.
- RJafroc documentation, `UtilORVarComponentsFactorial(dataset02, FOM = "Wilcoxon")`.
- RJafroc `SsPowerGivenJK` documentation, example 5A (DBM variance components of dataset02).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis.fom import ScoreArray, empirical_auc, jackknife_covariance, roc_points, score_array
from analysis.mrmc import mrmc
from analysis.readings import InputError, prepare

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vandyke"
PUBLISHED = json.loads((FIXTURE / "published.json").read_text())


def vandyke() -> pd.DataFrame:
    raw = pd.read_csv(FIXTURE / "vandyke.csv")
    return prepare(raw, value_cols=["rating", "truth"], control="1", treatment="2", arm_col="treatment")


@pytest.fixture(scope="module")
def jackknife():
    return mrmc(vandyke(), score="rating", truth="truth", control="1", treatment="2", threshold=3)


@pytest.fixture(scope="module")
def delong():
    return mrmc(vandyke(), score="rating", truth="truth", control="1", treatment="2", covariance="delong")


def test_per_reader_auc_matches_published(jackknife):
    # published.json "auc", printed to 8 decimals
    for arm in ("1", "2"):
        per_reader = jackknife.auc.by_arm()[arm]["per_reader"]
        expected = PUBLISHED["auc"][arm]
        assert_allclose([per_reader[r] for r in "12345"], [expected[r] for r in "12345"], atol=1e-6)
        assert_allclose(jackknife.auc.mean(arm), expected["mean"], atol=1e-8)


def test_auc_equals_mann_whitney_u():
    # independent: scipy's Mann-Whitney U / (n1 n0) is the trapezoidal AUC
    data = vandyke()
    one = data[(data["arm"] == "1") & (data["reader"] == "3")]
    u = stats.mannwhitneyu(one.loc[one.truth == 1, "rating"], one.loc[one.truth == 0, "rating"]).statistic
    expected = u / ((one.truth == 1).sum() * (one.truth == 0).sum())
    assert_allclose(PUBLISHED["auc"]["1"]["3"], expected, atol=1e-8)


def test_or_variance_components(jackknife):
    # published.json "or_variance_components" (8 decimals); var_reader, var_treatment_reader
    # from the MRMCaov README summary (reader 0.0015349993, treatment:reader 0.0002004025)
    vc = jackknife.auc.variance_components
    published = PUBLISHED["or_variance_components"]
    for key in ("var_error", "cov1", "cov2", "cov3"):
        assert_allclose(getattr(vc, key), published[key], atol=5e-9)
    assert_allclose(vc.var_reader, 0.0015349993, atol=5e-11)
    assert_allclose(vc.var_treatment_reader, 0.0002004025, atol=5e-11)
    # RJafroc UtilORVarComponentsFactorial $TRanova: MS(T), MS(R), MS(TR)
    assert_allclose(vc.ms_treatment, 0.0047961705, atol=5e-11)
    assert_allclose(vc.ms_reader, 0.0038362000, atol=5e-11)
    assert_allclose(vc.ms_treatment_reader, 0.0005510306, atol=5e-11)


def test_rrrc(jackknife):
    # published.json "rrrc": F 4.456319, df2 15.2597, p 0.051666, SE 0.02075, CI (-0.08796, 0.00036)
    rrrc, published = jackknife.auc.rrrc, PUBLISHED["rrrc"]
    assert_allclose(rrrc.difference, -PUBLISHED["difference_1_minus_2"], atol=5e-9)
    assert_allclose(rrrc.statistic, published["f"], atol=5e-7)
    assert rrrc.df1 == published["df1"]
    assert_allclose(rrrc.df2, published["df2"], atol=5e-5)
    assert_allclose(rrrc.p_value, published["p"], atol=5e-7)
    assert_allclose(rrrc.se, published["se"], atol=5e-6)
    assert_allclose([rrrc.ci_low, rrrc.ci_high], [-published["ci"][1], -published["ci"][0]], atol=5e-6)
    # MRMCaov README: StdErr 0.02074862, df 15.25967, CI -0.0879594986 to 0.0003588544 (for 1 - 2)
    assert_allclose([rrrc.se, rrrc.df2], [0.02074862, 15.25967], atol=5e-9 * 1e3)
    assert_allclose(rrrc.ci_high, 0.0879594986, atol=5e-10)


def test_frrc(jackknife):
    # published.json "frrc": X2 5.47595, df 1, p 0.0193, SE 0.01872, CI (-0.08049, -0.00711)
    frrc, published = jackknife.auc.frrc, PUBLISHED["frrc"]
    assert_allclose(frrc.statistic, published["chi2"], atol=5e-6)
    assert frrc.df1 == published["df"] and frrc.df2 is None
    assert_allclose(frrc.p_value, published["p"], atol=5e-5)
    assert_allclose(frrc.se, published["se"], atol=5e-6)
    assert_allclose([frrc.ci_low, frrc.ci_high], [-published["ci"][1], -published["ci"][0]], atol=5e-6)


def test_rrfc(jackknife):
    # published.json "rrfc": F 8.704, df 1 and 4, p 0.04195875, SE 0.01485, CI (-0.08502, -0.00258)
    rrfc, published = jackknife.auc.rrfc, PUBLISHED["rrfc"]
    assert_allclose(rrfc.statistic, published["f"], atol=5e-4)
    assert (rrfc.df1, rrfc.df2) == (published["df1"], published["df2"])
    assert_allclose(rrfc.p_value, published["p"], atol=5e-9)
    assert_allclose(rrfc.se, published["se"], atol=5e-6)
    assert_allclose([rrfc.ci_low, rrfc.ci_high], [-published["ci"][1], -published["ci"][0]], atol=5e-6)


def test_single_treatment_rrrc(jackknife):
    # published.json "single_treatment_rrrc": SE (8 decimals), df (2 decimals), CI (8 decimals)
    for arm in ("1", "2"):
        got = jackknife.auc.single_treatment[arm]["rrrc"]
        published = PUBLISHED["single_treatment_rrrc"][arm]
        assert_allclose(got.se, published["se"], atol=5e-9)
        assert_allclose(got.df, published["df"], atol=5e-3)
        assert_allclose([got.ci_low, got.ci_high], published["ci"], atol=5e-8)
    # RJafroc $IndividualTrt: msREachTrt 0.003082629 / 0.001304602, cov2EachTrt 0.0004839618 / 0.0002041879
    assert_allclose(jackknife.auc.single_treatment["1"]["rrrc"].df, 12.74465, atol=5e-6)  # MRMCaov README


def test_single_treatment_fixed_effects_follow_from_the_components(jackknife):
    # Hillis (2007): fixed readers SE^2 = [Var_i + (r-1) Cov2_i] / r; fixed cases SE^2 = MS(R)_i / r.
    # Var_i and Cov2_i for treatment 1 from RJafroc $IndividualTrt (varEachTrt, cov2EachTrt).
    single = jackknife.auc.single_treatment["1"]
    assert_allclose(single["frrc"].se, np.sqrt((0.0010141028 + 4 * 0.0004839618) / 5), atol=1e-9)
    assert_allclose(single["rrfc"].se, np.sqrt(0.003082629 / 5), atol=1e-9)
    assert single["frrc"].df is None and single["rrfc"].df == 4


def test_delong_rrrc(delong):
    # published.json "rrrc_delong" (MRMCaov): F 4.484854, df2 15.06611, p 0.05123303
    published = PUBLISHED["rrrc_delong"]
    assert_allclose(delong.auc.rrrc.statistic, published["f"], atol=5e-7)
    assert_allclose(delong.auc.rrrc.df2, published["df2"], atol=5e-6)
    assert_allclose(delong.auc.rrrc.p_value, published["p"], atol=5e-9)
    assert delong.auc.dbm is None  # DBM needs jackknife pseudovalues


def test_dbm_equals_orh_and_matches_rjafroc(jackknife):
    # Hillis (2007): DBM with jackknife pseudovalues = ORH with jackknife covariances.
    dbm, orh = jackknife.auc.dbm, jackknife.auc.rrrc
    assert_allclose(
        [dbm.rrrc.statistic, dbm.rrrc.df2, dbm.rrrc.p_value], [orh.statistic, orh.df2, orh.p_value]
    )
    assert_allclose(dbm.rrfc.statistic, jackknife.auc.rrfc.statistic)
    # RJafroc SsPowerGivenJK example 5A: DBM variance components of dataset02 (11 significant digits)
    expected = {
        "var_reader": 0.00153499935,
        "var_case": 0.02724923428,
        "var_treatment_reader": 0.00020040252,
        "var_treatment_case": 0.01197529621,
        "var_reader_case": 0.01226472859,
        "var_error": 0.03997160319,
    }
    for key, value in expected.items():
        assert_allclose(dbm.variance_components[key], value, atol=5e-12)


def test_jackknife_covariance_matches_brute_force_leave_one_out():
    # independent: recompute every leave-one-case-out AUC by deleting the case
    data = vandyke()
    scores = score_array(data, "rating", "truth", ("1", "2"))
    small = ScoreArray(
        scores.treatments, scores.readers[:2], scores.cases[:30], scores.truth[:30], scores.scores[:, :2, :30]
    )
    loo = np.empty((2, 2, 30))
    for k in range(30):
        keep = np.arange(30) != k
        reduced = ScoreArray(small.treatments, small.readers, (), small.truth[keep], small.scores[..., keep])
        loo[..., k] = empirical_auc(reduced).values
    assert_allclose(empirical_auc(small).leave_one_out(), loo, atol=1e-12)
    assert_allclose(jackknife_covariance(loo), empirical_auc(small).covariance("jackknife"), atol=1e-14)


def test_sensitivity_specificity_at_threshold(jackknife):
    # independent: direct proportions on the raw table (score >= 3 called positive)
    data = vandyke()
    for arm in ("1", "2"):
        rows = data[data["arm"] == arm]
        sens = rows[rows.truth == 1].groupby("reader")["rating"].apply(lambda s: (s >= 3).mean())
        spec = rows[rows.truth == 0].groupby("reader")["rating"].apply(lambda s: (s < 3).mean())
        i = jackknife.sensitivity.treatments.index(arm)
        assert_allclose(jackknife.sensitivity.values[i], sens.to_numpy())
        assert_allclose(jackknife.specificity.values[i], spec.to_numpy())
    assert jackknife.sensitivity.rrrc.df2 > 0 and 0 < jackknife.sensitivity.rrrc.p_value < 1


def test_roc_points_and_pooled_auc():
    fpr, tpr = roc_points(np.array([1, 2, 3, 4]), np.array([0, 0, 1, 1]))
    assert_allclose(fpr, [0, 0, 0, 0.5, 1])
    assert_allclose(tpr, [0, 0.5, 1, 1, 1])


def test_roc_curves_in_result(jackknife):
    readers = {(c.arm, c.reader) for c in jackknife.roc}
    assert ("1", "pooled") in readers and ("2", "3") in readers
    curve = next(c for c in jackknife.roc if c.arm == "2" and c.reader == "1")
    assert_allclose(curve.auc, PUBLISHED["auc"]["2"]["1"], atol=1e-6)
    assert curve.fpr[0] == 0 and curve.tpr[-1] == 1


def test_to_dict_contract_keys(jackknife):
    out = jackknife.to_dict()
    assert set(out["auc"]) == {"1", "2"}
    assert set(out["auc"]["2"]) == {"mean", "per_reader"}
    keys = {"difference", "se", "ci_low", "ci_high", "statistic", "df1", "df2", "p_value"}
    for name in ("rrrc", "frrc", "rrfc"):
        assert keys <= set(out[name])
    assert out["frrc"]["df2"] is None
    assert {"var_error", "cov1", "cov2", "cov3", "var_reader", "var_treatment_reader"} <= set(
        out["variance_components"]
    )


# --- edge cases ------------------------------------------------------------------------------


def test_missing_scores_drop_the_case_with_a_warning():
    data = vandyke()
    data.loc[(data["reader"] == "2") & (data["case"] == "7") & (data["arm"] == "1"), "rating"] = np.nan
    result = mrmc(data, score="rating", truth="truth", control="1", treatment="2")
    assert result.n_cases == 113
    assert any("1 case(s) dropped" in w for w in result.warnings)


def test_reader_with_one_treatment_only_is_dropped():
    data = vandyke()
    data = data[~((data["reader"] == "5") & (data["arm"] == "2"))]
    result = mrmc(data, score="rating", truth="truth", control="1", treatment="2")
    assert result.auc.readers == ("1", "2", "3", "4")
    assert any("reader 5 dropped" in w for w in result.warnings)


def test_truth_must_be_constant_within_a_case():
    data = vandyke()
    data.loc[(data["case"] == "1") & (data["reader"] == "1"), "truth"] = 1
    with pytest.raises(InputError, match="differs within case '1'"):
        mrmc(data, score="rating", truth="truth", control="1", treatment="2")


def test_too_few_diseased_cases_is_an_input_error():
    data = vandyke()
    data = data[(data["truth"] == 0) | (data["case"] == data.loc[data.truth == 1, "case"].iloc[0])]
    with pytest.raises(InputError, match="at least 2 diseased"):
        mrmc(data, score="rating", truth="truth", control="1", treatment="2")


def test_perfect_readers_give_auc_one_without_crashing():
    data = vandyke()
    data["rating"] = data["truth"] * 4 + 1
    result = mrmc(data, score="rating", truth="truth", control="1", treatment="2")
    assert_allclose(result.auc.values, 1.0)
    assert result.auc.rrrc.difference == 0
    assert np.isnan(result.auc.rrrc.statistic)
