"""Formula injection: every CSV download neutralises text cells a spreadsheet would run.

Hostile text enters through imports (case keys, metadata, extra keys, model names, arm names) and
reader input (country). The table ``DOWNLOADS`` lists every CSV download of the pages and the API;
``test_every_csv_download_is_listed`` fails when a new export URL or API export appears unlisted.
"""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
from django.urls import URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from analysis.csvcells import FORMULA_TRIGGERS, neutralise_cell, restore_cell
from analysis.readings import load_readings
from catalog.models import Condition
from inference.models import ModelVersion
from readerstudy.exports.files import API_EXPORTS as EXPORTS
from readerstudy.exports.formats import to_csv_bytes
from readerstudy.exports.tables import readings_table
from readerstudy.models import ScheduleItem
from readerstudy.services import studies
from readerstudy.services.reader_flow import demographics_save
from tests.factories import CaseFactory, CaseSetFactory, UserFactory
from tests.readerstudy_tests.studies_helpers import model_version_for, submit

pytestmark = pytest.mark.django_db

EVIL = "=HYPERLINK(\"http://x\",\"y\")"
HOSTILE = {
    "case_a": "=1+1",
    "case_b": "@SUM(A1)",
    "body_site": "+cmd|' /C calc'!A0",
    "source": "-2+3",
    "history": "\tTAB",
    "country": EVIL,
    "model": "+evil-model",
    "arm": "-unaided",
}
# (how to fetch, what it is): every CSV the web app serves.
PAGE_DOWNLOADS = ["studies:export_readings", "studies:export_schedules", "studies:export_case_progress"]
API_CSV_EXPORTS = ["readings.csv", "schedules.csv", "cases.csv", "model-outputs.csv", "rjafroc.csv", "imrmc"]
NOT_CSV = {"readings.parquet"}


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def assert_safe(text: str, where: str) -> None:
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) > 1, f"{where}: no data rows"
    for row in rows:
        for cell in row:
            assert not (cell[:1] in FORMULA_TRIGGERS and not is_number(cell)), f"{where}: unsafe cell {cell!r}"


@pytest.fixture
def hostile():
    case_set = CaseSetFactory()
    condition = {c.code: c for c in Condition.objects.filter(taxonomy=case_set.taxonomy)}
    CaseFactory(case_set=case_set, key=HOSTILE["case_a"], reference=condition["MEL"], body_site=HOSTILE["body_site"],
                reference_source=HOSTILE["source"], extra={"=key": HOSTILE["history"], "note": "-1"})
    CaseFactory(case_set=case_set, key=HOSTILE["case_b"], reference=condition["PSO"], sex="@")
    model = model_version_for(case_set)
    ModelVersion.objects.filter(pk=model.pk).update(name=HOSTILE["model"])
    model.refresh_from_db()
    coordinator = UserFactory()
    study = studies.study_create(
        actor=coordinator, title="Hostile", case_set=case_set, design="sequential",
        settings={"ask_malignancy": True}, model_version=model, consent_text="I agree.",
        arms=[studies.ArmSpec(HOSTILE["arm"], "Unaided", "unaided"),
              studies.ArmSpec("ai", "AI", "ai", {"top_k": 3, "show_probabilities": True, "faulty_rate": 0.0})],
    )
    reader = studies.reader_enrol(study=study, user=UserFactory(), actor=None)
    demographics_save(membership=reader, data={"profession": "gp", "years_experience": 3, "dermoscopy_use": "never",
                                               "country": HOSTILE["country"], "age_band": "<30"})
    studies.study_launch(study=study, actor=coordinator)
    for n, item in enumerate(ScheduleItem.objects.filter(membership=reader).order_by("position")):
        submit(item, ["MEL"], management="monitor", malignancy=10 + 20 * n)
    return study, coordinator


def test_cells_round_trip_exactly():
    for text in ["", "a", "=1", "'=1", "''=1", "-3", "-3.5e2", "+4", "-2+3", "@x", "\tx", "\rx", "'", "'a", "x=1"]:
        assert restore_cell(neutralise_cell(text)) == text
        assert restore_cell(text) == text or neutralise_cell(restore_cell(text)) == text
    assert neutralise_cell("-3") == "-3" and neutralise_cell(-3) == -3  # numbers stay numbers
    assert neutralise_cell("=1+1") == "'=1+1"


def url_names(resolver=None, prefix=""):
    resolver = resolver or get_resolver()
    for pattern in resolver.url_patterns:
        if isinstance(pattern, URLResolver):
            space = f"{prefix}{pattern.namespace}:" if pattern.namespace else prefix
            yield from url_names(pattern, space)
        elif pattern.name:
            yield prefix + pattern.name


def test_every_csv_download_is_listed():
    """A new export page or API export must be added here (and so tested)."""
    pages = {name for name in url_names()
             if any(word in name for word in ("export", "template", "download")) and not name.startswith("api:")}
    assert pages == set(PAGE_DOWNLOADS) | {"case_set_template"}
    assert set(EXPORTS) == set(API_CSV_EXPORTS) | NOT_CSV


@pytest.mark.parametrize("name", PAGE_DOWNLOADS)
def test_page_downloads_are_safe(client, hostile, name):
    study, coordinator = hostile
    client.force_login(coordinator)
    response = client.get(reverse(name, kwargs={"slug": study.slug}))
    assert response.status_code == 200, response.content[:300]
    text = response.content.decode("utf-8")
    assert_safe(text, name)
    assert "'" + HOSTILE["case_a"] in text


@pytest.mark.parametrize("name", API_CSV_EXPORTS)
def test_api_downloads_are_safe(hostile, name):
    study, coordinator = hostile
    api = APIClient()
    api.force_authenticate(coordinator)
    response = api.get(f"/api/v1/studies/{study.slug}/exports/{name}/")
    assert response.status_code == 200, response.content[:300]
    text = response.content.decode("utf-8")
    if name == "imrmc":
        text = text.split("BEGIN DATA:", 1)[1].strip()
    assert_safe(text, name)


def test_readings_import_downloads_are_safe(client, hostile):
    _, coordinator = hostile
    buffer = io.StringIO()
    csv.writer(buffer).writerows([["reader", "case", "arm", "correct_top1"], [EVIL, "-2+3", "@arm", "1"]])
    upload = buffer.getvalue().encode()
    api = APIClient()
    api.force_authenticate(coordinator)
    body = api.post("/api/v1/interchange/readings-import/",
                    {"file": io.BytesIO(upload)}, format="multipart").json()
    assert body["ok"], body
    assert_safe(body["csv"], "api readings import")
    client.force_login(coordinator)
    page = client.post(reverse("interchange:readings_import"),
                       {"file": io.BytesIO(upload), "study": "x"})
    token = page.context["token"]
    download = client.post(reverse("interchange:readings_import"),
                           {"token": token, "study": "x", "action": "download", "map-reader": "reader",
                            "map-case": "case", "map-arm": "arm", "map-correct_top1": "correct_top1"})
    assert download["Content-Type"].startswith("text/csv")
    assert_safe(download.content.decode(), "page readings import")


def test_the_analysis_loader_reads_back_the_table_unchanged(hostile, tmp_path):
    study, _ = hostile
    frame = readings_table(study)
    path = tmp_path / "readings.csv"
    path.write_bytes(to_csv_bytes(frame))
    assert "'" + HOSTILE["body_site"] in path.read_text()
    loaded = load_readings(path)
    for column in ("reader", "case", "arm", "reader_country", "case_body_site", "reference_source"):
        assert list(loaded[column].astype(str)) == list(frame[column].astype(str)), column
    assert set(loaded["case"]) == {HOSTILE["case_a"], HOSTILE["case_b"]}
    assert set(loaded["arm"]) == {HOSTILE["arm"], "ai"}
    numeric = frame.select_dtypes("number").columns
    pd.testing.assert_frame_equal(loaded[numeric].astype("float64"), frame[numeric].astype("float64"))


def test_the_manifest_template_is_safe_and_reads_back(client):
    from catalog.models import Condition
    from catalog.services.case_import import read_manifest
    from tests.factories import small_taxonomy

    taxonomy = small_taxonomy()
    for condition in Condition.objects.filter(taxonomy=taxonomy):
        Condition.objects.filter(pk=condition.pk).update(code="=" + condition.code)
    from django.contrib.auth.models import Permission

    importer = UserFactory()
    importer.user_permissions.add(Permission.objects.get(codename="add_caseset"))
    client.force_login(importer)
    response = client.get(reverse("case_set_template", kwargs={"fmt": "csv"}), {"taxonomy": taxonomy.pk})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = response.content.decode()
    assert_safe(text, "manifest template")
    path = __import__("pathlib").Path(__import__("tempfile").mkdtemp()) / "m.csv"
    path.write_text(text)
    assert all(row["reference_code"].startswith("=") for row in read_manifest(path))
