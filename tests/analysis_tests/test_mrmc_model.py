"""The model as a fixed reader against the readers (analysis.model_vs_readers, RJafroc's 1T-RRRC).

RJafroc documents that its 2T-RRRC method — the CAD's ratings copied into a second "treatment" read by
every radiologist, then standard ORH — gives exactly the same F (= t^2), ddf and p as 1T-RRRC; our ORH
reproduces the published Van Dyke results (test_mrmc.py), so that identity is the reference here, with
a brute-force jackknife as a second, independent check.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.testing import assert_allclose
from scipy import stats

from analysis.cli import main
from analysis.model_vs_readers import model_vs_readers
from analysis.mrmc import mrmc
from analysis.readings import prepare

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "vandyke"


def cad_and_radiologists():
    """Van Dyke: reader 1 in treatment 1 plays the model, readers 2-5 in treatment 2 the radiologists."""
    raw = pd.read_csv(FIXTURE / "vandyke.csv")
    data = prepare(raw, value_cols=["rating", "truth"], control="1", treatment="2", arm_col="treatment")
    cad = data[(data.reader == "1") & (data.arm == "1")].set_index("case")["rating"]
    return data[(data.reader != "1") & (data.arm == "2")], cad


def test_1t_rrrc_equals_orh_with_the_model_as_a_second_treatment():
    readers, cad = cad_and_radiologists()
    result = model_vs_readers(readers, score="rating", truth="truth", arm="2", model_scores=cad, n_bootstrap=0)
    copied = pd.concat([readers, readers.assign(arm="model", rating=readers["case"].map(cad))])
    orh = mrmc(copied, score="rating", truth="truth", control="2", treatment="model").auc.rrrc
    assert_allclose([result.t**2, result.df, result.p_value], [orh.statistic, orh.df2, orh.p_value], rtol=1e-10)
    assert_allclose([result.difference, result.ci_low, result.ci_high], [orh.difference, orh.ci_low, orh.ci_high])
    assert result.n_readers == 4 and result.readers_beaten == 1  # model AUC 0.9196 beats reader 2's 0.9053


def test_1t_rrrc_by_brute_force_jackknife():
    readers, cad = cad_and_radiologists()
    result = model_vs_readers(readers, score="rating", truth="truth", arm="2", model_scores=cad, n_bootstrap=0)

    def auc(scores: pd.Series, truth: pd.Series) -> float:
        pos, neg = scores[truth == 1].to_numpy(), scores[truth == 0].to_numpy()
        return float(((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])).mean())

    wide = readers.pivot(index="case", columns="reader", values="rating")
    truth = readers.drop_duplicates("case").set_index("case")["truth"].loc[wide.index]
    model = cad.loc[wide.index]
    cases = list(wide.index)
    loo = np.array([[auc(wide.loc[[c for c in cases if c != k], r], truth.drop(k)) - auc(model.drop(k), truth.drop(k))
                     for k in cases] for r in wide.columns])
    n = len(cases)
    centred = loo - loo.mean(axis=1, keepdims=True)
    cov = (n - 1) / n * centred @ centred.T
    psi = np.array([auc(wide[r], truth) - auc(model, truth) for r in wide.columns])
    cov2 = cov[~np.eye(4, dtype=bool)].mean()
    ms_den = psi.var(ddof=1) + max(4 * cov2, 0)
    assert_allclose(result.se, np.sqrt(ms_den / 4), rtol=1e-10)
    assert_allclose(result.df, ms_den**2 / (psi.var(ddof=1) ** 2 / 3), rtol=1e-10)
    assert_allclose(result.p_value, 2 * stats.t.sf(abs(psi.mean()) / np.sqrt(ms_den / 4), result.df), rtol=1e-10)


def test_two_way_bootstrap_interval_brackets_the_estimate():
    readers, cad = cad_and_radiologists()
    result = model_vs_readers(readers, score="rating", truth="truth", arm="2", model_scores=cad, n_bootstrap=500)
    assert result.bootstrap_ci_low < result.difference < result.bootstrap_ci_high
    # comparable width to the 1T-RRRC interval (two-way bootstrap is somewhat conservative)
    width = result.bootstrap_ci_high - result.bootstrap_ci_low
    assert 0.5 < width / (result.ci_high - result.ci_low) < 2


def test_cli_mrmc_with_model_outputs(tmp_path):
    raw = pd.read_csv(FIXTURE / "vandyke.csv")
    readings = tmp_path / "vandyke.csv"
    raw.to_csv(readings, index=False)
    cad = raw[(raw.reader == 1) & (raw.treatment == 1)]
    outputs = pd.DataFrame({"case": cad["case"].astype(str), "model_top1": "", "model_top3": "",
                            "model_malignant_score": (cad["rating"] - 1) / 4})
    model = tmp_path / "model.csv"
    outputs.to_csv(model, index=False)
    out = tmp_path / "out"
    assert main(["mrmc", "--readings", str(readings), "--score", "rating", "--truth", "truth", "--control", "1",
                 "--treatment", "2", "--arm-col", "treatment", "--model-outputs", str(model), "--out", str(out)]) == 0
    block = json.loads((out / "results.json").read_text())["model_vs_readers"]
    assert set(block) == {"1", "2"}
    assert {"model_auc", "readers_auc", "difference", "ci_low", "ci_high", "p_value", "df", "share_beaten",
            "bootstrap_ci_low", "bootstrap_ci_high"} <= set(block["2"])
    assert_allclose(block["1"]["model_auc"], 0.9196457326892109)  # reader 1's published AUC (rescaling keeps ranks)
    assert "Model versus the readers" in (out / "report.html").read_text()
