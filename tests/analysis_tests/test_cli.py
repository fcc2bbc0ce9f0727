"""`python -m analysis` end to end, in a subprocess like a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.cli import main
from analysis.simulate import StudySpec, simulate_study

ROOT = Path(__file__).resolve().parents[2]
VANDYKE = ROOT / "tests" / "fixtures" / "vandyke" / "vandyke.csv"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def readings(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("study") / "readings.csv"
    simulate_study(StudySpec(n_readers=12, n_cases=30), seed=5).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def compared(readings, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("compare")
    done = run(
        "compare",
        "--readings", str(readings),
        "--outcome", "correct_top1",
        "--control", "unaided",
        "--treatment", "ai",
        "--by", "reader_group",
        "--by-case", "truth_malignant",
        "--min-readers", "10",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return out


def test_compare_writes_results_with_contract_keys(compared):
    results = json.loads((compared / "results.json").read_text())
    assert results["outcome"] == "correct_top1"
    assert (results["control"], results["treatment"]) == ("unaided", "ai")
    assert (results["n_readers"], results["n_cases"], results["n_readings"]) == (12, 30, 720)
    level = results["reader_level"]
    assert level["n_readers"] == 12
    for arm in ("control", "treatment"):
        assert all(isinstance(level[arm][k], float) for k in ("mean", "sd", "ci_low", "ci_high"))
    assert set(level["difference"]) >= {"mean", "ci_low", "ci_high"}
    assert isinstance(level["paired_t"]["df"], int)
    assert isinstance(level["wilcoxon"]["effect_size_r"], float)
    mcnemar = results["paired_readings"]["mcnemar"]
    assert isinstance(mcnemar["b"], int) and isinstance(mcnemar["p_value"], float)
    glmm = results["glmm"]
    assert set(glmm) >= {"formula", "method", "converged", "log_likelihood", "fixed_effects",
                         "treatment_odds_ratio", "random_effects"}  # fmt: skip
    if glmm["error"] is None:  # the engine is present
        assert [fe["term"] for fe in glmm["fixed_effects"]] == ["(Intercept)", "arm"]
        assert glmm["treatment_odds_ratio"]["estimate"] > 0
    assert set(results["by"]["reader_group"]) >= {"dermatologist"}
    for block in results["by_case"]["truth_malignant"].values():
        assert 0 <= block["p_value_bonferroni"] <= 1


def test_compare_writes_report_and_tables(compared):
    html = (compared / "report.html").read_text()
    for anchor in ("arm-means", "paired-readers", "mixed-model", "subgroups", "management", "roc", "time",
                   "methods"):  # fmt: skip
        assert f'id="{anchor}"' in html
    assert "data:image/png;base64," in html
    assert "Wilcoxon" in html and "McNemar" in html and "Obuchowski" in html
    tables = {p.name for p in (compared / "tables").glob("*.csv")}
    assert {"reader_means.csv", "arm_summary.csv", "subgroups.csv", "paired_readings.csv"} <= tables
    means = pd.read_csv(compared / "tables" / "reader_means.csv")
    assert len(means) == 12 and {"reader", "control", "treatment"} <= set(means.columns)


def test_mrmc_on_vandyke(tmp_path):
    done = run(
        "mrmc", "--readings", str(VANDYKE), "--score", "rating", "--truth", "truth",
        "--control", "1", "--treatment", "2", "--arm-col", "treatment", "--threshold", "3",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    # published.json: difference (1 - 2) -0.04380032, F 4.456319, df2 15.2597 (Van Dyke, OR-DBM MRMC 2.51)
    assert_allclose(results["rrrc"]["difference"], 0.04380032, atol=5e-9)
    assert_allclose(results["rrrc"]["statistic"], 4.456319, atol=5e-7)
    assert results["frrc"]["df2"] is None
    assert set(results["auc"]["1"]["per_reader"]) == {"1", "2", "3", "4", "5"}
    assert set(results["variance_components"]) >= {"var_error", "cov1", "cov2", "cov3", "var_reader",
                                                   "var_treatment_reader"}  # fmt: skip
    assert (tmp_path / "report.html").exists() and (tmp_path / "tables" / "roc_points.csv").exists()


def test_mrmc_delong(tmp_path):
    code = main([
        "mrmc", "--readings", str(VANDYKE), "--score", "rating", "--truth", "truth",
        "--control", "1", "--treatment", "2", "--arm-col", "treatment", "--cov", "delong",
        "--out", str(tmp_path),
    ])  # fmt: skip
    assert code == 0
    # published.json rrrc_delong (MRMCaov): F 4.484854
    assert_allclose(
        json.loads((tmp_path / "results.json").read_text())["rrrc"]["statistic"], 4.484854, atol=5e-7
    )


def test_bad_input_exits_2_from_the_process(readings, tmp_path):
    done = run("compare", "--readings", str(readings), "--outcome", "correct_top1", "--control", "unaided",
               "--treatment", "robot", "--out", str(tmp_path), "--no-glmm")  # fmt: skip
    assert done.returncode == 2
    assert done.stderr.strip() == "error: unknown arm 'robot' in column 'arm' (arms present: ai, unaided)"
    assert done.stdout == ""


def bad_input(args: list[str], capsys) -> str:
    """Run in-process; assert exit status 2 and a one-line message; return it."""
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--outcome": "not_a_column"}, "missing column(s) in readings: not_a_column"),
        ({"--treatment": "robot"}, "unknown arm 'robot'"),
        ({"--control": "ai"}, "control and treatment arms are the same"),
        ({"--outcome": "differential"}, "column 'differential' is not numeric"),
        ({"--readings": "/nonexistent/readings.csv"}, "cannot read readings file /nonexistent/readings.csv"),
        ({"--by-case": "site"}, "missing column(s) in readings: site"),
    ],
)
def test_compare_bad_input(readings, tmp_path, capsys, change, message):
    args = {"--readings": str(readings), "--outcome": "correct_top1", "--control": "unaided",
            "--treatment": "ai", "--out": str(tmp_path / "out")} | change  # fmt: skip
    line = bad_input(["compare", *[x for pair in args.items() for x in pair], "--no-glmm"], capsys)
    assert message in line
    assert not (tmp_path / "out" / "results.json").exists()


def test_unreadable_file(tmp_path, capsys):
    bad = tmp_path / "bad.parquet"
    bad.write_text("this is not parquet")
    line = bad_input(["mrmc", "--readings", str(bad), "--score", "s", "--truth", "t", "--control", "a",
                      "--treatment", "b", "--out", str(tmp_path / "out")], capsys)  # fmt: skip
    assert "bad.parquet" in line


def test_mrmc_missing_truth_column(tmp_path, capsys):
    line = bad_input(["mrmc", "--readings", str(VANDYKE), "--score", "rating", "--truth", "disease",
                      "--control", "1", "--treatment", "2", "--arm-col", "treatment",
                      "--out", str(tmp_path)], capsys)  # fmt: skip
    assert "disease" in line


def test_mrmc_non_binary_truth(tmp_path, capsys):
    line = bad_input(["mrmc", "--readings", str(VANDYKE), "--score", "truth", "--truth", "rating",
                      "--control", "1", "--treatment", "2", "--arm-col", "treatment",
                      "--out", str(tmp_path)], capsys)  # fmt: skip
    assert "truth column 'rating' must be 0/1" in line


def test_power_and_simulate_commands(tmp_path):
    assert (
        main(["power", "--readers", "6", "10", "--cases", "20", "--n-sim", "20", "--out", str(tmp_path)]) == 0
    )
    power = json.loads((tmp_path / "power.json").read_text())
    assert len(power["grid"]) == 2
    assert 0 <= power["grid"][0]["power"]["reader_t"]["power"] <= 1
    target = tmp_path / "sim.parquet"
    assert main(["simulate", "--out", str(target), "--readers", "4", "--cases", "10"]) == 0
    assert len(pd.read_parquet(target)) == 80


def test_power_bad_accuracy(capsys):
    assert "control_accuracy" in bad_input(["power", "--control-accuracy", "1.5", "--n-sim", "2"], capsys)
