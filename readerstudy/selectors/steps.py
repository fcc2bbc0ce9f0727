"""TODO docstring."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from readerstudy.models import Design, Membership, Reading, ScheduleItem, StudyStatus
from readerstudy.selectors.blinding import mark_open, open_items
from readerstudy.selectors.position import (
    Position,
    Progress,
    needs_consent,
    reader_position,
    session2_open,
    session_opens_at,
    study_settings_for,
)


def reader_state(membership: Membership) -> tuple[str, Position | None]:
    """The reader's next step and, once they are reading, where they are (looked up once).

    The current item (the first unanswered one) passes the phase rules of the open set by
    construction, so whether it is open is decided here without a query: the study is launched,
    the reader is ready, and it is not a session-2 item before session 2 opens.
    """
    study = membership.study
    if needs_consent(study) and membership.consented_at is None:
        return "consent", None
    if not membership.demographics_done:
        return "demographics", None
    if not membership.instructions_seen:
        return "instructions", None
    if study.status == StudyStatus.CLOSED:
        return "end", None
    if study.status != StudyStatus.LAUNCHED:
        return "unavailable", None
    position = reader_position(membership)
    if position.item is None:
        return "end", position
    mark_open(position.item, position.item.session != 2 or session2_open(membership))
    return "case", position


def reader_step(membership: Membership) -> tuple[str, ScheduleItem | None]:
    """The reader's next step and, when it is "case", their current item (looked up once)."""
    step, position = reader_state(membership)
    return step, position.item if position else None


def chosen_item(membership: Membership, item_id: int) -> ScheduleItem | None:
    """With ``allow_back``, the open item the reader chose to return to (None if not open)."""
    if not study_settings_for(membership.study).allow_back:
        return None
    item = (open_items(membership).select_related("case", "arm", "study", "study__case_set",
                                                  "study__model_version")
            .filter(pk=item_id).first())
    if item is not None:
        item.membership = membership
        mark_open(item, True)
    return item


def skip_target(membership: Membership, item: ScheduleItem) -> ScheduleItem | None:
    """With ``allow_back``: the next open item after `item` (wrapping round), to come back to it later."""
    if not study_settings_for(membership.study).allow_back:
        return None
    others = open_items(membership).exclude(pk=item.pk).exclude(case_id=item.case_id, session=item.session)
    return others.filter(position__gt=item.position).order_by("position").first() or \
        others.order_by("position").first()


def reader_next_step(membership: Membership) -> str:
    """consent -> demographics -> instructions -> case -> end; "unavailable" while draft or paused."""
    return reader_step(membership)[0]


@dataclass(frozen=True)
class EndSummary:
    """What the reader did: cases answered, time spent and, in feedback studies after the last case,
    their accuracy against the reference (measured readings only; training cases are left out)."""

    cases: int
    readings: int
    minutes: int
    accuracy: dict[str, Any] | None


def end_summary(membership: Membership) -> EndSummary:
    readings = list(
        Reading.objects.filter(schedule_item__membership_id=membership.pk)
        .select_related("schedule_item__case__reference")
        .only("differential", "active_ms", "shown_at", "submitted_at", "schedule_item__phase",
              "schedule_item__training", "schedule_item__case_id", "schedule_item__case__reference__code")
    )
    cases = len({r.schedule_item.case_id for r in readings})
    seconds = sum(
        (r.active_ms / 1000) if r.active_ms else max(0.0, (r.submitted_at - r.shown_at).total_seconds())
        for r in readings
    )
    accuracy = None
    study = membership.study
    if study_settings_for(study).feedback and membership.completed_at is not None:
        measured = [r for r in readings if not r.schedule_item.training]
        if study.design == Design.SEQUENTIAL:  # the final (phase 2) answer of each case
            measured = [r for r in measured if r.schedule_item.phase == 2]
        top1 = sum(bool(r.differential) and r.differential[0] == r.schedule_item.case.reference.code
                   for r in measured)
        top_k = sum(r.schedule_item.case.reference.code in (r.differential or []) for r in measured)
        n = len(measured)
        accuracy = {"n": n, "top1": top1, "top_k": top_k,
                    "top1_percent": round(100 * top1 / n) if n else None,
                    "top_k_percent": round(100 * top_k / n) if n else None}
    return EndSummary(cases=cases, readings=len(readings), minutes=round(seconds / 60), accuracy=accuracy)


@dataclass(frozen=True)
class HomeStatus:
    """A reader's status in one study for the home page, with the next action."""

    label: str             # "Not started", "In progress", "Completed", "Paused", "Session 2 opens on", ...
    done: int
    total: int
    opens_at: dt.datetime | None
    action: str            # the link's label; "" when there is nothing to do
    url_name: str          # the link's URL name (reverse with the study slug)


def reader_home_status(membership: Membership) -> HomeStatus:
    study = membership.study
    progress = reader_position(membership).progress if study.status != StudyStatus.DRAFT else \
        Progress(done=0, total=0, number=1, cases=0)
    done, total = progress.done, progress.total

    def status(label: str, action: str = "", url_name: str = "reader:start",
               opens_at: dt.datetime | None = None) -> HomeStatus:
        return HomeStatus(label=label, done=done, total=total, opens_at=opens_at, action=action, url_name=url_name)

    if total and done >= total:
        return status(_("Completed"), _("See your summary"), "reader:end")
    if study.status == StudyStatus.CLOSED:
        return status(_("Closed"), _("See your summary"), "reader:end")
    if study.status == StudyStatus.DRAFT:
        return status(_("Not open yet"))
    if study.status == StudyStatus.PAUSED:
        return status(_("Paused"))
    if membership.session1_completed_at is not None and not session2_open(membership):
        return status(_("Session 2 opens on"), opens_at=session_opens_at(membership))
    if done == 0:
        return status(_("Not started"), _("Start the study"))
    return status(_("In progress"), _("Continue reading"))


def reader_schedule_so_far(membership: Membership) -> QuerySet[ScheduleItem]:
    """The reader's items already shown to them (answered or not): never the items ahead."""
    return ScheduleItem.objects.filter(membership_id=membership.pk, shown_at__isnull=False)
