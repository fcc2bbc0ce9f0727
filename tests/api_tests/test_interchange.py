"""Exports read back into the analysis package unchanged; readings collected elsewhere import cleanly."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from numpy.testing import assert_allclose

from analysis.compare import compare
from analysis.mrmc import mrmc
from analysis.readings import READINGS_COLUMNS, load_readings, prepare
from readerstudy.exports.formats import read_imrmc
from readerstudy.exports.readings_import import readings_import
from readerstudy.exports.tables import readings_table

from .conftest import answer_everything


@pytest.fixture
def complete(world):
    """Both readers have answered everything: a fully crossed study for MRMC."""
    answer_everything(world.reader, seed=1)
    return world


def export(world, name, role="statistician", **params) -> bytes:
    response = world.client(role).get(f"/api/v1/studies/{world.study.slug}/exports/{name}/", params)
    assert response.status_code == 200, response.content[:300]
    return response.content


def aucs(data: pd.DataFrame, *, score: str, truth: str, reader="reader", case="case", arm="arm") -> dict:
    prepared = prepare(data, value_cols=[score, truth], control="unaided", treatment="ai",
                       reader_col=reader, case_col=case, arm_col=arm)
    result = mrmc(prepared, score=score, truth=truth, control="unaided", treatment="ai")
    return {"auc": result.to_dict()["auc"], "rrrc": result.to_dict()["rrrc"]}


@pytest.mark.parametrize("name", ["readings.csv", "readings.parquet"])
def test_readings_export_loads_with_the_analysis_package(complete, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(export(complete, name))
    loaded = load_readings(path)
    expected = readings_table(complete.study)
    assert list(loaded.columns[: len(READINGS_COLUMNS)]) == list(READINGS_COLUMNS)
    assert len(loaded) == len(expected) == 24
    for column in ("reader", "case", "arm", "differential"):
        assert loaded[column].fillna("").astype(str).tolist() == expected[column].fillna("").astype(str).tolist()
    for column in ("correct_top1", "correct_top3", "malignancy_score", "phase", "ai_shown", "duration_s"):
        assert_allclose(loaded[column].astype(float), expected[column].astype(float))
    result = compare(loaded, outcome="correct_top1", control="unaided", treatment="ai", fit_glmm=False)
    assert result.n_readings == 24 and result.n_readers == 2


def test_rjafroc_csv_gives_the_same_aucs_as_the_readings_table(complete):
    text = export(complete, "rjafroc.csv").decode()
    assert text.splitlines()[0] == "reader,treatment,case,truth,rating"
    frame = pd.read_csv(io.StringIO(text), dtype={"reader": str, "case": str, "treatment": str})
    assert len(frame) == 24
    from_export = aucs(frame, score="rating", truth="truth", arm="treatment")
    from_table = aucs(readings_table(complete.study), score="malignancy_score", truth="truth_malignant")
    assert from_export == from_table


@pytest.mark.parametrize("case_ids", ["keys", "numbers"])
def test_imrmc_file_follows_the_spec_and_reads_back(complete, case_ids):
    text = export(complete, "imrmc", case_ids=case_ids).decode()
    header, data = text.split("BEGIN DATA:\n")
    assert {"NR: 2", "N0: " + str(_n(complete, 0)), "N1: " + str(_n(complete, 1)), "NM: 2"} <= set(header.splitlines())
    rows = [line.split(",") for line in data.splitlines()]
    truth_rows = [row for row in rows if row[0] == "-1"]
    assert len(truth_rows) == 6 and all(row[2] == "0" and row[3] in {"0", "1"} for row in truth_rows)
    assert len(rows) == 6 + 24
    if case_ids == "numbers":
        assert {row[1] for row in truth_rows} == {str(i) for i in range(1, 7)}
    frame = read_imrmc(text)
    from_export = aucs(frame, score="rating", truth="truth", arm="treatment")
    from_table = aucs(readings_table(complete.study), score="malignancy_score", truth="truth_malignant")
    assert_allclose([from_export["auc"][a]["mean"] for a in ("unaided", "ai")],
                    [from_table["auc"][a]["mean"] for a in ("unaided", "ai")])
    assert from_export["rrrc"] == from_table["rrrc"]


def _n(world, malignant: int) -> int:
    return world.study.case_set.cases.filter(reference__malignant=bool(malignant)).count()


def test_export_without_scores_is_refused_with_a_reason(world):
    response = world.client("coordinator").get(f"/api/v1/studies/{world.study.slug}/exports/rjafroc.csv/",
                                               {"score": "no_such_column"})
    assert response.status_code == 409 and "no_such_column" in response.json()["error"]["message"]


def test_cases_and_model_outputs_exports(world):
    cases = pd.read_csv(io.BytesIO(export(world, "cases.csv")))
    assert len(cases) == 6 and {"case", "truth", "truth_malignant", "reference_source"} <= set(cases.columns)
    outputs = pd.read_csv(io.BytesIO(export(world, "model-outputs.csv")))
    assert len(outputs) == 6 and "p_MEL" in outputs.columns
    schedules = pd.read_csv(io.BytesIO(export(world, "schedules.csv")))
    assert len(schedules) == 24


FOREIGN = """ReaderID;Image;Condition;Group;Diagnoses;Truth;Malignancy;When;Malignant
r1;img1;without AI;gp;MEL|NEV;MEL;80;2024-03-01T10:00:00+01:00;1
r1;img1;with AI;gp;MEL;MEL;90;2024-03-01T10:05:00+01:00;1
r1;img2;without AI;gp;NEV;PSO;20;2024-03-01T10:10:00+01:00;0
r1;img2;with AI;gp;PSO|NEV;PSO;10;2024-03-01T10:15:00+01:00;0
r2;img1;without AI;dermatologist;NEV;MEL;40;2024-03-02T09:00:00Z;1
r2;img1;with AI;dermatologist;MEL;MEL;70;2024-03-02T09:05:00Z;1
r2;img2;without AI;dermatologist;PSO;PSO;5;2024-03-02T09:10:00Z;0
r2;img2;with AI;dermatologist;PSO;PSO;5;2024-03-02T09:15:00Z;0
"""
MAPPING = {"reader": "ReaderID", "case": "Image", "arm": "Condition", "reader_group": "Group",
           "differential": "Diagnoses", "truth": "Truth", "malignancy_score": "Malignancy", "submitted_at": "When",
           "truth_malignant": "Malignant"}


def test_readings_import_maps_validates_and_feeds_the_analysis(tmp_path):
    result = readings_import(FOREIGN, MAPPING, study="elsewhere")
    assert result.ok, result.problems
    path = tmp_path / "readings.csv"
    path.write_bytes(result.csv_bytes())
    loaded = load_readings(path)
    assert list(loaded.columns) == list(READINGS_COLUMNS)
    assert loaded["correct_top1"].tolist() == [1, 1, 0, 1, 0, 1, 1, 1]
    assert loaded["correct_top3"].tolist() == [1, 1, 0, 1, 0, 1, 1, 1]
    assert loaded["submitted_at"][0] == "2024-03-01T09:00:00.000Z" and set(loaded["study"]) == {"elsewhere"}
    comparison = compare(loaded, outcome="correct_top1", control="without AI", treatment="with AI", fit_glmm=False)
    assert comparison.reader_level.n_readers == 2
    assert_allclose(comparison.reader_level.treatment.mean, 1.0)


def test_readings_import_reports_problems_by_row_and_field():
    broken = FOREIGN.replace("r1;img2;without AI;gp;NEV;PSO;20", "r1;img2;without AI;gp;NEV;PSO;120").replace(
        "2024-03-02T09:05:00Z", "yesterday").replace("r2;img2;with AI", ";img2;with AI")
    result = readings_import(broken, MAPPING)
    found = {(p.row, p.field) for p in result.problems}
    assert {(3, "malignancy_score"), (6, "submitted_at"), (8, "reader")} <= found and not result.ok
    missing = readings_import(FOREIGN, {"reader": "ReaderID", "case": "Nope"})
    assert {(p.row, p.field) for p in missing.problems} >= {(None, "case"), (None, "arm"), (None, "correct_top1")}
    duplicate = readings_import(FOREIGN + "r1;img1;with AI;gp;MEL;MEL;90;2024-03-01T10:05:00Z;1\n", MAPPING)
    assert [(p.row, p.field) for p in duplicate.problems] == [(9, "case")]


def test_readings_import_endpoint(world):
    client = world.client("statistician")
    upload = io.BytesIO(FOREIGN.encode())
    upload.name = "foreign.csv"
    response = client.post("/api/v1/interchange/readings-import/",
                           {"file": upload, "mapping": json.dumps(MAPPING), "study": "elsewhere"}, format="multipart")
    body = response.json()
    assert response.status_code == 200 and body["ok"] and body["n_rows"] == 8 and len(body["preview"]) == 8
    assert pd.read_csv(io.StringIO(body["csv"]))["correct_top1"].sum() == 6
    upload.seek(0)
    auto = client.post("/api/v1/interchange/readings-import/", {"file": upload}, format="multipart").json()
    assert not auto["ok"] and {p["field"] for p in auto["problems"]} >= {"reader", "case", "arm"}


def test_readings_import_page(world, client):
    client.force_login(world.users["statistician"])
    assert client.get("/interchange/readings-import/").status_code == 200
    upload = io.BytesIO(FOREIGN.encode())
    upload.name = "foreign.csv"
    first = client.post("/interchange/readings-import/", {"file": upload, "study": "elsewhere"})
    assert first.status_code == 200 and b"required: map it" in first.content
    token = first.context["token"]
    chosen = {"token": token, "study": "elsewhere", "action": "preview",
              **{f"map-{name}": column for name, column in MAPPING.items()}}
    second = client.post("/interchange/readings-import/", chosen)
    assert second.context["result"].ok and b"Every row is valid" in second.content
    download = client.post("/interchange/readings-import/", {**chosen, "action": "download"})
    assert download["Content-Type"].startswith("text/csv")
    assert pd.read_csv(io.BytesIO(download.content))["reader"].tolist()[:2] == ["r1", "r1"]
    client.force_login(world.users["other"])
    assert client.get("/interchange/readings-import/").status_code == 404
    assert client.post("/interchange/readings-import/", chosen).status_code == 404


def test_imports_rows_are_numbered_from_one():
    result = readings_import("reader,case,arm,correct_top1\nr1,c1,a,2\n")
    assert [(p.row, p.field) for p in result.problems] == [(1, "correct_top1")]
    assert np.isnan(float("nan"))
