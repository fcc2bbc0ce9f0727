"""The case page's heavy parts (images and AI panel, patient, answer fields), rendered once per
process for exactly what each depends on and kept in the per-process "fragments" cache, so a case
read by many readers renders its images and AI panel once. Tested beside it in
tests/readerstudy_tests/test_case_fragments.py.

The content of the media and patient parts comes from the one case presenter
(:func:`readerstudy.selectors.case_view.case_view`), as the reader API's does.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from django.core.cache import caches
from django.template.loader import render_to_string
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language, gettext_lazy

from catalog.taxonomy_format import OTHER_CODE, OTHER_LABEL
from readerstudy.core.study_settings import StudySettings
from readerstudy.models import ScheduleItem
from readerstudy.selectors.blinding import (
    item_shows_ai,
)
from readerstudy.selectors.case_view import case_view
from readerstudy.selectors.position import (
    phase1_reading,
)
from readerstudy.selectors.taxonomy import condition_names, management_options

CONFIDENCE_LABELS = {1: gettext_lazy("Very unsure"), 2: gettext_lazy("Unsure"), 3: gettext_lazy("Neutral"),
                     4: gettext_lazy("Sure"), 5: gettext_lazy("Very sure")}


def _slots(top_k: int, codes: list[str], names: dict[str, str]) -> list[dict[str, Any]]:
    codes = (codes + [""] * top_k)[:top_k]
    return [{"index": i, "code": c, "name": names.get(c, "")} for i, c in enumerate(codes, start=1)]


CASE_PARTS = {"media": "reader/_case_media.html", "patient": "reader/_patient.html",
              "answer": "reader/_answer_fields.html"}


def part_keys(item: ScheduleItem) -> dict[str, str | None]:
    """The cache key of each part: exactly what the part's content is a function of.

    - media (images, AI panel or its placeholder): the case, the arm and the phase (so AI output
      only reaches the arms and phases that show it) and the study's locked configuration (design,
      seed, settings, model and its display flags) and the study's reference library; the arm's
      display options and own model are locked at launch with it, so the arm id names them. Shared by
      every reader of that case in that arm;
    - patient: the case;
    - answer fields: the study's configuration and the phase; a second look shows the reader's own
      locked first answer, so it is not kept (None): it would fill the cache with parts shown once.

    Cases, images, taxonomies and readings never change; shown AI outputs are frozen, and the model of
    a launched study cannot be recalibrated.
    """
    study = item.study
    model = study.model_version
    # The arm (its display, options and own model) is locked with the study at launch, so its id in
    # the key below names it; loading it here would cost a query on every page.
    basis = [study.pk, study.slug, study.design, study.seed, study.case_set_id, study.settings,
             [model.pk, model.name, model.kind, model.calibrated] if model else None,
             study.reference_library_id]
    study_key = hashlib.blake2b(json.dumps(basis, sort_keys=True, default=str).encode(), digest_size=12).hexdigest()
    lang = get_language() or ""  # every part's words are in the reader's language
    return {
        "media": f"case-media:{lang}:{study_key}:{item.case_id}:{item.arm_id}:{item.phase}",
        "patient": f"case-patient:{lang}:{item.case_id}",
        "answer": f"case-answer:{lang}:{study_key}:{item.phase}" if item.phase == 1 else None,
    }


def case_parts(item: ScheduleItem, options: StudySettings, *, errors: dict[str, list[str]] | None,
                posted: dict[str, Any] | None) -> dict[str, SafeString]:
    """The heavy parts of the case page (images and AI panel, patient, answer fields), each rendered
    once per process for what it depends on (see :func:`part_keys`) and kept in the
    per-process "fragments" cache; so a case read by many readers renders its images and AI panel once.

    A form shown again with errors is rendered fresh and not kept. Nothing request-specific (CSRF
    token, idempotency key, progress, timer, skip link) is in the parts.
    """
    cache = caches["fragments"]
    fresh = errors is not None or posted is not None
    keys = part_keys(item)
    held = {} if fresh else cache.get_many([key for key in keys.values() if key])
    parts = {name: mark_safe(held[key]) for name, key in keys.items() if key in held}  # noqa: S308 - ours
    missing = [name for name in CASE_PARTS if name not in parts]
    if not missing:
        return parts
    study = item.study
    context: dict[str, Any] = {"study": study, "item": item, "options": options}
    if "media" in missing or "patient" in missing:
        view = case_view(item)
        # history and labels in the reader's language when given
        context.update(case=view.case, patient=view.patient, images=list(view.images), ai=view.ai,
                       ai_pending=view.ai_pending)
    if "answer" in missing:
        _answer_context(item, options, context, errors=errors, posted=posted)
    rendered = {name: render_to_string(CASE_PARTS[name], context) for name in missing}
    # Not kept: an AI item whose output is not there yet (it may arrive).
    if not fresh and "media" in rendered and context["ai"] is None and item_shows_ai(item):
        del keys["media"]
    if not fresh:
        cache.set_many({keys[name]: str(html) for name, html in rendered.items() if keys.get(name)})
    return {**parts, **rendered}


def _answer_context(item: ScheduleItem, options: StudySettings, context: dict[str, Any], *,
                    errors: dict[str, list[str]] | None, posted: dict[str, Any] | None) -> None:
    """Fill `context` for the answer fields: the posted answer (re-shown with errors), else the locked
    first answer of a second look, else an empty form."""
    first = phase1_reading(item)
    if posted is not None:
        answer = {"differential": [c for c in posted["differential"] if c], "confidence": posted["confidence"],
                  "management": posted["management"], "malignancy": posted["malignancy"],
                  "other_text": posted.get("other_text", "")}
    elif first is not None:
        answer = {"differential": list(first.differential), "confidence": first.confidence,
                  "management": first.management, "malignancy": first.malignancy_score,
                  "other_text": first.other_text}
    else:
        answer = {"differential": [], "confidence": None, "management": "", "malignancy": None, "other_text": ""}
    shown_codes = list(answer["differential"]) + (list(first.differential) if first else [])
    names = {OTHER_CODE: OTHER_LABEL, **condition_names(item.study, shown_codes)}
    management = management_options(item.study)
    management_labels = {m.code: m.label for m in management}
    context.update(
        first=first,
        first_answer=[names.get(c, c) for c in first.differential] if first else [],
        first_management=management_labels.get(first.management, "") if first else "",
        slots=_slots(options.top_k, [str(c) for c in answer["differential"]], names),
        confidence=str(answer["confidence"] or ""),
        confidence_choices=list(CONFIDENCE_LABELS.items()),
        management=management,
        management_value=answer["management"] or "",
        malignancy="" if answer["malignancy"] in (None, "") else str(answer["malignancy"]),
        other_text=answer["other_text"] or "",
        other_code=OTHER_CODE,
        errors=errors or {},
    )
