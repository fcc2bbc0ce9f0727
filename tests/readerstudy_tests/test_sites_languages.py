"""Issue 15, items 3-5: study texts per language, sites, case text per language; the demo's two-site
study exports site and language and analyses by site."""

from __future__ import annotations

import hashlib
import io
import json
import uuid

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

from catalog.models import Case
from catalog.services.case_import import CaseImportError, case_import
from common.models import AuditEvent
from readerstudy.exports.formats import to_csv_bytes, to_parquet_bytes
from readerstudy.exports.tables import readings_table
from readerstudy.models import (
    ConsentRecord,
    Membership,
    MembershipDemographics,
    Reading,
    StudyStatus,
    StudyText,
)
from readerstudy.services import studies
from readerstudy.services.reader_flow import consent_record, demographics_save
from readerstudy.services.readings import reading_submit
from readerstudy.services.studies import StudyError, StudyInvalid
from tests.catalog_tests.test_case_import import good_rows, image_dir, taxonomy, write_manifest  # noqa: F401 - fixtures
from tests.factories import UserFactory

from .reader_setup import answer, build_study
from .studies_helpers import make_study

pytestmark = pytest.mark.django_db

CONSENT_ZH = "参与完全自愿，您可以随时退出。"
CONSENT_ES = "La participación es voluntaria."


def sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def two_language_study(**kwargs):
    study = make_study(**kwargs)
    studies.study_update(study=study, actor=None, changes={"consent_text": "Taking part is voluntary."})
    studies.study_languages_set(study=study, languages=["en", "zh-hans"], default_language="en", actor=None)
    return study


def launch_problems(study) -> list[str]:
    study.refresh_from_db()
    return studies.launch_problems(study)


# --- 3. study texts per language ------------------------------------------------------------------


def test_texts_are_versioned_per_language_and_audited():
    study = two_language_study()
    first = studies.study_text_set(study=study, kind="consent", language="zh-hans", text="第一版", actor=None)
    second = studies.study_text_set(study=study, kind="consent", language="zh", text=CONSENT_ZH, actor=None)
    assert (first.version, second.version, second.language) == (1, 2, "zh-hans")
    assert StudyText.objects.filter(study=study, kind="consent").count() == 2  # earlier versions stay
    shown = studies.text_for_reader(study, "consent", language="zh-hans")
    assert (shown.language, shown.version, shown.text) == ("zh-hans", 2, CONSENT_ZH)
    events = AuditEvent.objects.filter(action="study.text", study_id=study.pk)
    assert [e.data["version"] for e in events.order_by("at", "pk")] == [1, 2]
    with pytest.raises(StudyInvalid) as excinfo:
        studies.study_text_set(study=study, kind="consent", language="xx", text="?", actor=None)
    assert "Unknown language 'xx'" in str(excinfo.value)


def test_launch_checks_every_offered_language_has_consent_and_instructions():
    study = two_language_study()
    studies.study_update(study=study, actor=None, changes={"instructions": "Read each case carefully."})
    problems = launch_problems(study)
    assert any(p.startswith("consent_text: no consent text in zh-hans") for p in problems), problems
    assert any(p.startswith("instructions: no instructions in zh-hans") for p in problems), problems
    studies.study_text_set(study=study, kind="consent", language="zh-hans", text=CONSENT_ZH, actor=None)
    studies.study_text_set(study=study, kind="instructions", language="zh-hans", text="请仔细阅读每个病例。",
                           actor=None)
    assert launch_problems(study) == []
    studies.study_launch(study=study, actor=None)
    study.refresh_from_db()
    assert study.texts_frozen["consent"]["zh-hans"] == [1, CONSENT_ZH]
    with pytest.raises(StudyError):  # texts cannot change once readers may have read them
        studies.study_text_set(study=study, kind="consent", language="zh-hans", text="新", actor=None)


def test_consent_elsewhere_needs_no_consent_text_in_any_language():
    study = two_language_study(settings={"consent_elsewhere": True})
    assert not [p for p in launch_problems(study) if "consent" in p]


def test_consent_record_keeps_the_language_and_hash_of_the_text_seen():
    built = build_study(ready=False)
    study = built.study
    study.languages, study.default_language = ["en", "zh-hans", "es"], "en"
    # As study_launch leaves it: the per-language texts copied onto the row.
    study.texts_frozen = {"consent": {"zh-hans": [1, CONSENT_ZH]}, "instructions": {}}
    study.save(update_fields=["languages", "default_language", "texts_frozen"])
    with translation.override("zh-hans"):
        record = consent_record(membership=built.membership, agreed=True)
    assert (record.language, record.text_version, record.text_sha256) == ("zh-hans", 1, sha(CONSENT_ZH))
    # A reader whose language the study offers but has no text there sees the default language's.
    other = Membership.objects.create(study=study, user=UserFactory(), role="reader", pseudonym="R9",
                                      reader_index=9)
    with translation.override("es"):
        fallback = consent_record(membership=other, agreed=True)
    assert (fallback.language, fallback.text_version) == ("en", None)
    assert fallback.text_sha256 == sha(study.consent_text)


def test_consent_page_shows_the_readers_language_and_falls_back(client):
    built = build_study(ready=False)
    study = built.study
    study.languages = ["en", "zh-hans"]
    study.texts_frozen = {"consent": {"zh-hans": [1, CONSENT_ZH]}, "instructions": {}}
    study.save(update_fields=["languages", "texts_frozen"])
    client.force_login(built.user)
    url = reverse("reader:consent", args=[study.slug])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(url).content.decode()
    assert CONSENT_ZH in page and study.consent_text not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"  # not offered: the study's default language
    page = client.get(url).content.decode()
    assert study.consent_text in page and CONSENT_ZH not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    client.post(url, {"agree": "on"})
    assert ConsentRecord.objects.get(membership=built.membership).language == "zh-hans"


# --- 4. sites -------------------------------------------------------------------------------------


def test_site_links_put_readers_in_their_site():
    study = two_language_study()
    london = studies.site_create(study=study, name="London clinic", country="United Kingdom",
                                 default_language="en", actor=None)
    shanghai = studies.site_create(study=study, name="Shanghai clinic", country="China",
                                   default_language="zh-hans", actor=None)
    with pytest.raises(StudyInvalid):
        studies.site_create(study=study, name="london CLINIC", actor=None)  # names are unique per study
    with pytest.raises(StudyInvalid):
        studies.site_create(study=study, name="Madrid", default_language="es", actor=None)  # not offered
    link = studies.invitation_create(study=study, actor=None, single_use=False, site=shanghai)
    plain = studies.invitation_create(study=study, actor=None)
    joined = studies.invitation_accept(token=link.token, user=UserFactory())
    unsited = studies.invitation_accept(token=plain.token, user=UserFactory())
    assert (joined.site, unsited.site) == (shanghai, None)
    other = make_study()
    with pytest.raises(StudyError):
        studies.invitation_create(study=other, actor=None, site=london)
    assert AuditEvent.objects.filter(action="site.create", study_id=study.pk).count() == 2


def sited_reading(language: str = "zh-hans", history_zh: str | None = None):
    built = build_study()
    study = built.study
    study.languages = ["en", "zh-hans"]
    study.save(update_fields=["languages"])
    site = studies.site_create(study=study, name="Shanghai clinic", country="China", default_language="zh-hans",
                               actor=None)
    Membership.objects.filter(pk=built.membership.pk).update(site=site)
    built.membership.refresh_from_db()
    if history_zh is not None:
        Case.objects.filter(pk=built.cases[0].pk).update(history="Itchy for a month.",
                                                         translations={"history": {"zh-hans": history_zh}})
    with translation.override(language):
        reading, _ = reading_submit(membership=built.membership, item=built.items[0], payload=answer(),
                                    idempotency_key=uuid.uuid4())
    return built, site, reading


def test_reading_stores_site_and_interface_language():
    built, site, reading = sited_reading("zh-hans")
    reading.refresh_from_db()
    assert (reading.site, reading.language) == (site, "zh-hans")
    with translation.override("zh-hans"):
        demographics_save(membership=built.membership, data={
            "profession": "gp", "years_experience": 5, "dermoscopy_use": "sometimes", "country": "China",
            "age_band": "30-39"})
    snapshot = MembershipDemographics.objects.get(membership=built.membership)
    assert (snapshot.site, snapshot.language) == (site, "zh-hans")


def test_export_csv_and_parquet_carry_site_language_and_history_language():
    built, _, _ = sited_reading("zh-hans", history_zh="瘙痒一个月。")
    frame = readings_table(built.study)
    row = frame.iloc[0]
    assert (row["site"], row["site_country"], row["language"], row["history_language"]) == (
        "Shanghai clinic", "China", "zh-hans", "zh-hans")
    csv_frame = pd.read_csv(io.BytesIO(to_csv_bytes(frame)))
    assert csv_frame.loc[0, ["site", "language", "history_language"]].tolist() == [
        "Shanghai clinic", "zh-hans", "zh-hans"]
    parquet = pd.read_parquet(io.BytesIO(to_parquet_bytes(frame)))
    assert parquet.loc[0, ["site", "language"]].tolist() == ["Shanghai clinic", "zh-hans"]


def test_history_language_is_the_default_when_the_case_has_no_translation():
    built, _, _ = sited_reading("es", history_zh="瘙痒一个月。")
    row = readings_table(built.study).iloc[0]
    assert (row["language"], row["history_language"]) == ("es", "en")


def test_api_readings_carry_site_and_language(client):
    built, _, _ = sited_reading("zh-hans")
    coordinator = UserFactory()
    Membership.objects.create(study=built.study, user=coordinator, role="coordinator", pseudonym="C1")
    client.force_login(coordinator)
    body = client.get(f"/api/v1/studies/{built.study.slug}/readings/").json()
    first = body["results"][0]
    assert (first["site"], first["language"]) == ("Shanghai clinic", "zh-hans")


def test_progress_page_shows_each_site(client):
    built, _, _ = sited_reading("zh-hans")
    coordinator = UserFactory()
    Membership.objects.create(study=built.study, user=coordinator, role="coordinator", pseudonym="C1")
    client.force_login(coordinator)
    page = client.get(reverse("studies:progress", args=[built.study.slug])).content.decode()
    assert 'id="site-progress"' in page and "Shanghai clinic" in page
    assert f"1 / {len(built.items)}" in page


# --- 5. case text per language ---------------------------------------------------------------------


def test_manifest_history_per_language_is_imported(tmp_path, taxonomy, image_dir):  # noqa: F811
    rows = good_rows()
    rows[0] |= {"history_zh": "痣在变化", "history_es": "Lunar cambiante", "body_site_zh-hans": "背部"}
    case_import(manifest=write_manifest(tmp_path, rows), images=image_dir, case_set_name="Multi", taxonomy=taxonomy)
    case = Case.objects.get(case_set__name="Multi", key="case-0")
    assert case.translations == {"history": {"zh-hans": "痣在变化", "es": "Lunar cambiante"},
                                 "body_site": {"zh-hans": "背部"}}
    assert case.history == "Changing mole"
    json_rows = good_rows()
    json_rows[1]["history_de"] = "Veränderter Leberfleck"
    path = tmp_path / "json"
    path.mkdir()
    case_import(manifest=write_manifest(path, json_rows, "json"), images=image_dir, case_set_name="Multi JSON",
                taxonomy=taxonomy)
    assert Case.objects.get(case_set__name="Multi JSON", key="case-1").translations == {
        "history": {"de": "Veränderter Leberfleck"}}


def test_unknown_language_suffix_names_the_row_and_column(tmp_path, taxonomy, image_dir):  # noqa: F811
    rows = good_rows()
    rows[1]["history_xx"] = "???"
    with pytest.raises(CaseImportError) as excinfo:
        case_import(manifest=write_manifest(tmp_path, rows), images=image_dir, case_set_name="Bad",
                    taxonomy=taxonomy)
    problems = [(p.row, p.field, p.message) for p in excinfo.value.problems]
    assert any(field == "history_xx" and row == 2 and "unknown language 'xx'" in message
               for row, field, message in problems), problems
    assert not Case.objects.filter(case_set__name="Bad").exists()


def test_case_page_shows_the_history_in_the_readers_language(client):
    built = build_study()
    Case.objects.filter(pk=built.cases[0].pk).update(
        history="Itchy for a month.", translations={"history": {"zh-hans": "瘙痒一个月。"}})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "zh-hans"
    page = client.get(url).content.decode()
    assert "瘙痒一个月。" in page and "Itchy for a month." not in page
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en-gb"
    page = client.get(url).content.decode()
    assert "Itchy for a month." in page and "瘙痒一个月。" not in page


# --- the demo: a two-site study that exports and analyses by site ----------------------------------


def test_demo_two_site_study_exports_site_and_language_and_analyses_by_site(tmp_path):
    call_command("seed_demo", cases=6, readers=1, seed=5, image_size=96, stdout=io.StringIO())
    from readerstudy.models import Study

    study = Study.objects.get(slug__startswith="demo-two-site")
    assert study.status == StudyStatus.LAUNCHED and study.languages == ["en", "zh-hans"]
    assert set(study.sites.values_list("name", "default_language")) == {
        ("London clinic", "en"), ("Shanghai clinic", "zh-hans")}
    assert study.invitations.filter(site__isnull=False).count() == 2
    frame = readings_table(study)
    assert set(zip(frame["site"], frame["language"], strict=True)) == {
        ("London clinic", "en"), ("Shanghai clinic", "zh-hans")}
    assert Reading.objects.filter(schedule_item__study=study, site__isnull=True).count() == 0
    readings = tmp_path / "readings.csv"
    readings.write_bytes(to_csv_bytes(frame))
    from analysis.cli import main

    out = tmp_path / "out"
    code = main(["compare", "--readings", str(readings), "--outcome", "correct_top1", "--control", "unaided",
                 "--treatment", "ai", "--by", "site", "--out", str(out)])
    assert code in (0, None)
    results = json.loads((out / "results.json").read_text())
    assert set(results["by"]["site"]) == {"London clinic", "Shanghai clinic"}
    assert results["by"]["site"]["Shanghai clinic"]["n_readers"] == 3
    report = (out / "report.html").read_text()
    assert '<section id="sites"><h2>Per site</h2>' in report and "Shanghai clinic" in report


def test_coordinator_adds_a_site_and_makes_a_link_for_it(client):
    study = two_language_study()
    coordinator = study.memberships.get(role="coordinator").user
    client.force_login(coordinator)
    url = reverse("studies:invitations", args=[study.slug])
    response = client.post(url, {"site_name": "Shanghai clinic", "country": "China", "default_language": "zh-hans"})
    assert response.status_code == 302
    site = study.sites.get()
    assert (site.name, site.country, site.default_language) == ("Shanghai clinic", "China", "zh-hans")
    refused = client.post(url, {"site_name": "Madrid", "default_language": "es"})  # es is not offered
    assert "does not offer es" in refused.content.decode() and study.sites.count() == 1
    client.post(url, {"role": "reader", "kind": "open", "count": "1", "site": str(site.pk)})
    assert study.invitations.get().site == site
    assert "Shanghai clinic" in client.get(url).content.decode()


def test_study_texts_command_sets_languages_and_texts(tmp_path):
    study = make_study()
    consent = tmp_path / "consent_zh.txt"
    consent.write_text(CONSENT_ZH, encoding="utf-8")
    out = io.StringIO()
    call_command("study_texts", study.slug, "--languages", "en,zh", "--consent", str(consent),
                 "--language", "zh", stdout=out)
    study.refresh_from_db()
    assert (study.languages, study.default_language) == (["en", "zh-hans"], "en")
    assert f"consent      zh-hans  version 1, sha256 {sha(CONSENT_ZH)[:12]}" in out.getvalue()
    assert "consent      en       version" in out.getvalue()  # the study's own consent text (test studies carry one)
    assert "instructions en       missing" in out.getvalue()
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown language 'xx'"):
        call_command("study_texts", study.slug, "--consent", str(consent), "--language", "xx", stdout=io.StringIO())


def test_reader_api_case_is_in_the_requests_language(client):
    built = build_study()
    Case.objects.filter(pk=built.cases[0].pk).update(
        history="Itchy for a month.", translations={"history": {"zh-hans": "瘙痒一个月。"}})
    client.force_login(built.user)
    url = f"/api/v1/studies/{built.study.slug}/schedule/next/"
    zh = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").json()["item"]["case"]
    en = client.get(url, HTTP_ACCEPT_LANGUAGE="en-gb").json()["item"]["case"]
    assert (zh["history"], zh["history_language"]) == ("瘙痒一个月。", "zh-hans")
    assert (en["history"], en["history_language"]) == ("Itchy for a month.", "")
