"""Study texts per language: the languages a study offers, its consent text and instructions in
each (versioned, never edited), and which text a reader sees.

Language codes are :class:`catalog.languages.StudyLanguage` (``en``, ``zh-hans``, ``es``, ``de``,
``fr``); the interface's codes (``settings.LANGUAGES``, e.g. ``en-gb``) map onto them through
:func:`normalize_language`. The study's own ``consent_text`` / ``instructions`` fields are its
default language's text until a per-language version of that language is written.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Max
from django.utils import translation

from catalog.languages import CASE_TEXT_FIELDS, STUDY_LANGUAGES, normalize_language
from common.audit import audit_record
from readerstudy.models import Membership, Study, StudyLanguage, StudyStatus, StudyText, TextKind
from readerstudy.services.studies.common import Actor, StudyError, StudyInvalid, is_user, lock_study


def current_language() -> str:
    """The active interface language (LocaleMiddleware / the switcher) as a study language, or ``en``."""
    return normalize_language(translation.get_language()) or StudyLanguage.EN.value


def reader_language(study: Study, membership: Membership | None = None, language: str | None = None) -> str:
    """The language a reader's study texts are shown in: theirs when the study offers it, else their
    site's default, else the study's default."""
    wanted = normalize_language(language) if language else current_language()
    offered = study_languages(study)
    if wanted in offered:
        return wanted
    site = getattr(membership, "site", None) if membership is not None else None
    if site is not None and site.default_language in offered:
        return site.default_language
    return study.default_language


def study_languages(study: Study) -> list[str]:
    """The study's offered languages, the default first; unknown entries dropped."""
    offered = [code for code in (normalize_language(c) for c in study.languages or []) if code]
    ordered = [study.default_language] + [code for code in offered if code != study.default_language]
    return list(dict.fromkeys(ordered))


@dataclass(frozen=True)
class ShownText:
    """A study text as a reader sees it: the language and version it is in, and its sha256."""

    kind: str
    language: str
    version: int | None  # None: the study's own field (its default language)
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()


def _latest(study: Study, kind: str, language: str) -> StudyText | None:
    return StudyText.objects.filter(study=study, kind=kind, language=language).order_by("-version").first()


def _legacy(study: Study, kind: str) -> str:
    return study.consent_text if kind == TextKind.CONSENT else study.instructions


def frozen_texts(study: Study) -> dict[str, dict[str, list]]:
    """Every current per-language text, as the study row keeps them from launch (one query)."""
    frozen: dict[str, dict[str, list]] = {kind: {} for kind in TextKind.values}
    for row in StudyText.objects.filter(study=study).order_by("kind", "language", "version"):
        frozen[row.kind][row.language] = [row.version, row.text]  # the highest version wins
    return frozen


def text_in(study: Study, kind: str, language: str) -> ShownText | None:
    """The current text of ``kind`` in exactly ``language`` (None when the study has none there).

    A launched study's texts cannot change, so they come from the copy on its row (no query; a
    study launched before per-language texts existed has none, and none can be added after launch)."""
    frozen = study.texts_frozen if isinstance(study.texts_frozen, dict) else {}
    if study.status != StudyStatus.DRAFT:
        held = (frozen.get(kind) or {}).get(language)
        row = StudyText(version=held[0], text=held[1]) if held else None
    else:
        row = _latest(study, kind, language)
    if row is not None and row.text.strip():
        return ShownText(kind, language, row.version, row.text)
    if language == study.default_language and _legacy(study, kind).strip():
        return ShownText(kind, language, None, _legacy(study, kind))
    return None


def text_for_reader(study: Study, kind: str, *, membership: Membership | None = None,
                    language: str | None = None) -> ShownText:
    """What the reader sees: the text in their language, else in the study's default language
    (an empty text in the default language when the study has written none)."""
    wanted = normalize_language(language) if language else current_language()
    return _text_for_reader(study, kind, reader_language(study, membership, wanted))


def _text_for_reader(study: Study, kind: str, preferred: str) -> ShownText:
    for code in dict.fromkeys([preferred, study.default_language]):
        shown = text_in(study, kind, code)
        if shown is not None:
            return shown
    return ShownText(kind, study.default_language, None, "")


def text_problems(study: Study, *, consent_elsewhere: bool) -> list[str]:
    """Launch checks: every offered language has consent (unless collected elsewhere) and, once the
    study writes its own instructions in any language, instructions (else the platform's built-in,
    translated instructions are shown in every language)."""
    problems = []
    unknown = [str(code) for code in study.languages or [] if normalize_language(code) is None]
    if unknown:
        problems.append(f"languages: unknown language {', '.join(unknown)} (offered: {', '.join(STUDY_LANGUAGES)}).")
    languages = study_languages(study)
    if not consent_elsewhere:
        missing = [code for code in languages if text_in(study, TextKind.CONSENT, code) is None]
        if study.default_language in missing:
            problems.append("consent_text: readers must consent: write the consent text, or set “consent collected "
                            "elsewhere” (settings.consent_elsewhere) if the study team collects it outside the "
                            "platform.")
            missing.remove(study.default_language)
        if missing:
            problems.append(f"consent_text: no consent text in {', '.join(missing)}, which the study offers: "
                            "write it in each language, or stop offering the language.")
    written = [code for code in languages if text_in(study, TextKind.INSTRUCTIONS, code) is not None]
    if written:
        missing = [code for code in languages if code not in written]
        if missing:
            problems.append(f"instructions: no instructions in {', '.join(missing)}, which the study offers "
                            f"(they exist in {', '.join(written)}): write them in each language.")
    return problems


def _refuse_after_launch(study: Study, what: str) -> None:
    if study.status != StudyStatus.DRAFT:
        raise StudyError(f"The {what} cannot change: the study is {study.get_status_display().lower()} "
                         "and readers already read under them.")


@transaction.atomic
def study_text_set(*, study: Study, kind: str, language: str, text: str, actor: Actor) -> StudyText:
    """Write a new version of the study's ``kind`` text in ``language`` (earlier versions stay)."""
    locked = lock_study(study)
    code = normalize_language(language)
    problems = {}
    if kind not in TextKind.values:
        problems["kind"] = [f"Unknown text {kind!r}: {', '.join(TextKind.values)}."]
    if code is None:
        problems["language"] = [f"Unknown language {language!r} (offered: {', '.join(STUDY_LANGUAGES)})."]
    if not text.strip():
        problems["text"] = ["Write the text (an empty text is not a version)."]
    if problems:
        raise StudyInvalid([m for ms in problems.values() for m in ms], problems)
    _refuse_after_launch(locked, "consent text and instructions")
    latest = StudyText.objects.filter(study=locked, kind=kind, language=code).aggregate(v=Max("version"))["v"]
    row = StudyText(study=locked, kind=kind, language=code, version=(latest or 0) + 1, text=text,
                    created_by=actor if is_user(actor) else None)
    row.full_clean()
    row.save()
    audit_record(actor=actor, action="study.text", study=locked, obj=row,
                 data={"kind": kind, "language": code, "version": row.version,
                       "text_sha256": hashlib.sha256(text.encode("utf-8")).hexdigest()})
    return row


@transaction.atomic
def study_languages_set(*, study: Study, languages: Sequence[str], default_language: str, actor: Actor) -> Study:
    """Set the languages the study offers and its default (which must be one of them)."""
    locked = lock_study(study)
    codes = [normalize_language(code) for code in languages]
    problems: dict[str, list[str]] = {}
    unknown = [str(raw) for raw, code in zip(languages, codes, strict=True) if code is None]
    if unknown:
        problems["languages"] = [f"Unknown language {', '.join(unknown)} (offered: {', '.join(STUDY_LANGUAGES)})."]
    default = normalize_language(default_language)
    chosen = list(dict.fromkeys(code for code in codes if code))
    if default is None or default not in chosen:
        problems["default_language"] = ["The default language must be one of the study's languages."]
    if problems:
        raise StudyInvalid([m for ms in problems.values() for m in ms], problems)
    _refuse_after_launch(locked, "languages")
    before = {"languages": locked.languages, "default_language": locked.default_language}
    locked.languages, locked.default_language = chosen, default
    locked.full_clean()
    locked.save(update_fields=["languages", "default_language"])
    audit_record(actor=actor, action="study.languages", study=locked, obj=locked,
                 data={"before": before, "after": {"languages": chosen, "default_language": default}})
    study.languages, study.default_language = chosen, default
    return locked


# Case fields that a manifest may give per language (``history_zh-hans``, ``body_site_es``, ...).


def case_texts(case, language: str | None = None) -> dict[str, str]:
    """The case's text fields in ``language`` (default: the active one) where the case has them,
    else its own; ``history_language`` is the language the history is shown in ("" for the
    case's own text; the export names it, see ``exports.tables.shown_text_language``)."""
    code = normalize_language(language) if language else current_language()
    translations = case.translations if isinstance(case.translations, dict) else {}
    shown: dict[str, str] = {}
    for field in CASE_TEXT_FIELDS:
        per_language = translations.get(field) or {}
        text = str(per_language.get(code) or "").strip() if isinstance(per_language, dict) else ""
        shown[field] = text or getattr(case, field)
        if field == "history":
            shown["history_language"] = code if text else ""
    return shown


class ReaderTexts:
    """The study texts for one reader's pages, looked up only when a template uses them."""

    def __init__(self, study: Study, membership: Membership | None = None) -> None:
        self._study, self._membership = study, membership

    @functools.cached_property
    def consent(self) -> ShownText:
        return text_for_reader(self._study, TextKind.CONSENT, membership=self._membership)

    @functools.cached_property
    def instructions(self) -> ShownText:
        return text_for_reader(self._study, TextKind.INSTRUCTIONS, membership=self._membership)
