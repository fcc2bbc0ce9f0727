"""Taxonomies in the database: load a validated file (audited, versioned), ship the default, export,
search in the reader's language, and record clinicians' review of translations.

The file formats themselves are :mod:`catalog.taxonomy_format`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from catalog.models import (
    Condition,
    ManagementOption,
    ManagementRating,
    Taxonomy,
)
from catalog.models.taxonomy import TranslationStatus
from catalog.taxonomy_format import (
    DATE_RE,
    REVIEW_FIELDS,
    TaxonomyError,
    content_differences,
    normalise_content,
    ordered_languages,
    taxonomy_csv,
    taxonomy_dumps,
    taxonomy_validate,
    translations_part,
    with_translations,
    without_review,
)
from common.audit import audit_record

DEFAULT_TAXONOMY_PATH = Path(__file__).resolve().parent.parent / "data" / "taxonomy_default.json"


@transaction.atomic
def taxonomy_load(
    *, data: dict, actor: AbstractBaseUser | AnonymousUser | None = None, source: str = ""
) -> Taxonomy:
    """Validate everything, then create the taxonomy with its conditions, options and matrix.

    Loading an identical (name, version) again returns the existing taxonomy and writes nothing;
    the same (name, version) with different content is a ``TaxonomyError``. Nothing partial is saved.
    """
    problems = taxonomy_validate(data)
    if problems:
        raise TaxonomyError(problems)
    content = normalise_content(data)
    existing = (
        Taxonomy.objects.select_for_update().filter(name=content["name"], version=content["version"]).first()
    )
    if existing is not None:
        stored = taxonomy_to_dict(existing)
        if without_review(stored) == without_review(content):
            return existing  # the same version; review status is recorded with translation_mark_reviewed
        raise TaxonomyError(
            [
                f"taxonomy: '{content['name']}' version '{content['version']}' already exists with different "
                f"content ({'; '.join(content_differences(stored, content))}); load it under a new version"
            ]
        )
    return _create(content=content, actor=actor, source=source)


def _create(*, content: dict, actor: AbstractBaseUser | AnonymousUser | None, source: str) -> Taxonomy:
    taxonomy = Taxonomy.objects.create(
        name=content["name"], version=content["version"], description=content["description"]
    )
    options = ManagementOption.objects.bulk_create(
        ManagementOption(taxonomy=taxonomy, code=o["code"], label=o["label"], order=i,
                         translations=o.get("translations", {}))
        for i, o in enumerate(content["management_options"])
    )
    conditions = Condition.objects.bulk_create(
        Condition(
            taxonomy=taxonomy,
            code=row["code"],
            name=row["name"],
            synonyms=row["synonyms"],
            group=row["group"],
            malignant=row["malignant"],
            icd10=row["icd10"],
            translations=row.get("translations", {}),
            order=i,
        )
        for i, row in enumerate(content["conditions"])
    )
    if any(obj.pk is None for obj in [*options, *conditions]):  # backends that cannot return ids
        options = list(taxonomy.management_options.all())
        conditions = list(taxonomy.conditions.all())
    option_by_code = {option.code: option for option in options}
    ManagementRating.objects.bulk_create(
        ManagementRating(condition=condition, management=option_by_code[code], rating=rating)
        for condition, row in zip(conditions, content["conditions"], strict=True)
        for code, rating in row["management"].items()
    )
    audit_record(
        actor=actor,
        action="taxonomy.load",
        obj=taxonomy,
        data={
            "name": taxonomy.name,
            "version": taxonomy.version,
            "conditions": len(conditions),
            "management_options": len(options),
            "languages": ordered_languages(
                {lang for row in content["conditions"] for lang in row.get("translations", {})}
            ),
            "source": source,
        },
    )
    return taxonomy


def default_taxonomy(actor: AbstractBaseUser | AnonymousUser | None = None) -> Taxonomy:
    """The shipped primary-care taxonomy, loaded on first use (idempotent)."""
    data = json.loads(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))
    return taxonomy_load(data=data, actor=actor, source=DEFAULT_TAXONOMY_PATH.name)


def taxonomy_to_dict(taxonomy: Taxonomy) -> dict:
    """The canonical content of a stored taxonomy (the JSON format, ordered as stored)."""
    options = list(taxonomy.management_options.order_by("order", "pk"))
    option_codes = [o.code for o in options]
    ratings: dict[int, dict[str, str]] = {}
    for condition_id, code, rating in ManagementRating.objects.filter(
        condition__taxonomy=taxonomy
    ).values_list("condition_id", "management__code", "rating"):
        ratings.setdefault(condition_id, {})[code] = rating
    conditions = []
    for condition in taxonomy.conditions.order_by("order", "pk"):
        stored = ratings.get(condition.pk, {})
        conditions.append(
            {
                "code": condition.code,
                "name": condition.name,
                "synonyms": list(condition.synonyms or []),
                "group": condition.group,
                "malignant": condition.malignant,
                "icd10": condition.icd10,
                "management": {code: stored[code] for code in option_codes if code in stored},
            } | translations_part({"translations": condition.translations}, "name")
        )
    return {
        "name": taxonomy.name,
        "version": taxonomy.version,
        "description": taxonomy.description,
        "management_options": [
            with_translations({"code": o.code, "label": o.label}, {"translations": o.translations}, "label")
            for o in options
        ],
        "conditions": conditions,
    }


def taxonomy_export(*, taxonomy: Taxonomy, fmt: str = "json") -> str:
    """The taxonomy as JSON or CSV text that ``taxonomy_load`` reads back identically."""
    content = taxonomy_to_dict(taxonomy)
    if fmt == "json":
        return taxonomy_dumps(content)
    if fmt == "csv":
        return taxonomy_csv(content)
    raise ValueError(f"unknown export format {fmt!r}; use json or csv")


def condition_search_index(taxonomy: Taxonomy, language: str | None = None) -> list[dict]:
    """What the reader page's condition search box needs, in taxonomy order.

    With a ``language`` the taxonomy has, ``name`` and ``synonyms`` are that language's and
    ``names`` holds the English name, whose synonyms follow the translated ones (the search matches
    both languages); without one (or English) the English fields only."""
    rows = []
    fields = ("code", "name", "synonyms", "group", "translations")
    for row in taxonomy.conditions.order_by("order", "pk").values(*fields):
        rows.append(localized_condition(row, language))
    return rows


def localized_condition(row: dict, language: str | None) -> dict:
    """A condition's search entry in ``language`` (English fallback); see ``condition_search_index``."""
    translations = row.get("translations") or {}
    lang = translation_language(language, translations)
    english = {"code": row["code"], "name": row["name"], "synonyms": list(row.get("synonyms") or []),
               "group": row["group"]}
    if lang is None:
        return english
    entry = translations[lang]
    synonyms = [*entry.get("synonyms", []), *english["synonyms"]]
    return {**english, "name": entry["name"], "synonyms": synonyms, "names": [row["name"]]}


def translation_language(language: str | None, available: Any) -> str | None:
    """The translation key for a Django language code (``de-at`` -> ``de``, ``zh-cn`` -> ``zh-hans``),
    or None for English / a language the taxonomy lacks (the caller falls back to English)."""
    code = (language or "").lower().replace("_", "-")
    if not code or code == "en" or code.startswith("en-"):
        return None
    candidates = [code, code.split("-")[0]]
    if code.startswith("zh") and code not in ("zh-hant", "zh-tw", "zh-hk", "zh-mo"):
        candidates.append("zh-hans")
    return next((c for c in candidates if c in available), None)


def translations_unreviewed(content: dict) -> dict[str, dict[str, list[str]]]:
    """Per language, the condition and option codes whose translation is not reviewed by a clinician."""
    out: dict[str, dict[str, list[str]]] = {}
    for kind in ("conditions", "management_options"):
        for row in content[kind]:
            for lang, entry in row.get("translations", {}).items():
                if entry.get("status") != TranslationStatus.REVIEWED:
                    out.setdefault(lang, {"conditions": [], "management_options": []})[kind].append(row["code"])
    return {lang: out[lang] for lang in ordered_languages(out)}


def unreviewed_summary(content: dict) -> str:
    """One line per language naming what is still machine-drafted (printed by export_taxonomy)."""
    lines = []
    for lang, kinds in translations_unreviewed(content).items():
        conditions, options = kinds["conditions"], kinds["management_options"]
        shown = ", ".join(conditions[:8]) + (", ..." if len(conditions) > 8 else "")
        lines.append(
            f"unreviewed {lang}: {len(conditions)} condition(s) [{shown}], {len(options)} management option(s)"
            + (f" [{', '.join(options)}]" if options else "")
        )
    return "\n".join(lines) if lines else "every translation is reviewed"


@transaction.atomic
def translation_mark_reviewed(
    *,
    taxonomy: Taxonomy,
    language: str,
    reviewer: str,
    codes: list[str] | None = None,
    options: list[str] | None = None,
    reviewed_on: str | None = None,
    actor: AbstractBaseUser | AnonymousUser | None = None,
) -> int:
    """Record that a clinician reviewed the ``language`` translation of the given condition codes and
    management option codes (None: every one in the taxonomy). The text is unchanged (a corrected
    translation is a new taxonomy version); each translation marked is audited. Returns how many."""
    reviewer = (reviewer or "").strip()
    if not reviewer:
        raise TaxonomyError(["review: give the reviewer's name"])
    reviewed_on = reviewed_on or timezone.localdate().isoformat()
    if not DATE_RE.match(reviewed_on):
        raise TaxonomyError([f"review: date {reviewed_on!r} must be YYYY-MM-DD"])
    rows: list[Condition | ManagementOption] = []
    problems: list[str] = []
    for model, wanted, kind in ((Condition, codes, "condition"), (ManagementOption, options, "management option")):
        found = {row.code: row for row in model.objects.select_for_update().filter(taxonomy=taxonomy)}
        selected = list(found) if wanted is None else wanted
        for code in selected:
            row = found.get(code)
            if row is None:
                problems.append(f"{kind} {code}: not in {taxonomy}")
            elif language not in (row.translations or {}):
                if wanted is not None:
                    problems.append(f"{kind} {code}: has no '{language}' translation")
            else:
                rows.append(row)
    if problems:
        raise TaxonomyError(problems)
    for row in rows:
        entry = dict(row.translations[language])
        previous = {k: entry.get(k, "") for k in REVIEW_FIELDS}
        entry.update(status=TranslationStatus.REVIEWED, reviewer=reviewer, reviewed_on=reviewed_on)
        row.translations = {**row.translations, language: entry}
        row.save(update_fields=["translations"])
        audit_record(
            actor=actor,
            action="taxonomy.translation_reviewed",
            obj=taxonomy,
            data={"kind": row._meta.model_name, "code": row.code, "language": language,
                  "text": entry.get("name") or entry.get("label"), "reviewer": reviewer,
                  "reviewed_on": reviewed_on, "previous": previous},
        )
    return len(rows)
