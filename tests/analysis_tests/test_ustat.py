"""U-statistic MRMC (analysis.ustat) against independent computations.

No iMRMC reference run is possible here (iMRMC is an R/Java package; `apt-cache policy r-cran-imrmc`
lists no candidate, and its own test values come from R's RNG streams), so each estimator is checked
three independent ways:
1. a brute-force implementation below that loops over every pair of observations, classifies which
   indices they share and averages the products (the definition in Gallas et al. 2009, sec. 3);
2. closed forms: in a fully crossed design the unbiased variance of a two-way mean is
   (MS_R + MS_C - MS_RC) / (R N) (two-way random-effects ANOVA), and the U-statistic must equal it;
   for the AUC the one-arm mean equals the reader-averaged trapezoidal AUC of ORH (Van Dyke);
3. Monte Carlo: over simulated Roe-Metz studies of each design, the mean estimated variance equals
   the empirical variance of the estimates.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from scipy import stats

from analysis.design_detect import check_method, detect_design
from analysis.readings import InputError, prepare
from analysis.roe_metz import RoeMetz, simulate_roe_metz
from analysis.ustat import read_imrmc, ustat, write_imrmc

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vandyke"
PUBLISHED = json.loads((FIXTURE / "published.json").read_text())


def vandyke() -> pd.DataFrame:
    raw = pd.read_csv(FIXTURE / "vandyke.csv")
    return prepare(raw, value_cols=["rating", "truth"], control="1", treatment="2", arm_col="treatment")


# --- 1. brute force ------------------------------------------------------------------------------


def _observations(data: pd.DataFrame, arm: str, fom: str, score: str) -> list[tuple[tuple, float]]:
    """((reader, case indices...), kernel value) for every observation of the arm."""
    rows = data[data["arm"] == arm]
    if fom == "percent_correct":
        return [((r.reader, r.case), float(getattr(r, score))) for r in rows.itertuples()]
    out = []
    for reader, block in rows.groupby("reader"):
        neg = block[block.truth == 0]
        pos = block[block.truth == 1]
        for n in neg.itertuples():
            for p in pos.itertuples():
                x, y = getattr(p, score), getattr(n, score)
                out.append(((reader, n.case, p.case), 1.0 if x > y else 0.5 if x == y else 0.0))
    return out


def brute_force_cov(data: pd.DataFrame, arm_a: str, arm_b: str, fom: str, score: str) -> float:
    obs_a, obs_b = _observations(data, arm_a, fom, score), _observations(data, arm_b, fom, score)
    sums: dict[tuple, float] = {}
    counts: dict[tuple, int] = {}
    for (ia, sa), (ib, sb) in itertools.product(obs_a, obs_b):
        pattern = tuple(x == y for x, y in zip(ia, ib, strict=True))
        sums[pattern] = sums.get(pattern, 0.0) + sa * sb
        counts[pattern] = counts.get(pattern, 0) + 1
    total = len(obs_a) * len(obs_b)
    none = tuple(False for _ in obs_a[0][0])
    # var = sum_k (n_k / N) M_k - M_none, with M_k the plain average of the products of pattern k
    return sum(counts[k] / total * sums[k] / counts[k] for k in sums) - sums[none] / counts[none]


def small_design(seed: int) -> pd.DataFrame:
    """4 readers, 7 cases (3 diseased), a quota design with a missing reading and an unpaired reader."""
    rng = np.random.default_rng(seed)
    rows = []
    truth = [0, 0, 0, 0, 1, 1, 1]
    for r in range(4):
        for c in range(7):
            for arm in ("A", "B"):
                if rng.random() < 0.3 or (r == 3 and arm == "A"):
                    continue
                rating = int(rng.integers(1, 5)) + 2 * truth[c] * (arm == "B")
                rows.append({"reader": f"r{r}", "case": f"c{c}", "arm": arm, "rating": rating, "truth": truth[c],
                             "correct": float(rng.random() < 0.4 + 0.3 * (arm == "B"))})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(("fom", "score"), [("auc", "rating"), ("percent_correct", "correct")])
def test_variances_equal_brute_force_pair_enumeration(seed, fom, score):
    data = small_design(seed)
    result = ustat(data, score=score, truth="truth", control="A", treatment="B", fom=fom)
    var_a = brute_force_cov(data, "A", "A", fom, score)
    var_b = brute_force_cov(data, "B", "B", fom, score)
    cov_ab = brute_force_cov(data, "B", "A", fom, score)
    assert_allclose(result.arms["A"].var, var_a, atol=1e-12)
    assert_allclose(result.arms["B"].var, var_b, atol=1e-12)
    assert_allclose(result.difference.var, var_a + var_b - 2 * cov_ab, atol=1e-12)
    assert result.design.kind == "reader_subset"


def test_sensitivity_and_specificity_are_percent_correct_on_one_truth_class():
    data = small_design(3)
    sens = ustat(data, score="rating", truth="truth", control="A", treatment="B", fom="sensitivity", threshold=3)
    positives = data[data.truth == 1].assign(hit=lambda d: (d.rating >= 3).astype(float))
    pc = ustat(positives, score="hit", control="A", treatment="B", fom="percent_correct")
    assert_allclose([sens.arms["B"].mean, sens.arms["B"].var, sens.difference.var],
                    [pc.arms["B"].mean, pc.arms["B"].var, pc.difference.var])
    spec = ustat(data, score="rating", truth="truth", control="A", treatment="B", fom="specificity", threshold=3)
    negatives = data[data.truth == 0]
    assert_allclose(spec.arms["A"].mean, (negatives[negatives.arm == "A"].rating < 3).mean())


# --- 2. closed forms -----------------------------------------------------------------------------


def test_fully_crossed_percent_correct_equals_two_way_anova_unbiased_variance():
    rng = np.random.default_rng(5)
    spec = RoeMetz(n_readers=5, n_negative=12, n_positive=13)
    data = simulate_roe_metz(spec, rng)
    result = ustat(data, score="correct", control="0", treatment="1", fom="percent_correct")
    for arm in ("0", "1"):
        y = data[data.arm == arm].pivot(index="reader", columns="case", values="correct").to_numpy()
        r, n = y.shape
        g = y.mean()
        ms_r = n * ((y.mean(axis=1) - g) ** 2).sum() / (r - 1)
        ms_c = r * ((y.mean(axis=0) - g) ** 2).sum() / (n - 1)
        resid = y - y.mean(axis=1, keepdims=True) - y.mean(axis=0, keepdims=True) + g
        ms_rc = (resid**2).sum() / ((r - 1) * (n - 1))
        assert_allclose(result.arms[arm].var, (ms_r + ms_c - ms_rc) / (r * n), rtol=1e-10)
    # the difference is the two-way mean of the per-reading differences
    d = (data[data.arm == "1"].pivot(index="reader", columns="case", values="correct")
         - data[data.arm == "0"].pivot(index="reader", columns="case", values="correct")).to_numpy()
    r, n = d.shape
    g = d.mean()
    ms_r = n * ((d.mean(axis=1) - g) ** 2).sum() / (r - 1)
    ms_c = r * ((d.mean(axis=0) - g) ** 2).sum() / (n - 1)
    resid = d - d.mean(axis=1, keepdims=True) - d.mean(axis=0, keepdims=True) + g
    ms_rc = (resid**2).sum() / ((r - 1) * (n - 1))
    assert_allclose(result.difference.var, (ms_r + ms_c - ms_rc) / (r * n), rtol=1e-10)


def test_vandyke_auc_means_match_published_and_variance_is_close_to_orh():
    result = ustat(vandyke(), score="rating", truth="truth", control="1", treatment="2", fom="auc")
    assert result.design.kind == "fully_crossed"
    # published.json: reader-averaged trapezoidal AUCs (OR-DBM MRMC 2.51)
    for arm in ("1", "2"):
        assert_allclose(result.arms[arm].mean, PUBLISHED["auc"][arm]["mean"], atol=1e-8)
        for reader in "12345":
            assert_allclose(result.arms[arm].per_reader[reader], PUBLISHED["auc"][arm][reader], atol=1e-6)
    assert_allclose(result.difference.estimate, -PUBLISHED["difference_1_minus_2"], atol=1e-8)
    # Two different unbiased/jackknife estimators of the same variance: ORH RRRC SE 0.02075 (published)
    assert_allclose(result.difference.se, PUBLISHED["rrrc"]["se"], rtol=0.05)
    assert 10 < result.difference.df < 30 and 0.01 < result.difference.p_value < 0.2
    parts = result.arms["1"].decomposition
    assert_allclose(sum(parts.components.values()), result.arms["1"].var, rtol=1e-12)
    assert_allclose(sum(parts.coefficients.values()), 0.0, atol=1e-12)  # shares of pairs sum to 1, minus 1
    assert len(parts.moments) == 8


def test_one_reader_is_refused():
    # reader variability cannot be estimated from one reader (no pair of observations by two readers)
    data = vandyke()
    with pytest.raises(InputError, match="at least 2 readers"):
        ustat(data[data.reader == "1"], score="rating", truth="truth", control="1", treatment="2")


# --- 3. Monte Carlo ------------------------------------------------------------------------------


@pytest.mark.parametrize("design", ["fully_crossed", "split_plot", "reader_subset", "unpaired"])
def test_variance_is_unbiased_over_simulated_studies(design):
    rng = np.random.default_rng(2024)
    spec = RoeMetz(design=design, n_readers=6, n_negative=15, n_positive=15)
    estimates, variances = [], []
    for _ in range(200):
        data = simulate_roe_metz(spec, rng)
        result = ustat(data, score="rating", truth="truth", control="0", treatment="1", fom="auc")
        assert result.design.kind == design
        estimates.append(result.difference.estimate)
        variances.append(result.difference.var)
    empirical = np.var(estimates, ddof=1)
    # the empirical variance of 200 estimates has a relative SE of sqrt(2/199) = 10 %: allow 3 SE
    assert abs(np.mean(variances) / empirical - 1) < 0.3


# --- design detection ----------------------------------------------------------------------------


def test_design_detection_names_each_design():
    rng = np.random.default_rng(0)
    for design in ("fully_crossed", "split_plot", "reader_subset", "unpaired"):
        data = simulate_roe_metz(RoeMetz(design=design, n_blocks=3), rng)
        found = detect_design(data, control="0", treatment="1")
        assert found.kind == design
        if design == "split_plot":
            assert len(found.groups) == 3 and found.describe() == "split-plot with 3 blocks"


def test_orh_is_refused_on_split_plot_and_warned_on_a_nearly_complete_design():
    rng = np.random.default_rng(0)
    split = detect_design(simulate_roe_metz(RoeMetz(design="split_plot"), rng), control="0", treatment="1")
    with pytest.raises(InputError, match="split-plot with 2 blocks.*--method splitplot or --method ustat"):
        check_method(split, "orh")
    assert check_method(split, "ustat") == []
    data = vandyke()
    data = data.drop(index=data.index[3])
    nearly = detect_design(data, control="1", treatment="2")
    assert nearly.kind == "reader_subset"
    assert "fully crossed part" in check_method(nearly, "orh")[0]
    unpaired = detect_design(simulate_roe_metz(RoeMetz(design="unpaired"), rng), control="0", treatment="1")
    with pytest.raises(InputError, match="unpaired"):
        check_method(unpaired, "orh")


# --- input and output ----------------------------------------------------------------------------


def test_imrmc_file_round_trip(tmp_path):
    data = vandyke()
    path = tmp_path / "vandyke.imrmc"
    write_imrmc(data, path, score="rating", truth="truth")
    back = read_imrmc(path)
    assert "BEGIN DATA:" in path.read_text() and "-1,1,0,0" in path.read_text()
    a = ustat(data, score="rating", truth="truth", control="1", treatment="2")
    b = ustat(back, score="rating", truth="truth", control="1", treatment="2")
    assert_allclose(a.difference.var, b.difference.var)


def test_bad_input_names_the_problem():
    data = vandyke()
    with pytest.raises(InputError, match="0/1 score"):
        ustat(data, score="rating", control="1", treatment="2", fom="percent_correct")
    with pytest.raises(InputError, match="needs --threshold"):
        ustat(data, score="rating", truth="truth", control="1", treatment="2", fom="sensitivity")


# --- proportions keep their intervals inside [0, 1] (issue 17) -------------------------------------


def test_reader_level_proportion_intervals_stay_inside_0_1():
    from analysis.classical import arm_summary

    near_one = np.array([1.0, 1.0, 1.0, 0.95, 1.0, 0.9])
    t_only = arm_summary(near_one)
    assert t_only.ci_high > 1  # the plain t interval leaves [0, 1] ...
    logit = arm_summary(near_one, proportion=True)
    assert 0 < logit.ci_low < logit.mean < logit.ci_high < 1  # ... the logit-based one does not
    perfect = arm_summary(np.ones(8), proportion=True)
    # Wilson limit at p = 1 with n = 8: n / (n + z^2)
    assert_allclose([perfect.ci_low, perfect.ci_high], [8 / (8 + 1.959964**2), 1.0], rtol=1e-6)
    zero = arm_summary(np.zeros(8), proportion=True)
    assert zero.ci_low == 0.0 and 0 < zero.ci_high < 1


def test_arm_intervals_are_logit_based_and_inside_0_1():
    data = vandyke()
    result = ustat(data, score="rating", truth="truth", control="1", treatment="2", fom="sensitivity", threshold=3)
    arm = result.arms["2"]
    assert arm.mean + stats.t.ppf(0.975, arm.df) * arm.se > 1  # the plain t interval of 0.92 leaves [0, 1] ...
    assert 0 < arm.ci_low < arm.mean < arm.ci_high < 1  # ... the logit-based t interval does not
    logit = np.log(arm.mean / (1 - arm.mean))
    half = stats.t.ppf(0.975, arm.df) * arm.se / (arm.mean * (1 - arm.mean))
    assert_allclose([arm.ci_low, arm.ci_high], 1 / (1 + np.exp(-np.array([logit - half, logit + half]))))
