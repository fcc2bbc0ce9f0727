"""The one blinding rule: which items are open to a reader now, whether an item shows AI, and what
its AI display is (:func:`ai_display_for_item`), and which reference and images a reader may see.

Every page, partial, API operation, image (case and library) and the reading's snapshot ask here.
The shaping of the precomputed displays lives in :mod:`readerstudy.selectors.ai_display`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils.translation import gettext as _

from catalog.models import CaseImage
from inference.core.ranking import all_ranked, ranked_codes
from inference.models import ModelOutput, OutputStatus
from readerstudy.models import ArmKind, Design, Membership, Reading, ScheduleItem, StudyStatus
from readerstudy.selectors import ai_display as displays
from readerstudy.selectors.position import reader_ready, reading_for_item, session2_open, study_settings_for
from readerstudy.selectors.taxonomy import condition_names, management_options

# Uncalibrated scores are shown as coarse bands, never as percentages (they are not probabilities).
BAND_THRESHOLDS = (("high", 0.6), ("moderate", 0.3), ("low", 0.0))


BAND_LEVEL = {"high": 3, "moderate": 2, "low": 1}


OPEN_FLAG = "_reader_open_now"


class ItemNotOpen(Http404):
    """A schedule item that is not open to its reader now was about to be shown, timed or answered.

    A 404 (never rendered): every path that shows an item checks :func:`item_is_open` first."""


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
    """The AI display of an AI item, whoever asks (callers: :func:`ai_display_for_item` and tests).

    The arm's own model (``Arm.model_version``, else the study's). Besides the differential rows,
    an arm whose display is not the differential gets ``payload``: the ``faulty`` variant of the
    precomputed display when the item shows a faulty suggestion (coherent with the wrong top-1),
    else ``normal``, shaped with the arm's options. None while an output is missing (never a
    different display than the arm's)."""
    study = item.study
    arm = item.arm
    model = arm.model_version if arm.model_version_id else study.model_version
    if model is None:
        return None
    taxonomy_id = study.case_set.taxonomy_id
    output = ModelOutput.objects.filter(
        case_id=item.case_id, model_version=model, taxonomy_id=taxonomy_id, status=OutputStatus.DONE
    ).first()
    if output is None:
        return None
    options = study_settings_for(study).ai
    assist = arm.assist or {}
    kind = displays.display_kind(assist)
    top_k = int(assist.get("top_k") or options.top_k)
    show_probabilities = bool(assist.get("show_probabilities", options.show_probabilities)) and model.calibrated
    probabilities = {str(code): float(p) for code, p in (output.probabilities or {}).items()}
    codes = ranked_codes(probabilities, output.top_codes)
    faulty = _shows_faulty(item, float(assist.get("faulty_rate") or 0.0))
    if faulty:
        codes = _without_reference(item, codes, probabilities)
    codes = codes[:top_k]
    extra: dict[str, Any] = {}
    if kind != displays.DIFFERENTIAL:
        extra = _display_part(item, model, kind, assist, "faulty" if faulty else "normal")
        if extra is None:
            return None
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
        "display": kind,
        "show_differential": kind in displays.WITH_DIFFERENTIAL,
        "on_request": bool(assist.get("on_request")),
        **extra,
    }


def _display_part(item: ScheduleItem, model: Any, kind: str, assist: dict[str, Any],
                  variant: str) -> dict[str, Any] | None:
    """``variant``, ``display_output_id`` and the shaped ``payload`` of the arm's display, or None."""
    study = item.study
    row = displays.display_output(model=model, case_id=item.case_id, kind=kind, library_id=study.reference_library_id)
    raw = (row.payload or {}).get(variant) if row is not None else None
    if not isinstance(raw, dict):
        return None
    names = condition_names(study, displays.payload_codes(kind, raw))
    query_images: dict[str, int] = {}
    if kind == "similar_cases":
        query_images = dict(CaseImage.objects.filter(case_id=item.case_id).values_list("sha256", "pk"))
    payload = displays.shape(kind, raw, assist, names, query_images)
    return {"variant": variant, "display_output_id": row.pk, "payload": payload}


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
    return [code for code in all_ranked(probabilities, codes) if code != truth]


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


def item_may_view_image(membership: Membership, image_case_id: int) -> bool:
    """Images of cases the reader has been shown (their current case included)."""
    return ScheduleItem.objects.filter(
        membership=membership, case_id=image_case_id, shown_at__isnull=False
    ).exists()


def library_image_shown(membership: Membership, image_id: int) -> bool:
    """Whether library image `image_id` is in the display of an item shown with AI to the reader now
    (open, on screen, an AI item): the only way a reader reaches a reference-library image."""
    membership_items = open_items(membership).filter(shown_at__isnull=False).select_related("arm", "case")
    for item in membership_items:
        item.study = membership.study
        if not item_shows_ai(item) or displays.display_kind(item.arm.assist or {}) not in (
                "similar_cases", "learned_concepts"):
            continue
        if image_id in displays.library_image_ids(_ai_display(item)):
            return True
    return False
