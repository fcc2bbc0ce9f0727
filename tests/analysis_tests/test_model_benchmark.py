"""The model beside the readers (analysis.model_benchmark), its report section and the CLI option.

Hand-computed example: 6 cases, 2 readers, sequential (each case unaided then with AI).

    case truth mal | model top1 (top-3)       score | R1 unaided  R2 unaided | R1 ai  R2 ai
    C1   MEL   1   | MEL  ok  (MEL|BCC|NEV)  0.9   | 1 / 1       1 / 1      | 1 / 1  1 / 1
    C2   BCC   1   | SK   no  (SK|BCC|NEV)   0.4   | 1 / 1       0 / 0      | 1 / 1  1 / 1
    C3   NEV   0   | NEV  ok  (NEV|SK|MEL)   0.1   | 0 / 1       0 / 0      | 1 / 1  1 / 1
    C4   SK    0   | SK   ok  (SK|NEV|BCC)   0.4   | 0 / 0       0 / 1      | 1 / 1  1 / 1
    C5   PSO   0   | TIN  no  (TIN|SK|NEV)   0.2   | 1 / 1       0 / 1      | 1 / 1  0 / 1
    C6   NEV   0   | MEL  no  (MEL|NEV|SK)   0.6   | 0 / 0       1 / 1      | 0 / 0  0 / 1
    (reader cells: top-1 / top-3 correct)

Model: top-1 3/6 = 0.5, top-3 5/6.
Readers, top-1: unaided R1 3/6, R2 2/6, mean 5/12; ai R1 5/6, R2 4/6, mean 9/12.
  model - unaided = 1/2 - 5/12 = 1/12; model - ai = 1/2 - 9/12 = -1/4.
  model beats R2 unaided (1/2 > 1/3), ties R1 unaided (1/2 = 1/2); beats no ai reader.
Readers, top-3: unaided R1 4/6, R2 4/6, mean 2/3; ai R1 5/6, R2 6/6, mean 11/12.
  model - unaided = 5/6 - 2/3 = 1/6; model - ai = 5/6 - 11/12 = -1/12.
Malignancy AUC: positives C1 (0.9), C2 (0.4); negatives 0.1, 0.4, 0.2, 0.6.
  C1 beats all 4 negatives: 4; C2 beats 0.1 and 0.2, ties 0.4 (1/2), loses to 0.6: 2.5.
  AUC = 6.5 / 8 = 0.8125.
  DeLong: V10 = (1, 0.625), S10 = 0.0703125; V01 = (1, 0.75, 1, 0.5), S01 = 0.171875 / 3;
  var = S10 / 2 + S01 / 4 = 0.03515625 + 0.0143229167 = 0.0494791667, se = 0.2224391.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.cli import main
from analysis.compare import compare
from analysis.model_benchmark import model_benchmark
from analysis.readings import InputError
from analysis.report import compare_report
from analysis.results import to_jsonable
from analysis.simulate import StudySpec, simulate_study

ROOT = Path(__file__).resolve().parents[2]
TRUTH = {"C1": "MEL", "C2": "BCC", "C3": "NEV", "C4": "SK", "C5": "PSO", "C6": "NEV"}
MALIGNANT = {"C1": 1, "C2": 1, "C3": 0, "C4": 0, "C5": 0, "C6": 0}
# (reader, arm) -> per case: 1 = top-1 correct, 3 = correct at rank 2 (top-3 only), 0 = wrong
GRADES = {
    ("R1", "unaided"): (1, 1, 3, 0, 1, 0),
    ("R2", "unaided"): (1, 0, 0, 3, 3, 1),
    ("R1", "ai"): (1, 1, 1, 1, 1, 0),
    ("R2", "ai"): (1, 1, 1, 1, 3, 3),
}


def differential(truth: str, grade: int) -> str:
    others = [c for c in ("TIN", "DF", "ACN", "ROS") if c != truth]
    if grade == 1:
        return f"{truth}|{others[0]}|{others[1]}"
    if grade == 3:
        return f"{others[0]}|{truth}|{others[1]}"
    return "|".join(others[:3])


def readings_table(grades=GRADES) -> pd.DataFrame:
    rows = []
    for (reader, arm), marks in grades.items():
        for (case, truth), grade in zip(TRUTH.items(), marks, strict=True):
            rows.append(
                {
                    "reader": reader,
                    "case": case,
                    "arm": arm,
                    "truth": truth,
                    "truth_malignant": MALIGNANT[case],
                    "differential": differential(truth, grade),
                    "correct_top1": int(grade == 1),
                }
            )
    return pd.DataFrame(rows)


def model_outputs() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case": ["C1", "C2", "C3", "C4", "C5", "C6"],
            "model_top1": ["MEL", "SK", "NEV", "SK", "TIN", "MEL"],
            "model_top3": [
                "MEL|BCC|NEV",
                "SK|BCC|NEV",
                "NEV|SK|MEL",
                "SK|NEV|BCC",
                "TIN|SK|NEV",
                "MEL|NEV|SK",
            ],
            "model_malignant_score": [0.9, 0.4, 0.1, 0.4, 0.2, 0.6],
        }
    )


@pytest.fixture(scope="module")
def bench():
    return model_benchmark(readings_table(), model_outputs(), arms=["unaided", "ai"], n_bootstrap=400, seed=3)


def test_model_accuracy_and_reader_comparison_by_hand(bench):
    assert (bench.n_cases, bench.n_cases_read, bench.cases_missing_model) == (6, 6, ())
    assert_allclose([bench.top1.value, bench.top3.value], [3 / 6, 5 / 6])  # module docstring
    expected = {  # (arm, outcome): readers' mean, model - readers, beaten, tied
        ("unaided", "top1"): (5 / 12, 1 / 12, 1, 1),
        ("ai", "top1"): (9 / 12, -1 / 4, 0, 0),
        ("unaided", "top3"): (2 / 3, 1 / 6, 2, 0),
        ("ai", "top3"): (11 / 12, -1 / 12, 0, 1),
    }
    for (arm, outcome), (mean, difference, beaten, tied) in expected.items():
        comparison = bench.comparison(arm, outcome)
        assert_allclose([comparison.readers_mean.value, comparison.difference.value], [mean, difference])
        assert (comparison.n_readers, comparison.n_beaten, comparison.n_tied) == (2, beaten, tied)
        assert comparison.share_beaten == beaten / 2
        assert comparison.difference.ci_low <= difference <= comparison.difference.ci_high


def test_malignancy_auc_by_hand(bench):
    auc = bench.auc
    assert (auc.n_positive, auc.n_negative) == (2, 4)
    assert_allclose(auc.value, 6.5 / 8)  # concordant pairs counted in the module docstring
    assert_allclose(auc.se, math.sqrt(0.0703125 / 2 + 0.171875 / 3 / 4))  # DeLong by hand
    assert_allclose([auc.ci_low, auc.ci_high], [0.8125 - 1.959964 * auc.se, 1.0], rtol=1e-6)
    assert (auc.fpr[0], auc.tpr[0], auc.fpr[-1], auc.tpr[-1]) == (0.0, 0.0, 1.0, 1.0)


def test_paired_bootstrap_matches_a_plain_loop(bench):
    """The vectorised intervals equal resampling cases one sample at a time with the same draws."""
    rng = np.random.default_rng(3)
    draws = rng.integers(0, 6, size=(400, 6))
    model_hits = np.array([1, 0, 1, 1, 0, 0], float)
    readers = np.array([[g == 1 for g in GRADES[(r, "unaided")]] for r in ("R1", "R2")], float)
    model = [model_hits[d].mean() for d in draws]
    difference = [model_hits[d].mean() - readers[:, d].mean(axis=1).mean() for d in draws]
    assert_allclose([bench.top1.ci_low, bench.top1.ci_high], np.percentile(model, [2.5, 97.5]))
    block = bench.comparison("unaided", "top1").difference
    assert_allclose([block.ci_low, block.ci_high], np.percentile(difference, [2.5, 97.5]))


def test_seeded_and_json_ready(bench):
    again = model_benchmark(
        readings_table(), model_outputs(), arms=["unaided", "ai"], n_bootstrap=400, seed=3
    )
    assert again.to_dict() == bench.to_dict()
    out = bench.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["top1"] == {**bench.top1.to_dict(), "n": 6}
    assert out["arms"]["unaided"]["top1"]["readers_beaten"] == {"n": 1, "n_tied": 1, "share": 0.5}
    assert set(out["arms"]["ai"]["top3"]["difference"]) == {
        "value", "ci_low", "ci_high", "ci_low_random_readers", "ci_high_random_readers"
    }  # fmt: skip


def test_missing_model_outputs_are_reported_and_left_out():
    """Without C6: model top-1 on C1-C5 3/5; unaided R1 3/5, R2 1/5, mean 2/5; difference 1/5."""
    bench = model_benchmark(
        readings_table(), model_outputs().iloc[:5], arms=["unaided", "ai"], n_bootstrap=50
    )
    assert (bench.n_cases, bench.n_cases_read, bench.cases_missing_model) == (5, 6, ("C6",))
    assert any("C6" in w for w in bench.warnings)
    assert_allclose(bench.top1.value, 3 / 5)
    comparison = bench.comparison("unaided", "top1")
    assert_allclose([comparison.readers_mean.value, comparison.difference.value], [2 / 5, 1 / 5])
    # AUC without C6 (0.6): C1 beats 3, C2 beats 0.1 and 0.2 and ties 0.4: (3 + 2.5) / 6
    assert_allclose(bench.auc.value, 5.5 / 6)


def test_outputs_for_unread_cases_are_ignored():
    extra = pd.concat([model_outputs(), pd.DataFrame([{"case": "C9", "model_top1": "MEL", "model_top3": "",
                                                       "model_malignant_score": 0.5}])])  # fmt: skip
    bench = model_benchmark(readings_table(), extra, n_bootstrap=50)
    assert (bench.n_cases, bench.n_cases_unread, bench.arms) == (6, 1, ("ai", "unaided"))


def test_no_malignant_truth_gives_no_auc():
    readings = readings_table().assign(truth_malignant=0)
    assert model_benchmark(readings, model_outputs(), n_bootstrap=20).auc is None
    bench = model_benchmark(readings_table().drop(columns="truth_malignant"), model_outputs(), n_bootstrap=20)
    assert bench.auc is None and bench.to_dict()["malignant_auc"] is None and bench.to_dict()["roc"] is None


def test_readers_with_part_of_the_cases_meet_the_model_on_their_cases():
    """Randomised blocks: R1 reads C1-C3 unaided, R2 C4-C6. Model top-1 on C1-C3 2/3, on C4-C6 1/3.

    R1 unaided on C1-C3: 1, 1, 0 -> 2/3; R2 on C4-C6: 0, 0, 1 -> 1/3. Differences 0 and 0: mean 0, both tied.
    """
    readings = readings_table()
    keep = ((readings["reader"] == "R1") & readings["case"].isin(["C1", "C2", "C3"])) | (
        (readings["reader"] == "R2") & readings["case"].isin(["C4", "C5", "C6"])
    )
    bench = model_benchmark(readings[keep & (readings["arm"] == "unaided")], model_outputs(), n_bootstrap=50)
    comparison = bench.comparison("unaided", "top1")
    assert_allclose([r.model_accuracy for r in comparison.readers], [2 / 3, 1 / 3])
    assert_allclose(
        [comparison.readers_mean.value, comparison.difference.value, comparison.model], [0.5, 0, 0.5]
    )
    assert (comparison.n_beaten, comparison.n_tied) == (0, 2)


def test_model_top1_without_top3_and_code_order():
    outputs = model_outputs().assign(model_top3="")
    bench = model_benchmark(readings_table(), outputs, n_bootstrap=20)
    assert_allclose([bench.top1.value, bench.top3.value], [0.5, 0.5])  # top-3 falls back to the top-1 code


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.drop(columns="model_top3"), "missing column(s) in model outputs: model_top3"),
        (lambda m: pd.concat([m, m.iloc[:1]]), "more than one row for case 'C1'"),
        (lambda m: m.assign(model_malignant_score=[0.9, 1.4, 0, 0, 0, 0]), "between 0 and 1"),
        (lambda m: m.assign(model_malignant_score=["x", 1, 0, 0, 0, 0]), "not numeric"),
        (lambda m: m.assign(case=["Z1", "Z2", "Z3", "Z4", "Z5", "Z6"]), "no read case has both"),
    ],
)
def test_bad_model_outputs(change, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        model_benchmark(readings_table(), change(model_outputs()), n_bootstrap=10)


# --- compare() and the report -------------------------------------------------------------------


def test_compare_without_model_is_unchanged_and_with_model_adds_the_block():
    readings = readings_table()
    plain = compare(readings, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False)
    assert plain.model is None and plain.to_dict()["model"] is None
    assert 'id="model"' not in compare_report(plain)
    result = compare(
        readings, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False,
        model_outputs=model_outputs(),
    )  # fmt: skip
    with_model = to_jsonable(result.to_dict())
    block = with_model.pop("model")
    assert with_model == {k: v for k, v in to_jsonable(plain.to_dict()).items() if k != "model"}
    assert block["arms"]["unaided"]["role"] == "control" and block["arms"]["ai"]["role"] == "treatment"
    assert_allclose(block["arms"]["unaided"]["top1"]["difference"]["value"], 1 / 12)
    assert_allclose(block["malignant_auc"]["value"], 0.8125)


def test_report_has_model_section_and_overlays_the_roc_escaped():
    data = simulate_study(StudySpec(n_readers=4, n_cases=24), seed=4)
    cases = data[data["arm"] == "ai"].drop_duplicates("case")
    rng = np.random.default_rng(0)
    outputs = pd.DataFrame(
        {
            "case": cases["case"],
            "model_top1": cases["ai_top1"],
            "model_top3": cases["ai_top1"] + "|NEV|SK",
            "model_malignant_score": np.clip(
                0.3 + 0.4 * cases["truth_malignant"] + rng.normal(0, 0.2, len(cases)), 0, 1
            ),
        }
    )
    evil = "<script>x</script>"
    outputs.iloc[0, 0] = evil  # a case nobody read
    data = pd.concat([data, data[data["case"] == data["case"].iloc[0]].assign(case=evil + "2")])
    result = compare(data, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False,
                     model_outputs=outputs)  # fmt: skip
    assert result.roc is not None and result.model.auc is not None
    assert evil + "2" in result.model.cases_missing_model and result.model.n_cases_unread == 1
    html = compare_report(result)
    assert 'id="model"' in html and "Model beside the readers" in html and "<script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;2" in html
    assert "model_malignant_score" in html  # the ROC note names the model's curve


# --- command line -------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    readings, outputs = tmp_path / "readings.csv", tmp_path / "model.csv"
    readings_table().to_csv(readings, index=False)
    model_outputs().to_csv(outputs, index=False)
    return readings, outputs


def test_cli_end_to_end_with_model_outputs(files, tmp_path):
    readings, outputs = files
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-m", "analysis", "compare", "--readings", str(readings), "--outcome", "correct_top1",
         "--control", "unaided", "--treatment", "ai", "--no-glmm", "--model-outputs", str(outputs),
         "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "model top-1 0.500" in done.stdout
    model = json.loads((out / "results.json").read_text())["model"]
    assert_allclose([model["top1"]["value"], model["top3"]["value"]], [0.5, 5 / 6])
    assert_allclose(model["arms"]["ai"]["top1"]["difference"]["value"], -0.25)
    assert_allclose(model["malignant_auc"]["value"], 0.8125)
    assert model["n_bootstrap"] == 2000 and model["seed"] == 0
    table = pd.read_csv(out / "tables" / "model_benchmark.csv")
    assert list(table["outcome"]) == ["top1", "top3", "top1", "top3"]
    assert 'id="model"' in (out / "report.html").read_text()


def test_cli_parquet_model_outputs(files, tmp_path):
    readings, _ = files
    outputs = tmp_path / "model.parquet"
    model_outputs().to_parquet(outputs, index=False)
    args = ["compare", "--readings", str(readings), "--outcome", "correct_top1", "--control", "unaided",
            "--treatment", "ai", "--no-glmm", "--model-outputs", str(outputs), "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 0


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("absent.csv", None, "cannot read model outputs file"),
        ("bad.csv", b"case,model_top1\nC1,MEL\n", "missing column(s) in model outputs: model_top3"),
        ("empty.csv", b"", "cannot read model outputs file"),
        ("bad.parquet", b"PAR1 not parquet", "cannot read model outputs file"),
        ("rows.csv", b"case,model_top1,model_top3,model_malignant_score\n", "has no rows"),
    ],
)
def test_cli_bad_model_outputs_exit_2(files, tmp_path, capsys, name, content, message):
    readings, _ = files
    bad = tmp_path / name
    if content is not None:
        bad.write_bytes(content)
    args = ["compare", "--readings", str(readings), "--outcome", "correct_top1", "--control", "unaided",
            "--treatment", "ai", "--no-glmm", "--model-outputs", str(bad), "--out", str(tmp_path / "o")]  # fmt: skip
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
