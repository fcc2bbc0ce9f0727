"""Taxonomy translations: the shipped five languages, JSON/CSV round trips with translations and review
status, validation naming condition and field, review marking (audited), the unreviewed list."""

from __future__ import annotations

import copy
import io
import json
import re

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Condition, ManagementOption
from catalog.services.taxonomy import (
    DEFAULT_TAXONOMY_PATH,
    condition_search_index,
    default_taxonomy,
    taxonomy_export,
    taxonomy_load,
    taxonomy_to_dict,
    translation_language,
    translation_mark_reviewed,
    translations_unreviewed,
)
from catalog.taxonomy_format import TaxonomyError, taxonomy_from_csv
from common.models import AuditEvent
from tests.catalog_tests.test_taxonomy import small

pytestmark = pytest.mark.django_db
LANGUAGES = ("zh-hans", "es", "de", "fr")


def translated(**changes) -> dict:
    data = small(**changes)
    mel, sk, pso = data["conditions"]
    mel["translations"] = {
        "zh-hans": {"name": "黑色素瘤", "synonyms": ["恶性黑色素瘤"], "status": "machine_drafted"},
        "de": {"name": "Melanom", "synonyms": ["malignes Melanom"], "status": "reviewed",
               "reviewer": "Dr. A. Weber", "reviewed_on": "2026-11-30"},
    }
    sk["translations"] = {"fr": {"name": "Kératose séborrhéique", "synonyms": ["verrue séborrhéique"],
                                 "status": "machine_drafted"}}
    data["management_options"][4]["translations"] = {"es": {"label": "Derivar", "status": "machine_drafted"}}
    return data


def test_the_default_has_five_languages_for_every_condition_and_option():
    data = json.loads(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))
    assert len(data["conditions"]) == 104
    for row in data["conditions"] + data["management_options"]:
        assert list(row["translations"]) == list(LANGUAGES), row["code"]
        for lang, entry in row["translations"].items():
            text = entry.get("name") or entry.get("label")
            assert text and text.strip(), (row["code"], lang)
            assert entry["status"] == "machine_drafted" and "reviewer" not in entry, (row["code"], lang)
    by_code = {row["code"]: row["translations"] for row in data["conditions"]}
    assert by_code["MEL"]["zh-hans"]["name"] == "黑色素瘤"
    assert by_code["MEL"]["es"]["name"] == "Melanoma"
    assert by_code["MEL"]["de"]["name"] == "Melanom"
    assert by_code["MEL"]["fr"]["name"] == "Mélanome"
    # a real translation, not the English copied: every Chinese name is in Chinese, and in the others
    # only Latin terms stay as in English (Psoriasis, Lichen planus, Mycosis fungoides, ...)
    assert all(re.search("[\u4e00-\u9fff]", row["translations"]["zh-hans"]["name"]) for row in data["conditions"])
    for lang in ("es", "de", "fr"):
        same = [row["code"] for row in data["conditions"] if row["translations"][lang]["name"] == row["name"]]
        assert len(same) < 35, (lang, same)
    taxonomy = default_taxonomy()
    assert Condition.objects.get(taxonomy=taxonomy, code="PSO").translations["zh-hans"]["name"] == "银屑病"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_translations_round_trip_through_json_and_csv(fmt):
    original = taxonomy_load(data=translated())
    text = taxonomy_export(taxonomy=original, fmt=fmt)
    data = json.loads(text) if fmt == "json" else taxonomy_from_csv(io.StringIO(text))
    assert data == taxonomy_to_dict(original)
    assert data["conditions"][0]["translations"]["de"]["reviewer"] == "Dr. A. Weber"
    data["version"] = "copy"
    copy_ = taxonomy_load(data=data)
    assert taxonomy_to_dict(copy_) == taxonomy_to_dict(original) | {"version": "copy"}


def test_the_default_round_trips_through_csv_with_one_column_per_language_and_field():
    taxonomy = default_taxonomy()
    text = taxonomy_export(taxonomy=taxonomy, fmt="csv")
    header = next(line for line in text.splitlines() if not line.startswith("#"))
    for lang in LANGUAGES:
        for field in ("name", "synonyms", "status", "reviewer", "reviewed_on"):
            assert f"{field}_{lang}" in header.split(",")
    assert "黑色素瘤" in text
    assert taxonomy_from_csv(io.StringIO(text)) == taxonomy_to_dict(taxonomy)


def test_a_taxonomy_without_translations_exports_as_before():
    taxonomy = taxonomy_load(data=small())
    assert "translations" not in taxonomy_export(taxonomy=taxonomy, fmt="json")
    assert "name_" not in taxonomy_export(taxonomy=taxonomy, fmt="csv")


BAD = [
    ("bad language", lambda d: d["conditions"][0]["translations"].update({"Deutsch": {"name": "x"}}),
     "condition MEL (row 1): field 'translations' has bad language code 'Deutsch'"),
    ("english", lambda d: d["conditions"][0]["translations"].update({"en": {"name": "x"}}),
     "bad language code 'en'"),
    ("no name", lambda d: d["conditions"][0]["translations"]["zh-hans"].pop("name"),
     "condition MEL (row 1): missing field 'translations.zh-hans.name'"),
    ("bad status", lambda d: d["conditions"][1]["translations"]["fr"].update(status="approved"),
     "condition SK (row 2): field 'translations.fr.status' bad status 'approved'"),
    ("reviewed without reviewer", lambda d: d["conditions"][0]["translations"]["de"].pop("reviewer"),
     "condition MEL (row 1): missing field 'translations.de.reviewer'"),
    ("bad date", lambda d: d["conditions"][0]["translations"]["de"].update(reviewed_on="30/11/2026"),
     "field 'translations.de.reviewed_on' must be a date YYYY-MM-DD"),
    ("reviewer but machine", lambda d: d["conditions"][1]["translations"]["fr"].update(reviewer="Dr X"),
     "condition SK (row 2): field 'translations.fr' has a reviewer or date but status 'machine_drafted'"),
    ("unknown field", lambda d: d["conditions"][0]["translations"]["zh-hans"].update(pinyin="heisesuliu"),
     "unknown field 'translations.zh-hans.pinyin'"),
    ("bad synonyms", lambda d: d["conditions"][0]["translations"]["zh-hans"].update(synonyms="恶性"),
     "field 'translations.zh-hans.synonyms' must be a list"),
    ("option without label", lambda d: d["management_options"][4]["translations"]["es"].pop("label"),
     "management option refer (row 5): missing field 'translations.es.label'"),
]


@pytest.mark.parametrize(("label", "mutate", "message"), BAD, ids=[b[0] for b in BAD])
def test_bad_translations_name_condition_and_field_and_save_nothing(label, mutate, message):
    data = translated()
    mutate(data)
    with pytest.raises(TaxonomyError) as caught:
        taxonomy_load(data=data)
    assert any(message in problem for problem in caught.value.problems), caught.value.problems
    assert not Condition.objects.exists()


def test_csv_translation_problems_name_the_row():
    taxonomy = taxonomy_load(data=translated())
    text = taxonomy_export(taxonomy=taxonomy, fmt="csv").replace(",machine_drafted,", ",draft,", 1)
    data = taxonomy_from_csv(io.StringIO(text))
    data["version"] = "2"
    with pytest.raises(TaxonomyError, match=r"condition MEL \(row 1\): field 'translations.zh-hans.status'"):
        taxonomy_load(data=data)


def test_marking_reviewed_is_audited_and_shows_in_the_export():
    taxonomy = taxonomy_load(data=translated())
    before = taxonomy_to_dict(taxonomy)
    assert translations_unreviewed(before) == {
        "zh-hans": {"conditions": ["MEL"], "management_options": []},
        "es": {"conditions": [], "management_options": ["refer"]},
        "fr": {"conditions": ["SK"], "management_options": []},
    }
    count = translation_mark_reviewed(taxonomy=taxonomy, language="zh-hans", reviewer="Dr. Li Wei",
                                      codes=["MEL"], options=[], reviewed_on="2026-12-01")
    assert count == 1
    entry = Condition.objects.get(taxonomy=taxonomy, code="MEL").translations["zh-hans"]
    assert entry == {"name": "黑色素瘤", "synonyms": ["恶性黑色素瘤"], "status": "reviewed",
                     "reviewer": "Dr. Li Wei", "reviewed_on": "2026-12-01"}
    event = AuditEvent.objects.get(action="taxonomy.translation_reviewed")
    assert event.data["code"] == "MEL" and event.data["language"] == "zh-hans"
    assert event.data["reviewer"] == "Dr. Li Wei" and event.data["previous"]["status"] == "machine_drafted"
    after = taxonomy_to_dict(taxonomy)
    assert "zh-hans" not in translations_unreviewed(after)
    assert '"status": "reviewed", "reviewer": "Dr. Li Wei"' in taxonomy_export(taxonomy=taxonomy, fmt="json")
    # the version is the same text: reloading its file (before or after review) is a no-op
    assert taxonomy_load(data=before) == taxonomy
    assert taxonomy_load(data=after) == taxonomy
    assert Condition.objects.get(taxonomy=taxonomy, code="MEL").translations["zh-hans"]["status"] == "reviewed"


def test_a_changed_translation_text_needs_a_new_version():
    taxonomy_load(data=translated())
    data = translated()
    data["conditions"][0]["translations"]["zh-hans"]["name"] = "恶性黑色素瘤"
    with pytest.raises(TaxonomyError, match="already exists with different content"):
        taxonomy_load(data=data)


def test_marking_problems_are_reported_and_nothing_is_marked():
    taxonomy = taxonomy_load(data=translated())
    with pytest.raises(TaxonomyError) as caught:
        translation_mark_reviewed(taxonomy=taxonomy, language="de", reviewer="Dr X", codes=["MEL", "SK", "NOPE"],
                                  options=[])
    assert caught.value.problems == ["condition SK: has no 'de' translation", f"condition NOPE: not in {taxonomy}"]
    with pytest.raises(TaxonomyError, match="reviewer"):
        translation_mark_reviewed(taxonomy=taxonomy, language="fr", reviewer=" ")
    assert not AuditEvent.objects.filter(action="taxonomy.translation_reviewed").exists()


def test_commands_review_and_export_name_the_unreviewed(capsys):
    taxonomy = default_taxonomy()
    out, err = io.StringIO(), io.StringIO()
    call_command("export_taxonomy", "--format", "csv", stdout=out, stderr=err)
    assert "unreviewed zh-hans: 104 condition(s)" in err.getvalue()
    call_command("review_translations", taxonomy.name, taxonomy.version, "--language", "de",
                 "--reviewer", "Dr. A. Weber", "--date", "2026-12-01", stdout=out)
    assert "Marked 109 'de' translation(s)" in out.getvalue()  # 104 conditions + 5 options
    err = io.StringIO()
    call_command("export_taxonomy", stdout=io.StringIO(), stderr=err)
    assert "unreviewed de" not in err.getvalue() and "unreviewed fr: 104" in err.getvalue()
    assert ManagementOption.objects.get(taxonomy=taxonomy, code="refer").translations["de"]["status"] == "reviewed"
    with pytest.raises(CommandError, match="condition XX: not in"):
        call_command("review_translations", taxonomy.name, taxonomy.version, "--language", "fr",
                     "--reviewer", "Dr B", "--code", "XX")


def test_language_codes_match_django_ones():
    available = {"zh-hans", "es", "de", "fr"}
    assert translation_language("zh-hans", available) == "zh-hans"
    assert translation_language("zh-cn", available) == "zh-hans"
    assert translation_language("de-at", available) == "de"
    assert translation_language("en-gb", available) is None
    assert translation_language("pt", available) is None
    assert translation_language("zh-hant", available) is None  # traditional script is not simplified


def test_search_index_in_a_language_has_both_languages():
    taxonomy = default_taxonomy()
    mel = condition_search_index(taxonomy, "zh-hans")[0]
    assert mel["code"] == "MEL" and mel["name"] == "黑色素瘤" and mel["names"] == ["Melanoma"]
    assert "恶性黑色素瘤" in mel["synonyms"] and "malignant melanoma" in mel["synonyms"]
    english = condition_search_index(taxonomy)[0]
    assert english["name"] == "Melanoma" and "names" not in english
    assert copy.deepcopy(condition_search_index(taxonomy, "pt")[0]) == english  # no Portuguese: English
