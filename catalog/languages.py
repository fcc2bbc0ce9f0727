"""The languages a study may offer its readers, and how other spellings map onto them.

They name study texts, case texts (`Case.translations`, `history_<lang>` manifest columns) and the
readings' `language`. Interface codes (settings.LANGUAGES, e.g. "en-gb") map onto these.
"""

from __future__ import annotations

from django.db import models


class StudyLanguage(models.TextChoices):
    EN = "en", "English"
    ZH_HANS = "zh-hans", "Simplified Chinese"
    ES = "es", "Spanish"
    DE = "de", "German"
    FR = "fr", "French"


STUDY_LANGUAGES: tuple[str, ...] = tuple(StudyLanguage.values)
# Other spellings accepted for a study language (interface codes, manifest suffixes).
LANGUAGE_ALIASES = {
    "en-gb": "en", "en-us": "en", "zh": "zh-hans", "zh-cn": "zh-hans", "zh-sg": "zh-hans",
    "zh_hans": "zh-hans", "zh-hans-cn": "zh-hans",
}
# The case fields that may carry a text per language.
CASE_TEXT_FIELDS = ("history", "body_site", "duration")


def normalize_language(code: str | None) -> str | None:
    """The study language for ``code`` (any case, ``_`` or ``-``), or None when it is not one."""
    if not code:
        return None
    lowered = str(code).strip().lower().replace("_", "-")
    lowered = LANGUAGE_ALIASES.get(lowered, lowered)
    if lowered in STUDY_LANGUAGES:
        return lowered
    primary = lowered.split("-", 1)[0]
    return primary if primary in STUDY_LANGUAGES and primary != "zh" else None
