"""TODO docstring."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import get_language

from catalog.models import Condition, ConditionGroup, ManagementOption, Taxonomy
from catalog.services.taxonomy import localized_condition, translation_language
from readerstudy.models import Study

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
