"""Taxonomy: the shipped default, JSON/CSV round trips, validation naming row and field, the commands."""

from __future__ import annotations

import copy
import io
import json
import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from catalog.models import (
    Appropriateness,
    Condition,
    ConditionGroup,
    ManagementOption,
    ManagementRating,
    Taxonomy,
)
from catalog.services.taxonomy import (
    DEFAULT_TAXONOMY_PATH,
    condition_search_index,
    default_taxonomy,
    taxonomy_export,
    taxonomy_load,
    taxonomy_to_dict,
)
from catalog.taxonomy_format import TaxonomyError, taxonomy_from_csv
from common.models import AuditEvent

pytestmark = pytest.mark.django_db

OPTIONS = ["reassure", "monitor", "treat_locally", "biopsy_excise", "refer"]
ICD10 = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,4})?$")


def shipped() -> dict:
    return json.loads(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))


def small(**changes) -> dict:
    """A valid three-condition taxonomy; tests break one thing at a time."""
    data = {
        "name": "Small",
        "version": "1",
        "description": "for tests",
        "management_options": [{"code": code, "label": code.title()} for code in OPTIONS],
        "conditions": [
            {
                "code": "MEL",
                "name": "Melanoma",
                "synonyms": ["malignant melanoma"],
                "group": "malignant_neoplasm",
                "malignant": True,
                "icd10": "C43.9",
                "management": dict(
                    zip(OPTIONS, ["dangerous", "dangerous", "dangerous", "optimal", "optimal"], strict=True)
                ),
            },
            {
                "code": "SK",
                "name": "Seborrhoeic keratosis",
                "synonyms": [],
                "group": "benign_neoplasm",
                "malignant": False,
                "icd10": "L82",
                "management": dict(
                    zip(
                        OPTIONS,
                        ["optimal", "appropriate", "appropriate", "inappropriate", "inappropriate"],
                        strict=True,
                    )
                ),
            },
            {
                "code": "PSO",
                "name": "Psoriasis",
                "synonyms": ["plaque psoriasis"],
                "group": "inflammatory",
                "malignant": False,
                "icd10": "L40.0",
                "management": dict(
                    zip(
                        OPTIONS,
                        ["inappropriate", "inappropriate", "optimal", "inappropriate", "appropriate"],
                        strict=True,
                    )
                ),
            },
        ],
    }
    data.update(changes)
    return data


def row_counts() -> tuple[int, ...]:
    return tuple(
        model.objects.count()
        for model in (Taxonomy, Condition, ManagementOption, ManagementRating, AuditEvent)
    )


# --- the shipped default --------------------------------------------------------------------------------


def test_default_taxonomy_loads_about_100_conditions_with_a_complete_matrix():
    taxonomy = default_taxonomy()
    conditions = list(taxonomy.conditions.all())
    assert 90 <= len(conditions) <= 120
    assert [o.code for o in taxonomy.management_options.all()] == OPTIONS
    assert ManagementRating.objects.filter(condition__taxonomy=taxonomy).count() == len(conditions) * len(
        OPTIONS
    )
    codes = [c.code for c in conditions]
    assert len(set(codes)) == len(codes)
    assert {c.group for c in conditions} == set(ConditionGroup.values)
    assert all(ICD10.match(c.icd10) for c in conditions), [
        c.code for c in conditions if not ICD10.match(c.icd10)
    ]
    assert all(c.name and isinstance(c.synonyms, list) for c in conditions)
    assert AuditEvent.objects.filter(action="taxonomy.load", object_id=str(taxonomy.pk)).count() == 1


def test_default_matrix_is_clinically_sensible():
    data = shipped()
    by_code = {row["code"]: row for row in data["conditions"]}
    for code in ("MEL", "BCC", "SCC", "AK", "SK", "NEV", "DF", "PSO", "AD", "TINEA_CORPORIS"):
        assert code in by_code
    assert "atopic eczema" in by_code["AD"]["synonyms"]
    mel = by_code["MEL"]["management"]
    assert mel["reassure"] == "dangerous"
    assert mel["biopsy_excise"] == mel["refer"] == "optimal"
    assert by_code["SK"]["management"]["reassure"] == "optimal"
    for row in data["conditions"]:
        ratings = row["management"]
        assert "optimal" in ratings.values(), row["code"]
        if row["malignant"]:
            assert ratings["reassure"] == "dangerous", row["code"]
            assert "optimal" in (ratings["biopsy_excise"], ratings["refer"]), row["code"]
            assert row["group"] == ConditionGroup.MALIGNANT, row["code"]
        if row["group"] == ConditionGroup.MALIGNANT:
            assert row["malignant"], row["code"]
    # every benign neoplasm can be reassured without harm
    for row in data["conditions"]:
        if row["group"] == ConditionGroup.BENIGN:
            assert row["management"]["reassure"] != "dangerous", row["code"]


def test_default_taxonomy_is_idempotent():
    first = default_taxonomy()
    before = row_counts()
    assert default_taxonomy() == first
    assert row_counts() == before


def test_exporting_the_default_reproduces_the_shipped_file():
    text = taxonomy_export(taxonomy=default_taxonomy(), fmt="json")
    assert text == DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8")


def test_condition_search_index():
    index = condition_search_index(default_taxonomy())
    assert index[0] == {
        "code": "MEL",
        "name": "Melanoma",
        "synonyms": shipped()["conditions"][0]["synonyms"],
        "group": "malignant_neoplasm",
    }
    assert {"code", "name", "synonyms", "group"} == set(index[0])
    assert len(index) == len(shipped()["conditions"])


# --- round trips ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_export_then_load_under_a_new_version_gives_identical_content(fmt):
    original = default_taxonomy()
    text = taxonomy_export(taxonomy=original, fmt=fmt)
    data = json.loads(text) if fmt == "json" else taxonomy_from_csv(io.StringIO(text))
    assert data == taxonomy_to_dict(original)
    data["version"] = "copy"
    copy_ = taxonomy_load(data=data)
    assert copy_.pk != original.pk
    expected = taxonomy_to_dict(original) | {"version": "copy"}
    assert taxonomy_to_dict(copy_) == expected


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_reloading_an_export_of_the_same_version_is_a_no_op(fmt):
    taxonomy = taxonomy_load(data=small())
    text = taxonomy_export(taxonomy=taxonomy, fmt=fmt)
    before = row_counts()
    data = json.loads(text) if fmt == "json" else taxonomy_from_csv(io.StringIO(text))
    assert taxonomy_load(data=data) == taxonomy
    assert row_counts() == before


def test_csv_with_plain_metadata_lines_and_a_separate_matrix(tmp_path: Path):
    conditions = tmp_path / "conditions.csv"
    conditions.write_text(
        "# name: Hand-made\n# version: 1.10\n"
        "code,name,synonyms,group,malignant,icd10\n"
        "MEL,Melanoma,malignant melanoma|MM,malignant_neoplasm,yes,C43.9\n"
        "SK,Seborrhoeic keratosis,,benign_neoplasm,no,L82\n",
        encoding="utf-8",
    )
    matrix = tmp_path / "matrix.csv"
    ratings = {
        "MEL": ["dangerous", "dangerous", "dangerous", "optimal", "optimal"],
        "SK": ["optimal", "appropriate", "appropriate", "inappropriate", "inappropriate"],
    }
    matrix.write_text(
        "condition,management,rating\n"
        + "".join(
            f"{code},{option},{rating}\n"
            for code, row in ratings.items()
            for option, rating in zip(OPTIONS, row, strict=True)
        )
    )
    taxonomy = taxonomy_load(data=taxonomy_from_csv(conditions, matrix))
    assert (taxonomy.name, taxonomy.version) == ("Hand-made", "1.10")
    content = taxonomy_to_dict(taxonomy)
    assert content["conditions"][0]["synonyms"] == ["malignant melanoma", "MM"]
    assert content["conditions"][0]["malignant"] is True
    assert content["management_options"][0] == {"code": "reassure", "label": "Reassure / dismiss"}
    assert content["conditions"][1]["management"] == dict(zip(OPTIONS, ratings["SK"], strict=True))


# --- validation -----------------------------------------------------------------------------------------


def broken(mutate) -> dict:
    data = copy.deepcopy(small())
    mutate(data)
    return data


CASES = [
    (
        "missing field",
        lambda d: d["conditions"][1].pop("group"),
        "condition SK (row 2): missing field 'group'",
    ),
    ("missing code", lambda d: d["conditions"][2].pop("code"), "condition row 3: missing field 'code'"),
    (
        "unknown group",
        lambda d: d["conditions"][0].update(group="cancer"),
        "condition MEL (row 1): field 'group' unknown group 'cancer'",
    ),
    (
        "duplicate code",
        lambda d: d["conditions"][2].update(code="SK"),
        "condition SK (row 3): duplicate condition code 'SK'",
    ),
    (
        "incomplete matrix",
        lambda d: d["conditions"][0]["management"].pop("refer"),
        "condition MEL (row 1): field 'management' incomplete matrix, no rating for refer",
    ),
    (
        "bad rating",
        lambda d: d["conditions"][2]["management"].update(monitor="fine"),
        "condition PSO (row 3): field 'management.monitor' bad rating 'fine'",
    ),
    (
        "unknown option",
        lambda d: d["conditions"][1]["management"].update(laser="optimal"),
        "condition SK (row 2): field 'management' names unknown management option 'laser'",
    ),
    (
        "malignant not bool",
        lambda d: d["conditions"][1].update(malignant="maybe"),
        "condition SK (row 2): field 'malignant' must be true or false",
    ),
    (
        "bad icd10",
        lambda d: d["conditions"][0].update(icd10="melanoma"),
        "condition MEL (row 1): field 'icd10' 'melanoma' is not an ICD-10 code",
    ),
    (
        "unknown field",
        lambda d: d["conditions"][0].update(synonym=["typo"]),
        "condition MEL (row 1): unknown field 'synonym'",
    ),
    (
        "synonyms not a list",
        lambda d: d["conditions"][0].update(synonyms="mole"),
        "condition MEL (row 1): field 'synonyms' must be a list",
    ),
    (
        "duplicate option",
        lambda d: d["management_options"].append({"code": "refer", "label": "Again"}),
        "management option refer (row 6): duplicate management option code 'refer'",
    ),
    ("missing version", lambda d: d.pop("version"), "taxonomy: missing field 'version'"),
]


@pytest.mark.parametrize(("label", "mutate", "message"), CASES, ids=[c[0] for c in CASES])
def test_each_validation_failure_names_code_and_field_and_saves_nothing(label, mutate, message):
    before = row_counts()
    with pytest.raises(TaxonomyError) as info:
        taxonomy_load(data=broken(mutate))
    assert any(problem.startswith(message) for problem in info.value.problems), info.value.problems
    assert message in str(info.value)
    assert row_counts() == before


def test_every_problem_is_reported_at_once():
    def many(d):
        d["conditions"][0].pop("name")
        d["conditions"][1]["group"] = "nope"
        d["conditions"][2]["management"] = {}

    with pytest.raises(TaxonomyError) as info:
        taxonomy_load(data=broken(many))
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert problems[0] == "condition MEL (row 1): missing field 'name'"
    assert problems[2].startswith(
        "condition PSO (row 3): field 'management' incomplete matrix, no rating for "
        "reassure, monitor, treat_locally, biopsy_excise, refer"
    )


def test_same_name_and_version_with_different_content_is_refused():
    taxonomy_load(data=small())
    before = row_counts()
    changed = broken(lambda d: d["conditions"][1]["management"].update(reassure="dangerous"))
    with pytest.raises(TaxonomyError) as info:
        taxonomy_load(data=changed)
    assert "already exists with different content" in str(info.value)
    assert "conditions changed: SK" in str(info.value)
    assert row_counts() == before


def test_load_is_audited_once_and_reload_is_a_no_op():
    taxonomy = taxonomy_load(data=small())
    events = AuditEvent.objects.filter(action="taxonomy.load")
    assert events.count() == 1
    event = events.get()
    assert event.object_id == str(taxonomy.pk)
    assert event.data["conditions"] == 3
    before = row_counts()
    assert taxonomy_load(data=small()) == taxonomy
    assert row_counts() == before


def test_a_failure_after_validation_leaves_nothing_behind(monkeypatch):
    """Atomicity: an error while writing rolls back the taxonomy row too."""
    import catalog.services.taxonomy as service

    def explode(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(service, "audit_record", explode)
    before = row_counts()
    with pytest.raises(RuntimeError):
        taxonomy_load(data=small())
    assert row_counts() == before


def test_csv_problems_name_code_and_field():
    text = (
        "code,name,synonyms,group,malignant,icd10,reassure,monitor\n"
        "MEL,Melanoma,,malignant_neoplasm,1,C43.9,dangerous,\n"
        "SK,Seborrhoeic keratosis,,benign,0,L82,optimal,appropriate\n"
    )
    data = taxonomy_from_csv(io.StringIO(text), name="csv", version="1")
    with pytest.raises(TaxonomyError) as info:
        taxonomy_load(data=data)
    assert info.value.problems == [
        "condition MEL (row 1): field 'management' incomplete matrix, no rating for monitor",
        "condition SK (row 2): field 'group' unknown group 'benign' (expected one of "
        + ", ".join(ConditionGroup.values)
        + ")",
    ]


# --- commands -------------------------------------------------------------------------------------------


def test_commands_export_and_load_end_to_end(tmp_path: Path):
    out = io.StringIO()
    call_command(
        "export_taxonomy",
        "--default",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "t.csv"),
        stderr=io.StringIO(),
    )
    call_command("export_taxonomy", "--format", "json", stdout=out)
    assert json.loads(out.getvalue()) == shipped()
    assert Taxonomy.objects.count() == 1

    out = io.StringIO()
    call_command("load_taxonomy", str(tmp_path / "t.csv"), "--taxonomy-version", "2.0", stdout=out)
    n = len(shipped()["conditions"])
    assert f"Loaded Primary care dermatology v2.0: {n} conditions, 5 management options" in out.getvalue()
    out = io.StringIO()
    call_command("load_taxonomy", str(tmp_path / "t.csv"), "--taxonomy-version", "2.0", stdout=out)
    assert "already loaded" in out.getvalue()

    out = io.StringIO()
    call_command("export_taxonomy", "Primary care dermatology", "2.0", "--format", "json", stdout=out)
    assert json.loads(out.getvalue()) == shipped() | {"version": "2.0"}


def test_load_command_reports_every_problem(tmp_path: Path):
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            broken(
                lambda d: (
                    d["conditions"][0].update(group="x"),
                    d["conditions"][2]["management"].pop("monitor"),
                )
            )
        )
    )
    before = row_counts()
    with pytest.raises(CommandError) as info:
        call_command("load_taxonomy", str(path))
    message = str(info.value)
    assert "2 problems" in message
    assert "condition MEL (row 1): field 'group'" in message
    assert "condition PSO (row 3): field 'management' incomplete matrix, no rating for monitor" in message
    assert row_counts() == before


def test_load_command_json_file_round_trip(tmp_path: Path):
    path = tmp_path / "small.json"
    path.write_text(json.dumps(small()))
    call_command("load_taxonomy", str(path), stdout=io.StringIO())
    taxonomy = Taxonomy.objects.get(name="Small", version="1")
    assert taxonomy_to_dict(taxonomy) == small()


def test_export_command_errors():
    with pytest.raises(CommandError, match="not found"):
        call_command("export_taxonomy", "Nope", "1")
    with pytest.raises(CommandError, match="both"):
        call_command("export_taxonomy", "Nope")
    assert set(Appropriateness.values) == {"optimal", "appropriate", "inappropriate", "dangerous"}
