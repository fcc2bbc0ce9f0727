"""`python -m analysis compare --arms ...` and any two of k arms, in a subprocess like a user would run it.

Reference values: tests/fixtures/lme4/binary_arms.json (lme4 glmer + anova + p.adjust, make_fixtures_arms.R).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from numpy.testing import assert_allclose

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "lme4"
READINGS = FIXTURES / "binary_arms.csv"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "analysis", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def arms_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("arms")
    done = run("compare", "--readings", str(READINGS), "--outcome", "correct_top1", "--arms", "unaided", "top3",
               "similar", "--out", str(out))
    assert done.returncode == 0, done.stderr
    return done, out


def test_arms_results_json_against_lme4(arms_run):
    _, out = arms_run
    results = json.loads((out / "results.json").read_text())
    reference = json.loads((FIXTURES / "binary_arms.json").read_text())["four_term"]  # the default model
    assert (results["control"], results["arms"], results["n_readings"]) == ("unaided", ["unaided", "top3", "similar"],
                                                                          2160)
    glmm = results["multi_arm"]["glmm"]
    assert glmm["formula"] == "correct_top1 ~ arm + (1|reader) + (1|case) + (1|reader:arm) + (1|case:arm)"
    assert_allclose(glmm["log_likelihood"], reference["log_likelihood"], rtol=1e-8)
    for arm, row in reference["contrasts"].items():
        contrast = glmm["contrasts"][arm]
        assert_allclose(contrast["coefficient"], row["estimate"], rtol=2e-5)
        assert_allclose(contrast["p_value_lrt"], row["p_lrt"], rtol=5e-4)
        assert_allclose(contrast["p_value_holm"], reference["holm_lrt"][arm], rtol=5e-4)
    assert_allclose(glmm["lrt"]["p_value"], reference["omnibus_lrt"]["p_value"], rtol=1e-4)
    per_arm = results["multi_arm"]["per_arm"]
    means = pd.read_csv(READINGS).groupby(["arm", "reader"])["correct_top1"].mean().groupby("arm").mean()
    assert_allclose([per_arm[a]["mean"] for a in ("unaided", "top3", "similar")],
                    means[["unaided", "top3", "similar"]], rtol=1e-12)


def test_arms_writes_tables_report_and_one_line(arms_run):
    done, out = arms_run
    contrasts = pd.read_csv(out / "tables" / "multi_arm_contrasts.csv")
    assert list(contrasts["arm"]) == ["top3", "similar"]
    assert_allclose(contrasts["p_value_holm"], [0.00982724440426838, 0.087720397762683], rtol=5e-4)  # lme4 + p.adjust
    reader_means = pd.read_csv(out / "tables" / "multi_arm_reader_means.csv")
    assert reader_means.shape == (24, 4)
    assert_allclose(reader_means["top3"].mean(), 0.5805555555555556, rtol=1e-12)  # 418 correct of 720, 30 per reader
    report = (out / "report.html").read_text()
    assert "Mixed model: each AI arm against the control" in report and "Holm" in report
    line = done.stdout.strip()
    assert line.startswith("correct_top1: unaided 0.497, top3 0.581, similar 0.547 (24 readers); top3 vs unaided "
                           "odds ratio 1.555 (95% CI 1.155 to 2.092, Holm p = 0.010)")
    assert line.endswith(f"wrote {out}")


def test_arms_p_method_wald(tmp_path):
    done = run("compare", "--readings", str(READINGS), "--outcome", "correct_top1", "--arms", "unaided", "top3",
               "similar", "--p-method", "wald", "--no-glmm", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["multi_arm"]["glmm"] is None
    assert_allclose(results["multi_arm"]["reader_level"]["top3"]["difference"]["mean"], 60 / 720, rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--arms", "unaided", "top3", "--by", "reader"), "not with --by"),
        (("--arms", "unaided", "top3", "--control", "unaided"), "not with --control"),
        (("--control", "unaided"), "needs --control and --treatment, or --arms"),
        (("--arms", "unaided", "nope"), "unknown arm 'nope'"),
    ],
)
def test_arms_bad_input_exits_2(tmp_path, args, message):
    done = run("compare", "--readings", str(READINGS), "--outcome", "correct_top1", *args, "--out", str(tmp_path))
    assert done.returncode == 2
    assert message in done.stderr and done.stderr.count("\n") == 1


def test_compare_any_two_of_three_arms(tmp_path):
    done = run("compare", "--readings", str(READINGS), "--outcome", "correct_top1", "--control", "top3",
               "--treatment", "similar", "--no-glmm", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert (results["control"], results["treatment"], results["n_readings"]) == ("top3", "similar", 1440)
    assert_allclose(results["reader_level"]["difference"]["mean"], (394 - 418) / 720, rtol=1e-12)
    assert results["warnings"][0].startswith("720 reading(s) of other arms left out ('unaided': 720)")
