"""What a reader sees: their next step, current case, progress, AI display and feedback.

Reads only. Blinding lives here: :func:`ai_display_for_item` is the single place that decides
whether a schedule item may show AI output, and :func:`reference_feedback` the single place that
decides whether the reference diagnosis may be shown.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.http import Http404
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from readerstudy.models import (
    ArmKind,
    Condition,
    ConditionGroup,
    Design,
    ManagementOption,
    Membership,
    Reading,
    ReadingDraft,
    ScheduleItem,
    Study,
    StudyStatus,
    Taxonomy,
)
from readerstudy.services.taxonomy import localized_condition, translation_language
from readerstudy.study_settings import StudySettings, parse_study_settings

# Uncalibrated scores are shown as coarse bands, never as percentages (they are not probabilities).
BAND_THRESHOLDS = (("high", 0.6), ("moderate", 0.3), ("low", 0.0))
BAND_LEVEL = {"high": 3, "moderate": 2, "low": 1}


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
    """When the reader's session 2 opens (crossover washout); None when it is not restricted."""
    try:
        from readerstudy.services.studies import session_available_at
    except ImportError:  # the study service is optional for this module
        session_available_at = None
    if session_available_at is not None:
        return session_available_at(membership)
    if membership.session1_completed_at is None:
        return None
    days = study_settings_for(membership.study).washout_days
    return membership.session1_completed_at + dt.timedelta(days=days)


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


# --- the open set: the one rule for what a reader may open, see, time and answer now --------------

OPEN_FLAG = "_reader_open_now"


class ItemNotOpen(Http404):
    """A schedule item that is not open to its reader now was about to be shown, timed or answered.

    A 404 (never rendered): every path that shows an item checks :func:`item_is_open` first."""


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


def open_items(membership: Membership, *, now: dt.datetime | None = None) -> QuerySet[ScheduleItem]:
    """The schedule items the reader may open now: the single definition every page, partial, API
    operation, image and service uses (through :func:`item_is_open`).

    - the study is launched and the reader has passed the steps before the cases;
    - the item is unanswered;
    - session 2 only once session 1 is complete and the washout has passed;
    - phase 2 only once the same case's phase 1 is answered; phase 1 never after its phase 2 was shown;
    - without ``allow_back`` only the reader's current item (their first unanswered one); with it,
      any item that passes the rules above (``allow_back`` moves only within this set).
    """
    study = membership.study
    if study.status != StudyStatus.LAUNCHED or not reader_ready(membership):
        return ScheduleItem.objects.none()
    mine = ScheduleItem.objects.filter(membership_id=membership.pk)
    items = mine.filter(reading__isnull=True)
    if not session2_open(membership, now):
        items = items.exclude(session=2)
    phase1_pending = mine.filter(case_id=OuterRef("case_id"), session=OuterRef("session"), phase=1,
                                 position__lt=OuterRef("position"), reading__isnull=True)
    phase2_shown = mine.filter(case_id=OuterRef("case_id"), session=OuterRef("session"), phase=2,
                               position__gt=OuterRef("position"), shown_at__isnull=False)
    items = items.exclude(Q(phase=2) & Exists(phase1_pending)).exclude(Q(phase=1) & Exists(phase2_shown))
    if not study_settings_for(study).allow_back:
        first = mine.filter(reading__isnull=True).order_by("position").values("pk")[:1]
        items = items.filter(pk=Subquery(first))
    return items


def item_is_open(membership: Membership, item: ScheduleItem, *, now: dt.datetime | None = None) -> bool:
    """Whether `item` is in the reader's open set now (the answer is kept on the instance for this request)."""
    known = getattr(item, OPEN_FLAG, None)
    if known is not None:
        return known
    if item.membership_id != membership.pk:
        return False
    result = open_items(membership, now=now).filter(pk=item.pk).exists()
    setattr(item, OPEN_FLAG, result)
    return result


def mark_open(item: ScheduleItem, is_open: bool) -> None:
    """Record on the instance what this request established (a service after answering it: closed)."""
    setattr(item, OPEN_FLAG, is_open)


def require_open(membership: Membership, item: ScheduleItem) -> None:
    if not item_is_open(membership, item):
        raise ItemNotOpen("This case is not open now")


def not_open_reason(membership: Membership, item: ScheduleItem) -> tuple[str, str]:
    """Why `item` is not open (a code and a sentence for the reader), for refusals only."""
    if Reading.objects.filter(schedule_item_id=item.pk).exists():
        return "answered", _("This case has already been answered; your answer was kept.")
    if item.session == 2 and not session2_open(membership):
        return "washout", _("Session 2 is not open yet.")
    mine = ScheduleItem.objects.filter(membership_id=item.membership_id, case_id=item.case_id, session=item.session)
    if item.phase == 2 and mine.filter(phase=1, position__lt=item.position, reading__isnull=True).exists():
        return "phase_order", _("Answer this case without AI first.")
    if item.phase == 1 and mine.filter(phase=2, position__gt=item.position, shown_at__isnull=False).exists():
        return "phase_locked", _("The AI suggestion for this case has been shown; phase 1 is locked.")
    return "not_current", _("This is not your current case.")


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


def item_shows_ai(item: ScheduleItem) -> bool:
    """Only AI arms show AI output, and never phase 1 of a sequential design."""
    if item.arm.kind != ArmKind.AI:
        return False
    return not (item.study.design == Design.SEQUENTIAL and item.phase == 1)


def _band(score: float) -> str:
    return next(name for name, low in BAND_THRESHOLDS if score >= low)


def ai_display_for_item(item: ScheduleItem) -> dict[str, Any] | None:
    """Exactly what the AI panel shows for `item` (also stored as the reading's snapshot), or None.

    Refuses (:class:`ItemNotOpen`) an item that is not open to its reader now: the AI output of a
    case out of turn, of a phase-2 twin during phase 1 or of session 2 before the washout is never
    computed for a response. Reads the precomputed ModelOutput; never computes on request.
    """
    if not item_shows_ai(item):
        return None
    membership = item.membership
    membership.study = item.study
    require_open(membership, item)
    return _ai_display(item)


def _ai_display(item: ScheduleItem) -> dict[str, Any] | None:
    """The AI display of an AI item, whoever asks (callers: :func:`ai_display_for_item` and tests)."""
    study = item.study
    model = study.model_version
    if model is None:
        return None
    from inference.models import ModelOutput, OutputStatus

    taxonomy_id = study.case_set.taxonomy_id
    output = ModelOutput.objects.filter(
        case_id=item.case_id, model_version=model, taxonomy_id=taxonomy_id, status=OutputStatus.DONE
    ).first()
    if output is None:
        return None
    options = study_settings_for(study).ai
    assist = item.arm.assist or {}
    top_k = int(assist.get("top_k") or options.top_k)
    show_probabilities = bool(assist.get("show_probabilities", options.show_probabilities)) and model.calibrated
    probabilities = {str(code): float(p) for code, p in (output.probabilities or {}).items()}
    codes = [str(c) for c in output.top_codes] or sorted(probabilities, key=lambda c: -probabilities[c])
    if _shows_faulty(item, float(assist.get("faulty_rate") or 0.0)):
        codes = _without_reference(item, codes, probabilities)
    codes = codes[:top_k]
    names = condition_names(study, codes)
    rows = []
    for rank, code in enumerate(codes, start=1):
        score = probabilities.get(code, 0.0)
        row: dict[str, Any] = {"rank": rank, "code": code, "name": names.get(code, code)}
        if show_probabilities:
            row["probability"] = round(score, 4)
            row["percent"] = round(100 * score)
        else:
            row["band"] = _band(score)
            row["band_level"] = BAND_LEVEL[row["band"]]
        rows.append(row)
    return {
        "output_id": output.pk,
        "model_version": model.name,
        "simulated": model.kind == "simulated",
        "calibrated": bool(model.calibrated),
        "show_probabilities": show_probabilities,
        "items": rows,
    }


def _shows_faulty(item: ScheduleItem, rate: float) -> bool:
    """Automation-bias arms: a deterministic share `rate` of cases (by study seed and case) get a
    deliberately wrong suggestion. The same case always gets the same display, on resume too."""
    if rate <= 0:
        return False
    digest = hashlib.sha256(f"{item.study.seed}:faulty:{item.case_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < rate


def _without_reference(item: ScheduleItem, codes: list[str], probabilities: dict[str, float]) -> list[str]:
    """The ranked list with the reference diagnosis removed, so the top suggestion is wrong.

    The reading's snapshot stores exactly what was shown, so exports score the faulty display."""
    truth = item.case.reference.code
    ranked = codes + sorted((c for c in probabilities if c not in codes), key=lambda c: -probabilities[c])
    return [code for code in ranked if code != truth]


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


def reference_feedback(item: ScheduleItem) -> dict[str, Any] | None:
    """The reference diagnosis, only when the study gives feedback and the item is answered.

    In a sequential design the reference waits until the case's last phase is answered.
    """
    study = item.study
    if not study_settings_for(study).feedback:
        return None
    reading = reading_for_item(item)
    if reading is None:
        return None
    if study.design == Design.SEQUENTIAL and item.phase == 1:
        return None
    case = item.case
    reference = case.reference
    codes = list(reading.differential)
    names = condition_names(study, [*codes, reference.code])
    management = case.reference_management
    labels = {option.code: option.label for option in management_options(study)}
    return {
        "reference_code": reference.code,
        "reference_name": names.get(reference.code, reference.name),
        "reference_source": case.get_reference_source_display(),
        "reference_management": labels.get(management.code, management.label) if management else "",
        "answer": [{"code": c, "name": names.get(c, c)} for c in codes],
        "correct_top1": bool(codes) and codes[0] == reference.code,
        "correct_topk": reference.code in codes,
    }


# A taxonomy version is immutable once loaded (services.taxonomy refuses to reload it with other
# content), so its lookups are kept per process. The expiry bounds how long an edit made through
# the admin in another process goes unseen; in this process saves and deletes clear the cache.
TAXONOMY_CACHE_S = 300


@dataclass(frozen=True)
class TaxonomyLookups:
    names: dict[str, str]  # condition code -> name
    management: tuple[ManagementOption, ...]  # in display order
    index: tuple[dict[str, Any], ...]  # the diagnosis search index (condition_index)
    loaded_at: float
    translations: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)  # code -> {lang: ...}
    languages: frozenset[str] = frozenset()  # the languages the taxonomy has translations for


_taxonomy_cache: dict[int, TaxonomyLookups] = {}


def taxonomy_lookups(taxonomy_id: int) -> TaxonomyLookups:
    """Condition names, management options and search index of a taxonomy, cached per process."""
    cached = _taxonomy_cache.get(taxonomy_id)
    if cached is not None and time.monotonic() - cached.loaded_at < TAXONOMY_CACHE_S:
        return cached
    conditions = list(Condition.objects.filter(taxonomy_id=taxonomy_id).order_by("order", "name"))
    lookups = TaxonomyLookups(
        names={c.code: c.name for c in conditions},
        management=tuple(ManagementOption.objects.filter(taxonomy_id=taxonomy_id).order_by("order")),
        index=tuple(
            {"code": c.code, "name": c.name, "synonyms": [str(s) for s in (c.synonyms or [])],
             "group": c.group, "translations": c.translations or {}}
            for c in conditions
        ),
        loaded_at=time.monotonic(),
        translations={c.code: c.translations for c in conditions if c.translations},
        languages=frozenset(lang for c in conditions for lang in (c.translations or {})),
    )
    _taxonomy_cache[taxonomy_id] = lookups
    return lookups


def taxonomy_cache_clear() -> None:
    _taxonomy_cache.clear()


@receiver([post_save, post_delete], sender=Taxonomy)
@receiver([post_save, post_delete], sender=Condition)
@receiver([post_save, post_delete], sender=ManagementOption)
def _taxonomy_changed(sender: type, instance: Any, **kwargs: Any) -> None:
    """Drop cached lookups when a taxonomy row changes here (admin edits; test databases reuse ids)."""
    _taxonomy_cache.pop(instance.pk if sender is Taxonomy else instance.taxonomy_id, None)


def condition_names(study: Study, codes: list[str], language: str | None = None) -> dict[str, str]:
    """Condition names in ``language`` (default: the active one, so the reader's), English where the
    taxonomy has no translation. Codes never change with language."""
    lookups = taxonomy_lookups(study.case_set.taxonomy_id)
    lang = translation_language(language or get_language(), lookups.languages)
    names = {}
    for code in codes:
        if code in lookups.names:
            entry = lookups.translations.get(code, {}).get(lang) if lang else None
            names[code] = entry["name"] if entry else lookups.names[code]
    return names


def management_options(study: Study, language: str | None = None) -> list[ManagementOption]:
    """The management options in display order, labelled in ``language`` (default: the active one;
    English fallback). Translated ones are unsaved copies: never save them."""
    options = taxonomy_lookups(study.case_set.taxonomy_id).management
    available = {lang for option in options for lang in (option.translations or {})}
    lang = translation_language(language or get_language(), available)
    if lang is None:
        return list(options)
    out = []
    for option in options:
        entry = (option.translations or {}).get(lang)
        if entry is None:
            out.append(option)
        else:
            out.append(ManagementOption(pk=option.pk, taxonomy_id=option.taxonomy_id, code=option.code,
                                        label=entry["label"], order=option.order, translations=option.translations))
    return out


def condition_index(study: Study, language: str | None = None) -> list[dict[str, Any]]:
    """The search index for the diagnosis boxes: every condition with its synonyms and group, its
    name and synonyms in ``language`` (default: the active one) and the English ones as well."""
    lang = language or get_language()
    return [
        localized_condition(row, lang) | {"group": str(ConditionGroup(row["group"]).label)}
        for row in taxonomy_lookups(study.case_set.taxonomy_id).index
    ]


def item_may_view_image(membership: Membership, image_case_id: int) -> bool:
    """Images of cases the reader has been shown (their current case included)."""
    return ScheduleItem.objects.filter(
        membership=membership, case_id=image_case_id, shown_at__isnull=False
    ).exists()


# --- the reader's own summaries: the end page and the home page ----------------------------------

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
