"""TODO docstring."""

from __future__ import annotations

import datetime as dt
import functools
import json
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.utils import timezone

from readerstudy.core.study_settings import StudySettings, parse_study_settings
from readerstudy.models import Design, Membership, Reading, ReadingDraft, ScheduleItem, Study


def study_settings_for(study: Study) -> StudySettings:
    return parse_study_settings(study.settings)


@dataclass(frozen=True)
class Progress:
    """Readings done of the schedule (for the bar) and the case number the reader is on.

    Cases count phase-1 items, so the two phases of a sequential case are both "Case n of N".
    """

    done: int
    total: int
    number: int
    cases: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    @property
    def complete(self) -> bool:
        return self.done >= self.total


@dataclass(frozen=True)
class Position:
    """Where the reader is: their current item (None when every item is answered) and progress."""

    item: ScheduleItem | None
    progress: Progress


@functools.cache
def _position_sql() -> str:
    """One statement for the reader's current item and progress (see :func:`reader_position`)."""
    quote = connection.ops.quote_name
    items, readings = quote(ScheduleItem._meta.db_table), quote(Reading._meta.db_table)
    drafts = quote(ReadingDraft._meta.db_table)
    drafted = quote(ReadingDraft._meta.get_field("schedule_item").column)
    answered_by = quote(Reading._meta.get_field("schedule_item").column)
    columns = ", ".join(f"i.{quote(f.column)}" for f in ScheduleItem._meta.concrete_fields)
    return f"""
        SELECT {columns}, p.total, p.done, p.cases, p.number, d.{quote("data")} AS draft_data
        FROM (
            SELECT COUNT(s.id) AS total, COUNT(r.id) AS done,
                   COALESCE(SUM(CASE WHEN s.phase = 1 THEN 1 ELSE 0 END), 0) AS cases,
                   COALESCE(SUM(CASE WHEN s.phase = 1 AND s.position <= o.position THEN 1 ELSE 0 END), 0) AS number,
                   MAX(o.id) AS current_id
            FROM {items} s
            LEFT JOIN {readings} r ON r.{answered_by} = s.id
            LEFT JOIN (
                SELECT x.id, x.position FROM {items} x LEFT JOIN {readings} y ON y.{answered_by} = x.id
                WHERE x.membership_id = %s AND y.id IS NULL ORDER BY x.position LIMIT 1
            ) o ON 1 = 1
            WHERE s.membership_id = %s
        ) p
        LEFT JOIN {items} i ON i.id = p.current_id
        LEFT JOIN {drafts} d ON d.{drafted} = i.id
    """


def reader_position(membership: Membership) -> Position:
    """The reader's current item (their first schedule item without a reading, the only one they may
    answer) and their progress, in one statement whatever the schedule's length.

    The case page runs this on every request, so it is one hand-written statement (the ORM took
    longer to build the item query and the progress aggregate than the database took to run them).
    It is checked against a count over the rows in the tests.
    """
    row = next(iter(ScheduleItem.objects.raw(_position_sql(), [membership.pk, membership.pk])))
    done, total, cases = int(row.done), int(row.total), int(row.cases)
    # With every item answered the reader is past the last case (no open position to count up to).
    number = cases if done >= total else int(row.number)
    progress = Progress(done=done, total=total, number=max(1, min(number, cases)), cases=cases)
    if row.pk is None:
        return Position(item=None, progress=progress)
    draft = row.draft_data
    for name in ("total", "done", "cases", "number", "draft_data"):
        delattr(row, name)
    setattr(row, DRAFT_ATTR, json.loads(draft) if isinstance(draft, str) else draft)
    row.membership = membership  # the row was filtered on it: no query to reach the reader again
    row.study = membership.study
    return Position(item=row, progress=progress)


DRAFT_ATTR = "_reader_draft"


def draft_for(item: ScheduleItem) -> dict[str, Any] | None:
    """The reader's saved draft answer to `item` (loaded with the position for the current item)."""
    if hasattr(item, DRAFT_ATTR):
        return getattr(item, DRAFT_ATTR)
    data = ReadingDraft.objects.filter(schedule_item_id=item.pk).values_list("data", flat=True).first()
    setattr(item, DRAFT_ATTR, data)
    return data


def current_item(membership: Membership) -> ScheduleItem | None:
    """The reader's first schedule item without a reading (the only one they may answer)."""
    return reader_position(membership).item


def reader_progress(membership: Membership) -> Progress:
    """Readings done of the reader's schedule and the case they are on."""
    return reader_position(membership).progress


def session_opens_at(membership: Membership) -> dt.datetime | None:
    """When session 2 of a crossover study opens: the washout after session 1 ended.

    None while session 1 is unfinished, and for designs without a second session.
    """
    study = membership.study
    if study.design != Design.CROSSOVER or membership.session1_completed_at is None:
        return None
    return membership.session1_completed_at + dt.timedelta(days=study_settings_for(study).washout_days)


def session2_open(membership: Membership, now: dt.datetime | None = None) -> bool:
    """Session 2 opens only once every session-1 item is answered and the washout has passed."""
    if membership.session1_completed_at is None:
        return False
    opens = session_opens_at(membership)
    return opens is None or (now or timezone.now()) >= opens


def washout_pending(membership: Membership, item: ScheduleItem, now: dt.datetime | None = None) -> dt.datetime | None:
    """The opening time if `item` is in session 2 and session 2 is not open yet (None when it is open,
    or when session 1 is unfinished: then there is no date to give yet, and the item is still closed)."""
    if item.session != 2 or session2_open(membership, now):
        return None
    return session_opens_at(membership)


def reader_ready(membership: Membership) -> bool:
    """The reader has passed the steps before the cases: consent, the questions about them, the
    instructions."""
    if needs_consent(membership.study) and membership.consented_at is None:
        return False
    return bool(membership.demographics_done and membership.instructions_seen)


def needs_consent(study: Study) -> bool:
    """Readers give consent here when the study has consent text or collected consent elsewhere (then
    they confirm it). Launch refuses a study with neither, so every reader of a launched study has a
    consent record before their first case."""
    return bool(study.consent_text.strip()) or consent_collected_elsewhere(study)


def consent_collected_elsewhere(study: Study) -> bool:
    """The audited study setting ``consent_elsewhere``: consent was collected outside the platform."""
    return study_settings_for(study).consent_elsewhere


def phase1_reading(item: ScheduleItem) -> Reading | None:
    """For a phase-2 item, the same reader's locked phase-1 reading of the same case."""
    if item.phase != 2:
        return None
    return (
        Reading.objects.filter(
            schedule_item__membership_id=item.membership_id,
            schedule_item__case_id=item.case_id,
            schedule_item__session=item.session,
            schedule_item__phase=1,
            schedule_item__position__lt=item.position,
        )
        .order_by("-schedule_item__position")
        .first()
    )


def reading_for_item(item: ScheduleItem) -> Reading | None:
    return Reading.objects.filter(schedule_item=item).first()
