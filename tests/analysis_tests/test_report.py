"""Reports: self-contained, every text escaped; JSON writing."""

from __future__ import annotations

import json
import math

import numpy as np

from analysis.compare import compare
from analysis.mrmc import mrmc
from analysis.report import compare_report, mrmc_report
from analysis.results import to_jsonable, write_json
from analysis.simulate import StudySpec, simulate_study

EVIL = "<script>alert(1)</script>"


def test_compare_report_escapes_column_arm_and_group_names():
    data = simulate_study(StudySpec(n_readers=6, n_cases=16), seed=2)
    data = data.rename(columns={"correct_top1": EVIL})
    data["arm"] = data["arm"].replace({"ai": "AI & <b>"})
    data["reader_group"] = "<img src=x onerror=alert(1)>"
    result = compare(data, outcome=EVIL, control="unaided", treatment="AI & <b>", by=["reader_group"],
                     fit_glmm=False)  # fmt: skip
    html = compare_report(result)
    assert "<script>" not in html and "<img src=x" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "AI &amp; &lt;b&gt;" in html
    assert html.startswith("<!DOCTYPE html>") and "http" not in html.replace("http-equiv", "")


def test_mrmc_report_sections():
    data = simulate_study(StudySpec(n_readers=4, n_cases=30), seed=3)
    result = mrmc(data, score="malignancy_score", truth="truth_malignant", control="unaided", treatment="ai",
                  threshold=50)  # fmt: skip
    html = mrmc_report(result)
    for anchor in ("overview", "roc", "fom", "tests", "single", "variance", "methods"):
        assert f'id="{anchor}"' in html
    assert html.count("data:image/png;base64,") == 1


def test_json_has_null_for_nan_and_plain_numbers(tmp_path):
    data = {"a": math.nan, "b": np.float64(1.5), "c": np.int64(3), "d": (np.inf, None), "e": np.array([1, 2])}
    assert to_jsonable(data) == {"a": None, "b": 1.5, "c": 3, "d": [None, None], "e": [1, 2]}
    write_json(tmp_path / "r.json", data)
    assert json.loads((tmp_path / "r.json").read_text())["a"] is None
