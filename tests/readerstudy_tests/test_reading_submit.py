"""reading_submit: validation, order, idempotency, timing, snapshots, audit, completion."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, transaction
from django.utils import timezone

from common.models import AuditEvent
from readerstudy import models as m
from readerstudy.services.reader_flow import item_mark_shown
from readerstudy.services.readings import GRACE_S, ReadingRefused, reading_submit
from tests.readerstudy_tests.reader_setup import AI_TOP, answer, build_study

pytestmark = pytest.mark.django_db


def submit(built, item, payload=None, key=None):
    return reading_submit(membership=built.membership, item=item, payload=payload or answer(),
                          idempotency_key=key or uuid.uuid4())


def test_submit_stores_answer_timing_and_audit():
    built = build_study(design=m.Design.PARALLEL)
    item = built.items[0]
    shown = timezone.now() - dt.timedelta(seconds=10)
    m.ScheduleItem.objects.filter(pk=item.pk).update(shown_at=shown)
    item.refresh_from_db()
    reading, created = submit(built, item, {**answer(), "first_input_at": (shown + dt.timedelta(seconds=1)).isoformat(),
                                            "active_ms": "999999999"})
    assert created
    assert reading.differential == ["NEV", "BCC"] and reading.confidence == 3 and reading.management == "monitor"
    assert reading.shown_at == shown
    assert reading.first_input_at == shown + dt.timedelta(seconds=1)
    assert reading.submitted_at >= shown
    # Active time can never exceed the server's shown-to-submitted window.
    assert reading.active_ms <= (reading.submitted_at - shown).total_seconds() * 1000 + 1
    assert reading.ai_snapshot is None and not reading.timed_out
    event = AuditEvent.objects.get(action="reading.submit")
    assert event.object_id == str(reading.pk) and event.actor == built.user and event.data["case"] == "K000"


def test_client_first_input_outside_window_is_dropped():
    built = build_study(design=m.Design.PARALLEL)
    item = built.items[0]
    item_mark_shown(item=item)
    reading, _ = submit(built, item, {**answer(), "first_input_at": "2001-01-01T00:00:00Z", "active_ms": "-5"})
    assert reading.first_input_at is None and reading.active_ms == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"differential": []}, "differential"),
        ({"differential": ["NEV", "NEV"]}, "differential"),
        ({"differential": ["NOPE"]}, "differential"),
        ({"differential": ["NEV", "BCC", "SK", "PSO"]}, "differential"),
        ({"differential": ["", "NEV"]}, "differential"),
        ({"confidence": 0}, "confidence"),
        ({"confidence": 6}, "confidence"),
        ({"confidence": "x"}, "confidence"),
        ({"confidence": None}, "confidence"),
        ({"management": "amputate"}, "management"),
        ({"management": ""}, "management"),
    ],
)
def test_invalid_answers_are_refused(change, field):
    built = build_study(design=m.Design.PARALLEL)
    with pytest.raises(ValidationError) as exc:
        submit(built, built.items[0], {**answer(), **change})
    assert field in exc.value.message_dict
    assert not m.Reading.objects.exists()


def test_code_from_another_taxonomy_is_refused():
    from tests.factories import small_taxonomy

    other = small_taxonomy(name="Other", version="9")
    other.conditions.create(code="XYZ", name="Elsewhere", group="other")
    built = build_study(design=m.Design.PARALLEL)
    with pytest.raises(ValidationError):
        submit(built, built.items[0], answer(codes=("XYZ",)))


def test_malignancy_required_and_ranged_when_asked():
    built = build_study(design=m.Design.PARALLEL, settings_={"ask_malignancy": True})
    item = built.items[0]
    with pytest.raises(ValidationError) as exc:
        submit(built, item)
    assert "malignancy" in exc.value.message_dict
    with pytest.raises(ValidationError):
        submit(built, item, answer(malignancy=101))
    reading, _ = submit(built, item, answer(malignancy=0))
    assert reading.malignancy_score == 0


def test_unasked_fields_are_not_stored():
    built = build_study(design=m.Design.PARALLEL, settings_={"ask_confidence": False, "ask_management": False})
    reading, _ = submit(built, built.items[0], {"differential": ["NEV"], "confidence": 9, "management": "zzz",
                                                "malignancy": 40})
    assert reading.confidence is None and reading.management == "" and reading.malignancy_score is None


def test_same_key_returns_the_same_reading():
    built = build_study(design=m.Design.PARALLEL)
    key = uuid.uuid4()
    first, created = submit(built, built.items[0], key=key)
    again, created_again = submit(built, built.items[0], key=key)
    assert created and not created_again and again.pk == first.pk
    assert m.Reading.objects.count() == 1
    assert AuditEvent.objects.filter(action="reading.submit").count() == 1


def test_other_key_for_answered_item_returns_existing_reading():
    built = build_study(design=m.Design.PARALLEL, settings_={"allow_back": True})
    first, _ = submit(built, built.items[0])
    second, created = submit(built, built.items[0], answer(codes=("MEL",)))
    assert not created and second.pk == first.pk and second.differential == ["NEV", "BCC"]
    assert m.Reading.objects.count() == 1


def test_key_of_another_reader_is_refused():
    one = build_study(design=m.Design.PARALLEL)
    two = build_study(design=m.Design.PARALLEL)
    key = uuid.uuid4()
    submit(one, one.items[0], key=key)
    with pytest.raises(ReadingRefused):
        submit(two, two.items[0], key=key)


def test_malformed_key_is_refused():
    built = build_study(design=m.Design.PARALLEL)
    with pytest.raises(ValidationError):
        reading_submit(membership=built.membership, item=built.items[0], payload=answer(), idempotency_key="nope")


@pytest.mark.parametrize("status", [m.StudyStatus.PAUSED, m.StudyStatus.CLOSED, m.StudyStatus.DRAFT])
def test_study_not_launched_accepts_no_readings(status):
    built = build_study(design=m.Design.PARALLEL, status=status)
    with pytest.raises(ReadingRefused) as exc:
        submit(built, built.items[0])
    assert exc.value.code == f"study_{status}"
    assert not m.Reading.objects.exists()


def test_only_the_current_item_may_be_answered():
    built = build_study(design=m.Design.PARALLEL)
    with pytest.raises(ReadingRefused) as exc:
        submit(built, built.items[1])
    assert exc.value.code == "not_current"


def test_allow_back_lets_readers_answer_out_of_order():
    built = build_study(design=m.Design.PARALLEL, settings_={"allow_back": True})
    reading, created = submit(built, built.items[2])
    assert created and reading.schedule_item_id == built.items[2].pk


def test_phase_two_needs_phase_one_even_with_allow_back():
    built = build_study(settings_={"allow_back": True})
    with pytest.raises(ReadingRefused) as exc:
        submit(built, built.items[1])
    assert exc.value.code == "phase_order"


def test_phase_one_is_locked_after_the_reveal():
    built = build_study(settings_={"allow_back": True})
    phase1, phase2 = built.items[0], built.items[1]
    m.ScheduleItem.objects.filter(pk=phase2.pk).update(shown_at=timezone.now())  # AI already shown
    with pytest.raises(ReadingRefused) as exc:
        submit(built, phase1)
    assert exc.value.code == "phase_locked"


def test_crossover_session_two_waits_for_the_washout():
    built = build_study(design=m.Design.CROSSOVER, n_cases=2, sessions=[1, 2], settings_={"washout_days": 14})
    submit(built, built.items[0])
    built.membership.refresh_from_db()
    assert built.membership.session1_completed_at is not None and built.membership.completed_at is None
    with pytest.raises(ReadingRefused) as exc:
        submit(built, built.items[1])
    assert exc.value.code == "washout"
    m.Membership.objects.filter(pk=built.membership.pk).update(
        session1_completed_at=timezone.now() - dt.timedelta(days=15)
    )
    built.membership.refresh_from_db()
    _, created = submit(built, built.items[1])
    assert created


def test_sequential_phase_two_snapshots_exactly_what_was_shown():
    built = build_study()
    phase1, phase2 = built.items[0], built.items[1]
    first, _ = submit(built, phase1)
    assert first.ai_snapshot is None
    second, _ = submit(built, phase2, answer(codes=("PSO", "NEV")))
    snapshot = second.ai_snapshot
    assert [row["code"] for row in snapshot["items"]] == [code for code, _ in AI_TOP]
    assert snapshot["items"][0]["percent"] == 87 and snapshot["simulated"] is True
    assert snapshot["model_version"] == built.model.name


def test_uncalibrated_model_snapshot_has_bands_not_probabilities():
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, arm_order=["ai", "unaided", "ai"], calibrated=False)
    reading, _ = submit(built, built.items[0])
    rows = reading.ai_snapshot["items"]
    assert rows[0]["band"] == "high" and "percent" not in rows[0] and "probability" not in rows[0]


def test_completion_marks_membership():
    built = build_study(n_cases=1)
    submit(built, built.items[0])
    built.membership.refresh_from_db()
    assert built.membership.completed_at is None
    submit(built, built.items[1])
    built.membership.refresh_from_db()
    assert built.membership.completed_at is not None and built.membership.session1_completed_at is not None
    assert AuditEvent.objects.filter(action="reader.completed").count() == 1


def test_time_limit_server_decides_timed_out():
    built = build_study(design=m.Design.PARALLEL, settings_={"time_limit_s": 30})
    item = built.items[0]
    m.ScheduleItem.objects.filter(pk=item.pk).update(shown_at=timezone.now() - dt.timedelta(seconds=30 + GRACE_S + 5))
    item.refresh_from_db()
    # Late and incomplete: accepted, recorded as timed out.
    reading, created = submit(built, item, {"differential": ["NEV"]})
    assert created and reading.timed_out and reading.confidence is None


def test_a_client_timeout_is_always_accepted_whatever_is_entered():
    """Issue 17: time is up on the reader's screen -> one accepted, timed-out reading, never a 422."""
    built = build_study(design=m.Design.PARALLEL, n_cases=3, settings_={"time_limit_s": 30})
    first, second, third = built.items
    item_mark_shown(item=first)
    reading, created = submit(built, first, {"differential": [], "client_timeout": True})  # nothing entered
    assert created and reading.timed_out and reading.differential == [] and reading.confidence is None
    # Whatever is entered: valid parts kept, invalid parts dropped (and named in the audit), no error.
    reading, created = submit(built, second, {"differential": ["", "NEV", "NOPE", "NEV"], "confidence": "9",
                                              "management": "nonsense", "client_timeout": True})
    assert created and reading.timed_out and reading.differential == ["NEV"]
    assert reading.confidence is None and reading.management == ""
    event = AuditEvent.objects.filter(action="reading.submit").order_by("-pk").first()
    assert set(event.data["dropped"]) == {"differential", "confidence", "management"}
    # Without the client's flag, an incomplete answer in time is still refused.
    with pytest.raises(ValidationError):
        submit(built, third, {"differential": []})


def test_readings_cannot_be_updated():
    built = build_study(design=m.Design.PARALLEL)
    reading, _ = submit(built, built.items[0])
    with pytest.raises(DatabaseError), transaction.atomic():
        m.Reading.objects.filter(pk=reading.pk).update(confidence=5)
    reading.refresh_from_db()
    assert reading.confidence == 3
