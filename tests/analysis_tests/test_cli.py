"""`python -m analysis` end to end, in a subprocess like a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

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
    done = run(
        "mrmc", "--readings", str(VANDYKE), "--score", "rating", "--truth", "truth",
        "--control", "1", "--treatment", "2", "--arm-col", "treatment", "--cov", "delong",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # published.json rrrc_delong (MRMCaov): F 4.484854
    assert_allclose(json.loads((tmp_path / "results.json").read_text())["rrrc"]["statistic"], 4.484854, atol=5e-7)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"--outcome": "not_a_column"}, "not_a_column"),
        ({"--treatment": "robot"}, "unknown arm 'robot'"),
        ({"--outcome": "differential"}, "column 'differential' is not numeric"),
        ({"--readings": "/nonexistent/readings.csv"}, "/nonexistent/readings.csv"),
    ],
)
def test_compare_bad_input_exits_2_with_one_line(readings, tmp_path, change, message):
    args = {"--readings": str(readings), "--outcome": "correct_top1", "--control": "unaided",
            "--treatment": "ai", "--out": str(tmp_path)} | change  # fmt: skip
    done = run("compare", *[x for pair in args.items() for x in pair], "--no-glmm")
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert not (tmp_path / "results.json").exists()


def test_unreadable_file_exits_2(tmp_path):
    bad = tmp_path / "bad.parquet"
    bad.write_text("this is not parquet")
    done = run("mrmc", "--readings", str(bad), "--score", "s", "--truth", "t", "--control", "a",
               "--treatment", "b", "--out", str(tmp_path / "out"))  # fmt: skip
    assert done.returncode == 2
    assert "bad.parquet" in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_mrmc_missing_truth_column_exits_2(tmp_path):
    done = run("mrmc", "--readings", str(VANDYKE), "--score", "rating", "--truth", "disease",
               "--control", "1", "--treatment", "2", "--arm-col", "treatment", "--out", str(tmp_path))  # fmt: skip
    assert done.returncode == 2 and "disease" in done.stderr


def test_power_and_simulate_commands(tmp_path):
    done = run("power", "--readers", "6", "10", "--cases", "20", "--n-sim", "20", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    power = json.loads((tmp_path / "power.json").read_text())
    assert len(power["grid"]) == 2
    assert 0 <= power["grid"][0]["power"]["reader_t"]["power"] <= 1
    target = tmp_path / "sim.parquet"
    done = run("simulate", "--out", str(target), "--readers", "4", "--cases", "10")
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(target)) == 80


def test_power_bad_accuracy_exits_2(tmp_path):
    done = run("power", "--control-accuracy", "1.5", "--n-sim", "2")
    assert done.returncode == 2 and "control_accuracy" in done.stderr
