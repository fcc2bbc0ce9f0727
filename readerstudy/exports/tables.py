"""Exports: the readings table (DESIGN.md 5.1) and the stored schedules, as DataFrames and files.

Readers appear only by their pseudonym, with the demographics they gave for this study (the
membership's snapshot, never their later answers elsewhere). Outcomes come from
:mod:`readerstudy.core.outcomes`.
Training readings are kept apart from measured readings and left out unless asked for; repeat
(attention) readings are measured and exported, flagged in the ``repeat`` column.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd

from analysis.readings import READINGS_COLUMNS as CONTRACT_COLUMNS
from catalog.models import Condition, ManagementRating
from inference.core.ranking import by_probability
from readerstudy.core import outcomes
from readerstudy.core.study_settings import SettingsError, StudySettings, parse_study_settings
from readerstudy.models import Reading, ScheduleItem, Study
from readerstudy.selectors.progress import case_progress

# The contract (DESIGN 5.1), defined once in the analysis package; extra columns follow.
READINGS_COLUMNS = list(CONTRACT_COLUMNS)


READINGS_EXTRA_COLUMNS = [
    "arm_kind",
    "training",
    "repeat",
    "truth_group",
    "reference_source",
    "correct_top1_exact",
    "correct_top3_exact",
    "management_rating",
    "ai_correct_top3",
    "active_s",
    "shown_at",
    "first_input_at",
    "reader_dermoscopy",
    "reader_country",
    "reader_age_band",
    "case_age",
    "case_sex",
    "case_fitzpatrick",
    "case_body_site",
    "other_text",
    "site",
    "site_country",
    "language",
    "history_language",
    "consent",  # "platform" (the reader consented here) or "elsewhere" (settings.consent_elsewhere)
]


INT_COLUMNS = [
    "reader_experience",
    "truth_malignant",
    "phase",
    "session",
    "position",
    "correct_top1",
    "correct_top3",
    "management_appropriate",
    "management_harmful",
    "confidence",
    "malignancy_score",
    "ai_shown",
    "ai_correct_top1",
    "timed_out",
    "training",
    "repeat",
    "correct_top1_exact",
    "correct_top3_exact",
    "ai_correct_top3",
    "case_age",
    "case_fitzpatrick",
]


SCHEDULE_COLUMNS = [
    "study",
    "reader",
    "reader_index",
    "position",
    "case",
    "arm",
    "arm_kind",
    "phase",
    "session",
    "training",
    "repeat",
    "shown_at",
    "read",
    "submitted_at",
]


_READING_FIELDS = {
    "reader": "schedule_item__membership__pseudonym",
    "reader_group": "schedule_item__membership__demographics__profession",
    "reader_experience": "schedule_item__membership__demographics__years_experience",
    "reader_dermoscopy": "schedule_item__membership__demographics__dermoscopy_use",
    "reader_country": "schedule_item__membership__demographics__country",
    "reader_age_band": "schedule_item__membership__demographics__age_band",
    "case": "schedule_item__case__key",
    "truth": "schedule_item__case__reference__code",
    "truth_malignant": "schedule_item__case__reference__malignant",
    "truth_group": "schedule_item__case__reference__group",
    "reference_source": "schedule_item__case__reference_source",
    "case_age": "schedule_item__case__age",
    "case_sex": "schedule_item__case__sex",
    "case_fitzpatrick": "schedule_item__case__fitzpatrick",
    "case_body_site": "schedule_item__case__body_site",
    "arm": "schedule_item__arm__name",
    "arm_kind": "schedule_item__arm__kind",
    "phase": "schedule_item__phase",
    "session": "schedule_item__session",
    "position": "schedule_item__position",
    "training": "schedule_item__training",
    "repeat": "schedule_item__repeat",
    "differential": "differential",
    "management": "management",
    "confidence": "confidence",
    "malignancy_score": "malignancy_score",
    "other_text": "other_text",
    "shown_at": "shown_at",
    "first_input_at": "first_input_at",
    "submitted_at": "submitted_at",
    "active_ms": "active_ms",
    "timed_out": "timed_out",
    "ai_snapshot": "ai_snapshot",
    "site": "site__name",
    "site_country": "site__country",
    "language": "language",
    "case_history": "schedule_item__case__history",
    "case_translations": "schedule_item__case__translations",
}


def readings_table(study: Study, *, include_training: bool = False) -> pd.DataFrame:
    """One row per submitted reading: the contract columns in order, then the extras."""
    parsed = _settings(study)
    groups, matrix = outcome_lookups(study)
    readings = (
        Reading.objects.filter(schedule_item__study=study)
        .order_by(
            "schedule_item__membership__reader_index",
            "schedule_item__membership_id",
            "schedule_item__position",
        )
        .values_list(*_READING_FIELDS.values())
    )
    if not include_training:
        readings = readings.filter(schedule_item__training=False)
    rows = [
        _reading_row(dict(zip(_READING_FIELDS, values, strict=True)), study, parsed, groups, matrix)
        for values in readings
    ]
    frame = pd.DataFrame(rows, columns=READINGS_COLUMNS + READINGS_EXTRA_COLUMNS)
    for column in INT_COLUMNS:
        frame[column] = frame[column].astype("Int64")
    for column in ("duration_s", "active_s"):
        frame[column] = frame[column].astype("float64")
    return frame


def _reading_row(
    raw: dict[str, Any],
    study: Study,
    parsed: StudySettings,
    groups: Mapping[str, str],
    matrix: outcomes.RatingMatrix,
) -> dict[str, Any]:
    differential = [str(code) for code in (raw["differential"] or [])]
    truth = raw["truth"]
    outcome = outcomes.reading_outcome(
        differential=differential,
        truth=truth,
        management=raw["management"],
        groups=groups,
        matrix=matrix,
        generic=parsed.generic_credit,
    )
    ai_codes = ai_top_codes(raw["ai_snapshot"])
    ai_shown = bool(ai_codes)
    return {
        **{
            name: raw[name]
            for name in (
                "reader",
                "reader_group",
                "reader_experience",
                "case",
                "truth",
                "arm",
                "phase",
                "session",
                "position",
                "confidence",
                "malignancy_score",
                "arm_kind",
                "truth_group",
                "reference_source",
                "reader_dermoscopy",
                "reader_country",
                "reader_age_band",
                "case_age",
                "case_sex",
                "case_fitzpatrick",
                "case_body_site",
                "other_text",
                "language",
            )
        },
        "site": raw["site"] or "",
        "site_country": raw["site_country"] or "",
        "history_language": shown_text_language(
            raw["case_translations"], "history", raw["language"], study.default_language,
            has_base=bool(raw["case_history"]),
        ),
        "consent": "elsewhere" if parsed.consent_elsewhere else "platform",
        "study": study.slug,
        "truth_malignant": int(raw["truth_malignant"]),
        "differential": "|".join(differential),
        "correct_top1": int(outcome.correct_top1),
        "correct_top3": int(outcome.correct_top3),
        "correct_top1_exact": int(outcomes.correct_top_k(differential, truth, 1)),
        "correct_top3_exact": int(outcomes.correct_top_k(differential, truth, 3)),
        "management": raw["management"] or "",
        "management_appropriate": _flag(outcome.management_appropriate),
        "management_harmful": _flag(outcome.management_harmful),
        "management_rating": outcomes.management_rating(truth, raw["management"], matrix) or "",
        "ai_shown": int(ai_shown),
        "ai_top1": ai_codes[0] if ai_shown else "",
        "ai_correct_top1": int(outcomes.correct_top_k(ai_codes, truth, 1)) if ai_shown else None,
        "ai_correct_top3": int(outcomes.correct_top_k(ai_codes, truth, 3)) if ai_shown else None,
        "duration_s": reading_duration_s(raw["shown_at"], raw["submitted_at"]),
        "active_s": raw["active_ms"] / 1000 if raw["active_ms"] else None,
        "timed_out": int(raw["timed_out"]),
        "training": int(raw["training"]),
        "repeat": int(raw["repeat"]),
        "submitted_at": iso_utc(raw["submitted_at"]),
        "shown_at": iso_utc(raw["shown_at"]),
        "first_input_at": iso_utc(raw["first_input_at"]),
    }


def shown_text_language(translations: Any, field: str, language: str, default_language: str, *,
                        has_base: bool) -> str:
    """Which language the reader was shown a case's ``field`` in: theirs when the case has that
    translation (the reader pages pick it the same way, ``cases.case_text``), else the case's own
    text, written in the study's default language; empty when the case has no such text."""
    per_language = (translations or {}).get(field) if isinstance(translations, Mapping) else None
    if language and isinstance(per_language, Mapping) and str(per_language.get(language) or "").strip():
        return language
    return default_language if has_base else ""


def reading_duration_s(shown_at: datetime | None, submitted_at: datetime | None) -> float | None:
    """Server-measured seconds from showing the case to the submission (client active time is apart)."""
    if shown_at is None or submitted_at is None:
        return None
    return round((submitted_at - shown_at).total_seconds(), 3)


def ai_top_codes(snapshot: Any) -> list[str]:
    """The condition codes the AI panel showed, best first; empty when nothing was shown, and for a
    display that shows no differential (malignancy gauge, similar cases without the list).

    The reader pages store ``{"items": [{"rank": 1, "code": .., ...}], ...}``; also accepted: the same
    list under ``top`` or ``suggestions``, ``{"top_codes": [..]}`` or ``{"probabilities": {code: p}}``.
    """
    if not isinstance(snapshot, Mapping) or not snapshot or snapshot.get("shown") is False:
        return []
    if snapshot.get("show_differential") is False:
        return []  # a gauge or gallery arm: the reader saw no ranked list (the snapshot keeps it for audit)
    for key in ("items", "top", "suggestions", "top_codes"):
        entries = snapshot.get(key)
        if isinstance(entries, Sequence) and not isinstance(entries, str) and entries:
            return [str(entry["code"]) if isinstance(entry, Mapping) else str(entry) for entry in entries]
    probabilities = snapshot.get("probabilities")
    return by_probability(probabilities) if isinstance(probabilities, Mapping) else []


def outcome_lookups(study: Study) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    """Code -> group, and (condition code, management code) -> rating, in the study's taxonomy (2 queries)."""
    groups = dict(
        Condition.objects.filter(taxonomy__case_sets=study.case_set_id).values_list("code", "group")
    )
    ratings = ManagementRating.objects.filter(condition__taxonomy__case_sets=study.case_set_id)
    matrix = {
        (condition, management): rating
        for condition, management, rating in ratings.values_list(
            "condition__code", "management__code", "rating"
        )
    }
    return groups, matrix


def schedules_table(study: Study) -> pd.DataFrame:
    """Every stored schedule item, with whether and when it was read."""
    items = (
        ScheduleItem.objects.filter(study=study)
        .order_by("membership__reader_index", "membership_id", "position")
        .values_list(
            "membership__pseudonym",
            "membership__reader_index",
            "position",
            "case__key",
            "arm__name",
            "arm__kind",
            "phase",
            "session",
            "training",
            "repeat",
            "shown_at",
            "reading__submitted_at",
        )
    )
    rows = [
        {
            "study": study.slug,
            "reader": reader,
            "reader_index": index,
            "position": position,
            "case": case,
            "arm": arm,
            "arm_kind": kind,
            "phase": phase,
            "session": session,
            "training": int(training),
            "repeat": int(repeat),
            "shown_at": iso_utc(shown),
            "read": int(submitted is not None),
            "submitted_at": iso_utc(submitted),
        }
        for reader, index, position, case, arm, kind, phase, session, training, repeat, shown, submitted in items
    ]
    frame = pd.DataFrame(rows, columns=SCHEDULE_COLUMNS)
    for column in ("reader_index", "position", "phase", "session", "training", "repeat", "read"):
        frame[column] = frame[column].astype("Int64")
    return frame


def case_progress_table(study: Study) -> pd.DataFrame:
    """Per case, measured readings done and scheduled in each arm and in all (the progress page's table)."""
    arms = list(study.arms.order_by("order", "pk").values_list("name", flat=True))
    columns = ["study", "case"] + [f"{arm}_{what}" for arm in arms for what in ("read", "scheduled")]
    rows = []
    for case in case_progress(study, arms):
        row = {"study": study.slug, "case": case.case, "read": case.read, "scheduled": case.scheduled}
        for arm, cell in zip(arms, case.cells, strict=True):
            row[f"{arm}_read"], row[f"{arm}_scheduled"] = cell if cell else (0, 0)
        rows.append(row)
    return pd.DataFrame(rows, columns=columns + ["read", "scheduled"])


def iso_utc(value: datetime | None) -> str:
    """ISO 8601 in UTC with a Z suffix, or empty."""
    if value is None:
        return ""
    return value.astimezone(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _flag(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _settings(study: Study) -> StudySettings:
    try:
        return parse_study_settings(study.settings)
    except SettingsError:
        return StudySettings()
