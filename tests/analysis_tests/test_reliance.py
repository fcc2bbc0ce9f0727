"""AI reliance: every number checked against a 3-reader x 4-case table counted by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.bootstrap import TwoWayBootstrap
from analysis.readings import InputError
from analysis.reliance import reliance
from tests.analysis_tests.cli_run import run_analysis

TRUTH = {"C1": "A", "C2": "B", "C3": "C", "C4": "D"}
AI = {"C1": ("A", 80), "C2": ("X", 20), "C3": ("C", 80), "C4": ("Y", 20)}  # right, wrong, right, wrong
# reader -> case -> (phase-1 top-1, phase-2 top-1, phase-1 malignancy, phase-2 malignancy, confidence)
ANSWERS = {
    "R1": {"C1": ("Z", "A", 40, 60, 2), "C2": ("B", "X", 50, 50, 3), "C3": ("C", "C", 50, 50, 5),
           "C4": ("D", "D", 50, 50, 4)},
    "R2": {"C1": ("A", "A", 50, 50, 4), "C2": ("Z", "X", 50, 20, 1), "C3": ("Z", "Z", 50, 50, 3),
           "C4": ("Q", "D", 50, 50, 2)},
    "R3": {"C1": ("Z", "Z", 50, 50, 3), "C2": ("B", "B", 50, 50, 5), "C3": ("Z", "C", 50, 50, 1),
           "C4": ("D", "Y", 20, 20, 4)},
}


def hand_table(sequential: bool = True) -> pd.DataFrame:
    rows = []
    for reader, answers in ANSWERS.items():
        for case, (first, second, m1, m2, conf) in answers.items():
            ai_code, ai_score = AI[case]
            common = {"reader": reader, "reader_group": "gp" if reader != "R3" else "derm", "case": case,
                      "truth": TRUTH[case], "confidence": conf}
            rows.append({**common, "arm": "unaided", "phase": 1 if sequential else 1, "differential": f"{first}|K",
                         "correct_top1": int(first == TRUTH[case]), "malignancy_score": m1,
                         "ai_top1": None, "ai_correct_top1": None, "ai_malignancy_score": None})
            rows.append({**common, "arm": "ai", "phase": 2 if sequential else 1, "differential": second,
                         "correct_top1": int(second == TRUTH[case]), "malignancy_score": m2,
                         "ai_top1": ai_code, "ai_correct_top1": int(ai_code == TRUTH[case]),
                         "ai_malignancy_score": ai_score})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def result():
    return reliance(hand_table(), control="unaided", treatment="ai", by=["reader_group"], replicates=400)


def test_switching_counts_by_hand(result):
    data = result.to_dict()
    assert data["design"] == "sequential"
    assert (data["n_pairs"], data["changed"], data["wrong_to_right"], data["right_to_wrong"]) == (12, 6, 3, 2)
    assert data["net_benefit"] == pytest.approx(1 / 12)
    cells = {(r["initial_correct"], r["ai_correct"], r["final_correct"]): r["n"] for r in data["switch_table"]}
    assert cells == {(0, 0, 0): 1, (0, 0, 1): 1, (0, 1, 0): 2, (0, 1, 1): 2,
                     (1, 0, 0): 2, (1, 0, 1): 2, (1, 1, 0): 0, (1, 1, 1): 2}


def test_automation_bias_contrast_by_hand(result):
    block = result.to_dict()["accuracy_by_ai_correct"]
    assert_allclose([block["ai_right"]["control"], block["ai_right"]["treatment"]], [2 / 6, 4 / 6])
    assert_allclose([block["ai_wrong"]["control"], block["ai_wrong"]["treatment"]], [4 / 6, 3 / 6])
    assert block["ai_wrong"]["difference"] == pytest.approx(-1 / 6)
    for entry in block.values():
        assert entry["ci_low"] <= entry["difference"] <= entry["ci_high"]


def test_reliance_rates_by_hand(result):
    data = result.to_dict()
    assert data["agreement_with_ai"] == pytest.approx({"initial": 2 / 12, "final": 7 / 12})
    assert data["over_reliance"] == pytest.approx(3 / 6)
    assert data["under_reliance"] == pytest.approx(2 / 4)
    assert data["rair"] == pytest.approx(2 / 4)
    assert data["rsr"] == pytest.approx(2 / 4)


def test_weight_of_advice_by_hand(result):
    woa = result.to_dict()["weight_of_advice"]
    # 11 pairs with AI != initial (R3/C4 starts at the AI's 20); R1/C1 moved half-way, R2/C2 all the way
    assert woa["n_pairs"] == 11
    assert woa["mean"] == pytest.approx(1.5 / 11)
    assert woa["median"] == 0


def test_per_reader_and_by(result):
    data = result.to_dict()
    per = {row["reader"]: row for row in data["per_reader"]}
    assert (per["R1"]["changed"], per["R1"]["wrong_to_right"], per["R1"]["right_to_wrong"]) == (2, 1, 1)
    assert per["R3"]["net_benefit"] == pytest.approx(0)
    assert data["by"]["reader_group"]["gp"] == {"n_pairs": 8, "changed": 4, "wrong_to_right": 2,
                                                "right_to_wrong": 1, "net_benefit": 1 / 8}
    assert data["switch_by_confidence"]["formula"].startswith("switched ~ initial_confidence * ai_correct")


def test_not_sequential_keeps_only_ai_conditional_parts():
    data = reliance(hand_table(sequential=False), control="unaided", treatment="ai", replicates=200).to_dict()
    assert data["design"] == "not sequential"
    assert data["n_pairs"] is None and data["switch_table"] == [] and data["rair"] is None
    assert any("not sequential" in note for note in data["notes"])
    # same reader and case in both arms: the AI the reader was shown is used for the control reading too
    assert data["accuracy_by_ai_correct"]["ai_wrong"]["control"] == pytest.approx(4 / 6)
    assert data["over_reliance"] == pytest.approx(3 / 6)


def test_unpaired_control_takes_the_case_ai():
    table = hand_table(sequential=False)
    control = table["arm"] == "unaided"
    table.loc[control, "reader"] = table.loc[control, "reader"] + "-unaided"  # parallel groups
    data = reliance(table, control="unaided", treatment="ai", replicates=200).to_dict()
    assert data["accuracy_by_ai_correct"]["ai_right"]["control"] == pytest.approx(2 / 6)
    assert data["agreement_with_ai"]["initial"] == pytest.approx(2 / 12)


def test_repeat_readings_left_out():
    table = hand_table()
    extra = table.iloc[[0]].assign(repeat=1, correct_top1=1 - table.iloc[0]["correct_top1"])
    table = pd.concat([table.assign(repeat=0), extra], ignore_index=True)
    data = reliance(table, control="unaided", treatment="ai", replicates=200, fit_model=False).to_dict()
    assert data["wrong_to_right"] == 3
    assert any("repeat" in note for note in data["notes"])


def test_missing_ai_column_is_an_input_error():
    with pytest.raises(InputError, match="ai_correct_top1"):
        reliance(hand_table().drop(columns="ai_correct_top1"), control="unaided", treatment="ai")


def test_two_way_bootstrap_matches_explicit_resampling():
    rng = np.random.default_rng(3)
    reader, case = rng.integers(0, 5, 200), rng.integers(0, 7, 200)
    num, den = rng.integers(0, 2, 200).astype(float), np.ones(200)
    boot = TwoWayBootstrap(5, 7, replicates=3, seed=1)
    _, replicates = boot.ratio(reader, case, num, den)
    for b in range(3):
        weight = boot.reader_weights[b][reader] * boot.case_weights[b][case]
        assert replicates[b] == pytest.approx((weight * num).sum() / (weight * den).sum())


def test_bootstrap_ci_widens_with_reader_clustering():
    """Readers who are all right or all wrong: the CI must reflect 6 readers, not 600 readings."""
    rows = [{"reader": f"R{r}", "case": f"C{c}", "y": float(r % 2)} for r in range(6) for c in range(100)]
    frame = pd.DataFrame(rows)
    boot = TwoWayBootstrap(6, 100, replicates=1000, seed=0)
    _, replicates = boot.ratio(frame["reader"].str[1:].astype(int).to_numpy(),
                               frame["case"].str[1:].astype(int).to_numpy(), frame["y"].to_numpy(), np.ones(600))
    pooled_se = np.sqrt(0.25 / 600)
    assert np.std(replicates) > 5 * pooled_se


def test_cli_writes_block_report_and_tables(tmp_path):
    block, out = run_analysis(
        tmp_path, hand_table(), "reliance",
        "--control", "unaided", "--treatment", "ai", "--by", "reader_group", "--replicates", "200",
    )
    for key in ("n_pairs", "changed", "wrong_to_right", "right_to_wrong", "net_benefit", "switch_table",
                "accuracy_by_ai_correct", "agreement_with_ai", "over_reliance", "under_reliance", "rair",
                "rsr", "weight_of_advice", "switch_by_confidence", "per_reader", "by"):
        assert key in block
    report = (out / "report.html").read_text()
    assert 'id="reliance"' in report and report.count("data:image/png;base64,") == 2
    assert (out / "tables" / "reliance_switch_table.csv").is_file()


def test_faulty_suggestion_counts_for_its_own_pair():
    """An automation-bias arm showed R1 a wrong suggestion on C1: that pair is an 'AI wrong' pair."""
    table = hand_table()
    faulty = (table["reader"] == "R1") & (table["case"] == "C1") & (table["arm"] == "ai")
    table.loc[faulty, ["ai_top1", "ai_correct_top1"]] = ["W", 0]
    block = reliance(table, control="unaided", treatment="ai", replicates=200, fit_model=False).to_dict()
    assert block["accuracy_by_ai_correct"]["ai_wrong"]["control"] == pytest.approx(4 / 7)
    assert block["accuracy_by_ai_correct"]["ai_wrong"]["treatment"] == pytest.approx(4 / 7)
    assert block["accuracy_by_ai_correct"]["ai_right"]["control"] == pytest.approx(2 / 5)
