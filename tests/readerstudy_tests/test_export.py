"""The readings table (DESIGN.md 5.1): exact columns and values on a hand-built example."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Condition
from readerstudy.exports.formats import to_csv_bytes, to_parquet_bytes
from readerstudy.exports.tables import READINGS_COLUMNS, ai_top_codes, readings_table, schedules_table
from readerstudy.models import MembershipDemographics, ScheduleItem
from readerstudy.services import studies
from tests.factories import CaseFactory, CaseSetFactory, UserFactory

from .studies_helpers import enrol_readers, model_version_for, submit

pytestmark = pytest.mark.django_db

CONTRACT = (
    "study, reader, reader_group, reader_experience, case, truth, truth_malignant, arm, phase, session, "
    "position, differential, correct_top1, correct_top3, management, management_appropriate, "
    "management_harmful, confidence, malignancy_score, ai_shown, ai_top1, ai_correct_top1, duration_s, "
    "timed_out, submitted_at"
).split(", ")
AI_SNAPSHOT = {
    "model_version": "test-sim",
    "show_probabilities": True,  # as the reader pages store it
    "items": [
        {"rank": 1, "code": "MEL", "name": "Melanoma", "probability": 0.46, "percent": 46},
        {"rank": 2, "code": "NEV", "name": "Melanocytic naevus", "probability": 0.21},
    ],
}


def two_case_study(*, generic: bool = False, training: bool = False):
    """Case A is a melanoma, case B psoriasis; one reader (a dermatologist, 7 years), launched."""
    case_set = CaseSetFactory()
    condition = {c.code: c for c in Condition.objects.filter(taxonomy=case_set.taxonomy)}
    CaseFactory(case_set=case_set, key="A", reference=condition["MEL"])
    CaseFactory(case_set=case_set, key="B", reference=condition["PSO"])
    if training:
        CaseFactory(case_set=case_set, key="T", reference=condition["NEV"])
    coordinator = UserFactory()
    study = studies.study_create(
        actor=coordinator,
        title="Export example",
        case_set=case_set,
        consent_text="Taking part is voluntary.",
        design="sequential",
        settings={
            "generic_credit": generic,
            "ask_malignancy": True,
            "training_cases": ["T"] if training else [],
        },
        model_version=model_version_for(case_set),
    )
    (reader,) = enrol_readers(study, 1)
    MembershipDemographics.objects.create(  # what the reader gave for this study (issue 18, item 8)
        membership=reader,
        profession="dermatologist",
        years_experience=7,
        dermoscopy_use="regularly",
        country="AT",
        age_band="30-39",
    )
    studies.study_launch(study=study, actor=coordinator)
    items = {
        (i.case.key, i.phase): i
        for i in ScheduleItem.objects.filter(membership=reader).select_related("case")
    }
    return study, reader, items


def test_columns_match_the_contract_exactly():
    assert READINGS_COLUMNS == CONTRACT
    study, _, _ = two_case_study()
    frame = readings_table(study)
    assert list(frame.columns[: len(CONTRACT)]) == CONTRACT
    assert frame.empty


def test_values_on_a_hand_built_example():
    study, reader, items = two_case_study()
    submit(
        items[("A", 1)], ["NEV", "BCC", "MEL"], management="reassure", confidence=2, seconds=40, malignancy=20
    )
    submit(
        items[("A", 2)],
        ["MEL", "NEV"],
        management="biopsy_excise",
        confidence=4,
        seconds=12.5,
        ai_snapshot=AI_SNAPSHOT,
        malignancy=80,
    )
    submit(items[("B", 1)], ["TIN", "SK"], management="", confidence=None, seconds=30, timed_out=True)
    frame = readings_table(study).set_index(["case", "phase"])
    assert len(frame) == 3  # B phase 2 not yet read

    a1, a2, b1 = frame.loc[("A", 1)], frame.loc[("A", 2)], frame.loc[("B", 1)]
    assert (a1["study"], a1["reader"], a1["reader_group"], a1["reader_experience"]) == (
        study.slug,
        "R001",
        "dermatologist",
        7,
    )
    assert (a1["truth"], a1["truth_malignant"], a1["arm"], a1["session"]) == ("MEL", 1, "unaided", 1)
    assert a1["position"] == items[("A", 1)].position
    assert a1["differential"] == "NEV|BCC|MEL"
    assert (a1["correct_top1"], a1["correct_top3"]) == (0, 1)
    assert (a1["management"], a1["management_appropriate"], a1["management_harmful"]) == ("reassure", 0, 1)
    assert (a1["confidence"], a1["malignancy_score"], a1["ai_shown"], a1["ai_top1"]) == (2, 20, 0, "")
    assert pd.isna(a1["ai_correct_top1"])
    assert a1["duration_s"] == pytest.approx(40.0)
    assert a1["timed_out"] == 0

    assert (a2["arm"], a2["correct_top1"], a2["correct_top3"]) == ("ai", 1, 1)
    assert (a2["management_appropriate"], a2["management_harmful"]) == (1, 0)
    assert (a2["ai_shown"], a2["ai_top1"], a2["ai_correct_top1"]) == (1, "MEL", 1)
    assert a2["duration_s"] == pytest.approx(12.5)

    assert (b1["truth"], b1["truth_malignant"], b1["correct_top1"], b1["correct_top3"]) == ("PSO", 0, 0, 0)
    assert pd.isna(b1["management_appropriate"]) and pd.isna(b1["management_harmful"])
    assert pd.isna(b1["confidence"]) and pd.isna(b1["malignancy_score"])
    assert b1["timed_out"] == 1
    assert b1["submitted_at"].endswith("Z") and "T" in b1["submitted_at"]


def test_generic_credit_counts_same_group_codes():
    study, _, items = two_case_study(generic=True)
    submit(items[("A", 1)], ["BCC", "NEV"])  # BCC is in melanoma's group (malignant neoplasm)
    row = readings_table(study).iloc[0]
    assert (row["correct_top1"], row["correct_top3"]) == (1, 1)
    assert (row["correct_top1_exact"], row["correct_top3_exact"]) == (0, 0)


def test_csv_and_parquet_files():
    study, reader, items = two_case_study()
    submit(items[("B", 1)], ["PSO"], management="treat_locally")
    frame = readings_table(study)
    csv = to_csv_bytes(frame).decode("utf-8")
    header, row = csv.splitlines()[:2]
    assert header.split(",")[: len(CONTRACT)] == CONTRACT
    assert reader.user.username not in csv and reader.user.email not in csv
    parsed = pd.read_csv(io.StringIO(csv))
    assert parsed.loc[0, "correct_top1"] == 1 and parsed.loc[0, "management_appropriate"] == 1
    assert ",,0," in row or ",," in row  # the missing AI outcome is an empty cell
    parquet = pd.read_parquet(io.BytesIO(to_parquet_bytes(frame)))
    assert list(parquet.columns) == list(frame.columns)
    assert parquet.loc[0, "differential"] == "PSO"


def test_training_readings_are_kept_apart():
    study, _, items = two_case_study(training=True)
    submit(items[("T", 1)], ["NEV"])
    submit(items[("A", 1)], ["MEL"])
    assert list(readings_table(study)["case"]) == ["A"]
    everything = readings_table(study, include_training=True)
    assert sorted(everything["case"]) == ["A", "T"] and everything["training"].sum() == 1


def test_queries_do_not_grow_with_readings():
    study, _, items = two_case_study()
    submit(items[("A", 1)], ["MEL"])
    with CaptureQueriesContext(connection) as one:
        readings_table(study)
    for key in (("A", 2), ("B", 1), ("B", 2)):
        submit(items[key], ["PSO"])
    with CaptureQueriesContext(connection) as four:
        readings_table(study)
    assert len(one) == len(four) <= 4


def test_schedules_table_lists_every_item():
    study, reader, items = two_case_study()
    submit(items[("A", 1)], ["MEL"])
    frame = schedules_table(study)
    assert len(frame) == 4 and set(frame["reader"]) == {"R001"}
    assert list(frame["position"]) == [0, 1, 2, 3]
    assert frame["read"].sum() == 1
    assert set(frame.columns) >= {"case", "arm", "phase", "session", "training", "repeat"}


@pytest.mark.parametrize(
    ("snapshot", "codes"),
    [
        (None, []),
        ({}, []),
        ({"top": [{"code": "MEL", "probability": 0.4}]}, ["MEL"]),
        ({"top_codes": ["NEV", "MEL"]}, ["NEV", "MEL"]),
        ({"probabilities": {"NEV": 0.2, "MEL": 0.7}}, ["MEL", "NEV"]),
        ({"shown": False, "top": [{"code": "MEL"}]}, []),
    ],
)
def test_ai_snapshot_shapes(snapshot, codes):
    assert ai_top_codes(snapshot) == codes


def test_a_display_without_the_differential_shows_no_ai_codes():
    """A gauge or gallery arm keeps the ranked rows in its snapshot, but the reader never saw them:
    ai_top1 / ai_correct columns must not score them."""
    snapshot = {"items": [{"rank": 1, "code": "MEL"}], "display": "malignancy", "show_differential": False}
    assert ai_top_codes(snapshot) == []
    assert ai_top_codes({**snapshot, "show_differential": True}) == ["MEL"]
