"""Submitting a reading: validated, ordered, idempotent, timed by the server, audited.

Exactly one reading per schedule item, whatever the client does: a retry with the same
idempotency key returns the first reading; a second tab (another key) for an answered item gets
the existing reading back. The schedule item row is locked while the reading is written, and the
unique constraints are the last line of defence (IntegrityError inside a savepoint).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from catalog.taxonomy_format import OTHER_CODE, OTHER_TEXT_MAX
from common.audit import audit_record
from readerstudy.core.study_settings import StudySettings
from readerstudy.models import Membership, Reading, ReadingDraft, ScheduleItem, Study, StudyStatus
from readerstudy.selectors.ai_display import library_image_ids, valid_opened
from readerstudy.selectors.blinding import ai_display_for_item, item_is_open, mark_open, not_open_reason
from readerstudy.selectors.position import study_settings_for
from readerstudy.selectors.taxonomy import taxonomy_lookups
from readerstudy.services.reader_flow import item_mark_shown
from readerstudy.services.studies.texts import current_language

# A submit that arrives this long after the time limit still counts as in time (network latency).
GRACE_S = 3
# The client's countdown may run ahead of the server's clock by this much.
CLOCK_SKEW_S = 2
MAX_ACTIVE_MS = 2**31 - 1


class ReadingRefused(Exception):
    """The reading cannot be accepted now (study not open, not the reader's turn)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def reading_submit(
    *, membership: Membership, item: ScheduleItem, payload: Mapping[str, Any],
    idempotency_key: str | uuid.UUID | None
) -> tuple[Reading, bool]:
    """Store the reader's answer to `item`; returns (reading, created).

    payload keys: differential (codes, most likely first; OTHER for "not listed"), other_text (the
    words for OTHER), confidence, management, malignancy, first_input_at (ISO 8601 or epoch ms,
    client clock), active_ms, client_timeout; for AI items ai_opened_at (on-request arms: when "Show
    AI" was pressed, same formats) and opened_neighbours (library image ids the reader enlarged).

    Order of the checks: a retry (same key) or a second tab (an answered item) gets the stored
    reading back; then the item must be open to the reader now (:func:`open_items`: their turn,
    the phase order, the washout), else ReadingRefused; only then is the key validated and the
    answer checked (ValidationError by field). A timed-out answer is always accepted: whatever was
    entered that is valid is kept, the rest dropped (and named in the audit), possibly nothing.
    """
    with transaction.atomic():
        return _submit_locked(membership=membership, item=item, payload=payload, raw_key=idempotency_key)


def _submit_locked(
    *, membership: Membership, item: ScheduleItem, payload: Mapping[str, Any], raw_key: str | uuid.UUID | None
) -> tuple[Reading, bool]:
    # Only the item's own row is locked; the study comes in the same query, read inside the transaction.
    locked = (
        ScheduleItem.objects.select_for_update(of=("self",))
        .select_related("arm", "case", "study__case_set", "study__model_version")
        .annotate(member_site=F("membership__site_id"))  # the reading keeps the site, in the same query
        .get(pk=item.pk, membership=membership)
    )
    locked.membership = membership
    key = _parse_key_or_none(raw_key)
    earlier = _earlier_reading(locked, key)
    if earlier is not None:
        return earlier, False

    study = locked.study
    membership.study = study
    settings = study_settings_for(study)
    _check_open(study)
    _check_turn(membership, locked)
    if key is None:
        raise ValidationError({"idempotency_key": _("Missing or malformed submission key; reload the page.")})

    shown_at = locked.shown_at or item_mark_shown(item=locked)
    now = timezone.now()
    client_timeout = bool(payload.get("client_timeout"))
    timed_out = _timed_out(settings, shown_at, now, client_timeout)
    dropped: list[str] = []
    answer = _clean_answer(payload, study, settings, complete=not timed_out, dropped=dropped)
    reading = Reading(
        schedule_item=locked,
        idempotency_key=key,
        shown_at=shown_at,
        first_input_at=_clean_first_input(payload.get("first_input_at"), shown_at, now),
        submitted_at=now,
        active_ms=_clean_active_ms(payload.get("active_ms"), shown_at, now),
        timed_out=timed_out,
        ai_snapshot=_snapshot(ai_display_for_item(locked), payload, shown_at, now),
        site_id=locked.member_site,
        language=current_language(),  # the reader's interface language when the answer was given
        **answer,
    )
    # The row lock proves the item exists, and _clean_answer enforces the check constraints' ranges
    # (the database enforces them too), so neither needs a query here.
    # A timed-out reading may have an empty differential (validated above), which the field calls blank.
    reading.full_clean(exclude=["schedule_item", "differential"] if timed_out else ["schedule_item"],
                       validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            reading.save(force_insert=True)
    except IntegrityError:
        winner = Reading.objects.filter(Q(schedule_item=locked) | Q(idempotency_key=key)).first()
        if winner is None:
            raise
        return winner, False
    mark_open(locked, False)  # answered: closed from now on

    data = {
        "schedule_item": locked.pk, "case": locked.case.key, "arm": locked.arm.name, "phase": locked.phase,
        "session": locked.session, "position": locked.position, "idempotency_key": str(key),
        "timed_out": timed_out, "ai_shown": reading.ai_snapshot is not None,
    }
    if timed_out:
        data.update(client_timeout=client_timeout, dropped=dropped)
    audit_record(actor=membership.user, action="reading.submit", study=study, obj=reading, data=data)
    ReadingDraft.objects.filter(schedule_item=locked).delete()
    _mark_progress(membership, now)
    return reading, True


def _earlier_reading(locked: ScheduleItem, key: uuid.UUID | None) -> Reading | None:
    """A reading with this key (a retry; refused if another reader's) or for this item (another tab)."""
    match = Q(schedule_item=locked) if key is None else Q(idempotency_key=key) | Q(schedule_item=locked)
    found = list(Reading.objects.select_related("schedule_item").filter(match))
    replay = next((r for r in found if r.idempotency_key == key), None)
    if replay is not None:
        if replay.schedule_item.membership_id != locked.membership_id:
            raise ReadingRefused("key_reused", _("This submission key belongs to another reader."))
        return replay
    return found[0] if found else None


def _parse_key_or_none(value: str | uuid.UUID | None) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value)) if value else None
    except (TypeError, ValueError):
        return None


def _check_open(study: Study) -> None:
    if study.status != StudyStatus.LAUNCHED:
        messages = {
            StudyStatus.DRAFT: _("This study has not started yet."),
            StudyStatus.PAUSED: _("This study is paused; your answers so far are saved."),
            StudyStatus.CLOSED: _("This study is closed and accepts no more answers."),
        }
        raise ReadingRefused(f"study_{study.status}", messages.get(study.status, _("This study is not open.")))


def _check_turn(membership: Membership, item: ScheduleItem) -> None:
    """Only an item in the reader's open set may be answered (the one rule: ``open_items``)."""
    if not item_is_open(membership, item):
        raise ReadingRefused(*not_open_reason(membership, item))


def _timed_out(settings: StudySettings, shown_at: dt.datetime, now: dt.datetime, client_timeout: bool) -> bool:
    """Past the limit plus grace, or the client's countdown ended (in a timed study).

    A timeout the client reports is always accepted, so the reader is never held on a case whose
    time is up; one reported before the server's clock agrees is kept in the audit
    (``client_timeout`` with the shown and submitted times), and ``active_ms`` stays bounded by
    the server's window."""
    if not settings.time_limit_s:
        return False
    elapsed = (now - shown_at).total_seconds()
    return client_timeout or elapsed > settings.time_limit_s + GRACE_S


def _clean_answer(
    payload: Mapping[str, Any], study: Study, settings: StudySettings, *, complete: bool,
    dropped: list[str] | None = None,
) -> dict[str, Any]:
    """Validate the answer. A complete answer with a problem raises ValidationError (by field); a
    timed-out answer (``complete=False``) is never refused: each field with a problem is left
    empty and its name added to `dropped`."""
    errors: dict[str, str] = {}
    if not complete:
        return _clean_timed_out(payload, study, settings, dropped if dropped is not None else [])
    taxonomy_id = study.case_set.taxonomy_id
    differential = _clean_differential(payload.get("differential") or [], taxonomy_id, settings, errors, complete)
    confidence = None
    if settings.ask_confidence:
        confidence = _clean_int(payload.get("confidence"), 1, 5, "confidence", _("Choose your confidence from 1 to 5."),
                                errors, complete)
    management = ""
    if settings.ask_management:
        management = str(payload.get("management") or "").strip()
        codes = {option.code for option in taxonomy_lookups(taxonomy_id).management}
        if management and management not in codes:
            errors["management"] = _("Choose one of the management options.")
        elif not management and complete:
            errors["management"] = _("Choose how you would manage this patient.")
    malignancy = None
    if settings.ask_malignancy:
        malignancy = _clean_int(payload.get("malignancy"), 0, 100, "malignancy",
                                _("Set the probability of malignancy (0-100) with the slider."), errors, complete)
    other_text = _clean_other_text(payload.get("other_text"), differential, errors, complete)
    if errors:
        raise ValidationError(errors)
    return {"differential": differential, "confidence": confidence, "management": management,
            "malignancy_score": malignancy, "other_text": other_text}


def _clean_timed_out(
    payload: Mapping[str, Any], study: Study, settings: StudySettings, dropped: list[str]
) -> dict[str, Any]:
    """Keep each valid field of a timed-out answer; a field with a problem is emptied, named in `dropped`."""
    raw = payload.get("differential") or []
    if isinstance(raw, str):
        raw = [raw]
    known = taxonomy_lookups(study.case_set.taxonomy_id).names
    codes: list[str] = []
    for code in (str(c).strip() for c in raw):
        if code and (code in known or code == OTHER_CODE) and code not in codes:
            codes.append(code)
    codes = codes[:settings.top_k]
    if codes != [str(c).strip() for c in raw if str(c).strip()]:
        dropped.append("differential")
    answer: dict[str, Any] = {"differential": codes, "confidence": None, "management": "",
                              "malignancy_score": None, "other_text": ""}
    for name, field, low, high, asked in (("confidence", "confidence", 1, 5, settings.ask_confidence),
                                          ("malignancy", "malignancy_score", 0, 100, settings.ask_malignancy)):
        errors: dict[str, str] = {}
        value = _clean_int(payload.get(name), low, high, name, "", errors, False) if asked else None
        if errors:
            dropped.append(name)
        answer[field] = value
    if settings.ask_management:
        management = str(payload.get("management") or "").strip()
        options = {option.code for option in taxonomy_lookups(study.case_set.taxonomy_id).management}
        if management in options:
            answer["management"] = management
        elif management:
            dropped.append("management")
    answer["other_text"] = _clean_other_text(payload.get("other_text"), codes, {}, False)
    return answer


def _clean_other_text(raw: Any, differential: list[str], errors: dict[str, str], complete: bool) -> str:
    """The reader's words for an "Other / not listed" diagnosis; kept only with the OTHER code."""
    if OTHER_CODE not in differential:
        return ""
    text = " ".join(str(raw or "").split())
    if len(text) > OTHER_TEXT_MAX and complete:  # a timed-out answer is cut, never refused
        errors["other_text"] = _("Describe the other diagnosis in at most %(count)s characters.") % {"count": OTHER_TEXT_MAX}
    elif not text and complete:
        errors["other_text"] = _("Name the diagnosis that is not in the list.")
    return text[:OTHER_TEXT_MAX]


def _clean_differential(
    raw: Any, taxonomy_id: int, settings: StudySettings, errors: dict[str, str], complete: bool
) -> list[str]:
    if isinstance(raw, str):
        raw = [raw]
    slots = [str(code).strip() for code in raw]
    while slots and not slots[-1]:
        slots.pop()
    codes = [c for c in slots if c]
    if len(codes) != len(slots):
        errors["differential"] = _("Fill the diagnoses in order, most likely first, without gaps.")
    elif not codes and complete:
        errors["differential"] = _("Give at least your most likely diagnosis.")
    elif len(codes) > settings.top_k:
        errors["differential"] = _("Give at most %(count)s diagnoses.") % {"count": settings.top_k}
    elif len(set(codes)) != len(codes):
        errors["differential"] = _("Each diagnosis may appear only once.")
    elif codes:
        known = taxonomy_lookups(taxonomy_id).names
        if any(code not in known and code != OTHER_CODE for code in codes):
            errors["differential"] = _("Pick each diagnosis from the list of conditions.")
    return codes


def _clean_int(
    raw: Any, low: int, high: int, field: str, message: str, errors: dict[str, str], complete: bool
) -> int | None:
    if raw is None or str(raw).strip() == "":
        if complete:
            errors[field] = message
        return None
    try:
        value = int(str(raw).strip())
    except ValueError:
        errors[field] = message
        return None
    if not low <= value <= high:
        errors[field] = message
        return None
    return value


def _clean_first_input(raw: Any, shown_at: dt.datetime, now: dt.datetime) -> dt.datetime | None:
    """The client's first-input time, dropped when it falls outside [shown, submitted]."""
    if raw in (None, ""):
        return None
    value: dt.datetime | None
    try:
        value = dt.datetime.fromtimestamp(float(raw) / 1000, tz=dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        try:
            value = parse_datetime(str(raw))
        except ValueError:
            value = None
    if value is None:
        return None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, dt.UTC)
    # Allow the client clock a little skew before the shown time; clamp into the window.
    if value < shown_at - dt.timedelta(seconds=CLOCK_SKEW_S) or value > now + dt.timedelta(seconds=CLOCK_SKEW_S):
        return None
    return min(max(value, shown_at), now)


def _snapshot(ai: dict[str, Any] | None, payload: Mapping[str, Any], shown_at: dt.datetime,
              now: dt.datetime) -> dict[str, Any] | None:
    """What was shown, plus how the reader used it: ``opened_at`` (on-request arms, when "Show AI"
    was pressed; absent when it never was) and ``opened_neighbours`` (only ids the display showed)."""
    if ai is None:
        return None
    snapshot = dict(ai)
    if ai.get("on_request"):
        opened = _clean_first_input(payload.get("ai_opened_at"), shown_at, now)
        if opened is not None:
            snapshot["opened_at"] = opened.isoformat()
    posted = payload.get("opened_neighbours") or []
    if library_image_ids(ai):
        snapshot["opened_neighbours"] = valid_opened(ai, posted if isinstance(posted, list | tuple) else [posted])
    return snapshot


def _clean_active_ms(raw: Any, shown_at: dt.datetime, now: dt.datetime) -> int:
    """Client-measured visible time, clamped to the server's shown-to-submitted window."""
    try:
        value = int(float(raw))
    except (TypeError, ValueError, OverflowError):
        return 0
    window_ms = int((now - shown_at).total_seconds() * 1000)
    return max(0, min(value, window_ms, MAX_ACTIVE_MS))


def _mark_progress(membership: Membership, now: dt.datetime) -> None:
    remaining = ScheduleItem.objects.filter(membership=membership, reading__isnull=True)
    left = remaining.aggregate(all=Count("pk"), session1=Count("pk", filter=Q(session=1)))
    if membership.session1_completed_at is None and not left["session1"]:
        Membership.objects.filter(pk=membership.pk, session1_completed_at__isnull=True).update(
            session1_completed_at=now
        )
        membership.session1_completed_at = now
    if membership.completed_at is None and not left["all"]:
        Membership.objects.filter(pk=membership.pk, completed_at__isnull=True).update(completed_at=now)
        membership.completed_at = now
        audit_record(actor=membership.user, action="reader.completed", study=membership.study, obj=membership)
