"""Agreement: ICC against R psych::ICC, kappas against statsmodels, repeats counted by hand."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose
from statsmodels.stats.inter_rater import cohens_kappa
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from analysis.agreement import _complete_matrix, agreement, cohen_kappa, fleiss_kappa, icc_table
from analysis.readings import InputError
from tests.analysis_tests.cli_run import run_analysis

ROOT = Path(__file__).resolve().parents[2]
# Made by tests/fixtures/psych_icc/make.R: psych::ICC(x, lmer = FALSE) per arm (psych 2.2.9).
ICC_DIR = ROOT / "tests" / "fixtures" / "psych_icc"


@pytest.mark.parametrize("arm", ["unaided", "ai"])
def test_icc_matches_psych(arm):
    ratings = pd.read_csv(ICC_DIR / "ratings.csv")
    expected = json.loads((ICC_DIR / "icc.json").read_text())[arm]
    result = icc_table(_complete_matrix(ratings[ratings["arm"] == arm].rename(columns={"malignancy_score": "value"})))
    got = [row.to_dict() for row in result.rows]
    assert [r["type"] for r in got] == [r["type"] for r in expected]
    for key in ("estimate", "F", "df1", "df2", "ci_low", "ci_high"):
        assert_allclose([r[key] for r in got], [r[key] for r in expected], rtol=1e-9, err_msg=key)
    assert_allclose([r["p_value"] for r in got], [r["p_value"] for r in expected], rtol=1e-6)


def test_icc_block_in_results():
    ratings = pd.read_csv(ICC_DIR / "ratings.csv")
    block = agreement(ratings, rating="malignancy_score", control="unaided", treatment="ai",
                      replicates=100).to_dict()
    expected = json.loads((ICC_DIR / "icc.json").read_text())["ai"]
    assert block["icc"]["ai"]["icc2_1"]["estimate"] == pytest.approx(expected[1]["estimate"], rel=1e-9)
    assert block["icc"]["ai"]["icc2_k"]["estimate"] == pytest.approx(expected[4]["estimate"], rel=1e-9)


def _ordinal_pairs(seed: int = 4, n: int = 60) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(1, 6, n)
    b = np.clip(a + rng.integers(-1, 2, n), 1, 5)
    return a, b


@pytest.mark.parametrize("weights,wt", [("none", None), ("linear", "linear"), ("quadratic", "quadratic")])
def test_cohen_kappa_matches_statsmodels(weights, wt):
    a, b = _ordinal_pairs()
    table = pd.crosstab(a, b).reindex(index=range(1, 6), columns=range(1, 6), fill_value=0).to_numpy()
    expected = cohens_kappa(table, wt=wt, return_results=False)
    assert cohen_kappa(a, b, weights=weights, categories=range(1, 6)) == pytest.approx(expected, rel=1e-12)


def test_fleiss_kappa_matches_statsmodels():
    rng = np.random.default_rng(2)
    counts = rng.multinomial(7, [0.5, 0.3, 0.2], size=25)  # 25 cases, 7 readers each
    assert fleiss_kappa(counts) == pytest.approx(sm_fleiss(counts, method="fleiss"), rel=1e-12)


def diagnosis_table() -> pd.DataFrame:
    """4 readers x 10 cases x 2 arms, top-1 codes; with AI the readers agree more; R1 and R2 repeat 4 cases."""
    rng = np.random.default_rng(9)
    truths = list("ABCDEABCDE")
    rows = []
    for arm, p in (("unaided", 0.5), ("ai", 0.9)):
        for r in range(4):
            for c, truth in enumerate(truths):
                code = truth if rng.random() < p else rng.choice(list("ABCDEFG"))
                rows.append({"reader": f"R{r + 1}", "case": f"C{c}", "arm": arm, "differential": f"{code}|Z",
                             "repeat": 0})
    # repeats: R1 repeats C0-C3 identically; R2 repeats C0-C3 agreeing on 1 of 4
    for c in range(4):
        first = next(x for x in rows if x["reader"] == "R1" and x["case"] == f"C{c}" and x["arm"] == "unaided")
        rows.append({**first, "repeat": 1})
        second = next(x for x in rows if x["reader"] == "R2" and x["case"] == f"C{c}" and x["arm"] == "unaided")
        rows.append({**second, "repeat": 1, "differential": second["differential"] if c == 0 else "Q"})
    return pd.DataFrame(rows)


def test_intra_reader_from_repeats_and_flag():
    block = agreement(diagnosis_table(), rating="top1", replicates=100).to_dict()["intra_reader"]
    per = {r["reader"]: r for r in block["per_reader"]}
    assert block["n_pairs"] == 8 and set(per) == {"R1", "R2"}
    assert per["R1"]["kappa"] == pytest.approx(1.0) and per["R1"]["percent_agreement"] == 1.0
    assert per["R2"]["percent_agreement"] == 0.25 and per["R2"]["flagged"]
    assert block["flagged_readers"] == ["R2"] and "R2" in block["warnings"][0]


def test_inter_reader_uses_first_reads_only_and_matches_statsmodels():
    table = diagnosis_table()
    result = agreement(table, rating="top1", control="unaided", treatment="ai", replicates=500)
    first = table[table["repeat"] == 0].assign(code=lambda d: d["differential"].str[0])
    for arm in ("unaided", "ai"):
        counts = pd.crosstab(first[first["arm"] == arm]["case"], first[first["arm"] == arm]["code"]).to_numpy()
        assert result.inter_reader[arm].fleiss_kappa.estimate == pytest.approx(sm_fleiss(counts), rel=1e-12)
    diff = result.to_dict()["inter_reader"]["difference"]
    assert diff["estimate"] > 0 and diff["ci_low"] <= diff["estimate"] <= diff["ci_high"]


def test_bootstrap_does_not_manufacture_agreement():
    """Random answers: Fleiss' kappa ~ 0; a reader drawn twice must not count as agreeing with itself."""
    rng = np.random.default_rng(0)
    rows = [{"reader": f"R{r}", "case": f"C{c}", "arm": "x", "rating": str(rng.integers(0, 4))}
            for r in range(5) for c in range(80)]
    result = agreement(pd.DataFrame(rows), rating="rating", replicates=400)
    low, high = result.inter_reader["x"].fleiss_kappa.ci_low, result.inter_reader["x"].fleiss_kappa.ci_high
    assert low < 0 < high and high < 0.15


def test_weighted_kappa_needs_numbers():
    with pytest.raises(InputError, match="numeric"):
        agreement(diagnosis_table(), rating="top1", weights="linear")


def test_cli_agreement(tmp_path):
    block, out = run_analysis(
        tmp_path, diagnosis_table(), "agreement",
        "--rating", "top1", "--control", "unaided", "--treatment", "ai", "--replicates", "200",
    )
    assert set(block) >= {"intra_reader", "inter_reader", "icc"}
    assert 'id="agreement"' in (out / "report.html").read_text()
