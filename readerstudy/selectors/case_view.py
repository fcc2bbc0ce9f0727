"""The one presenter of a case to a reader: what the reader page and the reader API both show.

A frozen `CaseView` holds the case, its images in reading order (clinical, then dermoscopic, then
other; by their order within a role), the patient texts in the reader's language, and the AI display
as the blinding rule decides it (`ai_display_for_item`: None for an unaided item or a first look).
Neither the page nor the API builds these parts itself, so they cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from catalog.models import Case, CaseImage, ImageRole
from readerstudy.models import ScheduleItem
from readerstudy.selectors.blinding import ai_display_for_item
from readerstudy.services.studies.texts import case_texts

ROLE_ORDER = {ImageRole.CLINICAL: 0, ImageRole.DERMOSCOPIC: 1, ImageRole.OTHER: 2}


@dataclass(frozen=True)
class CaseView:
    case: Case
    images: tuple[CaseImage, ...]
    patient: dict[str, str]
    ai: dict[str, Any] | None
    ai_pending: bool  # a sequential first look: the AI comes after the first answer


def ordered_images(case_id: int) -> list[CaseImage]:
    """The case's images in reading order: clinical, dermoscopic, other; by `order` within a role."""
    images = CaseImage.objects.filter(case_id=case_id).order_by("order", "pk")
    return sorted(images, key=lambda image: (ROLE_ORDER.get(image.role, len(ROLE_ORDER)), image.order, image.pk))


def case_view(item: ScheduleItem) -> CaseView:
    """What the reader is shown of `item` (its study must be the reader's; the caller checked the item is open)."""
    if not (ScheduleItem.case.is_cached(item) and ScheduleItem.arm.is_cached(item)):
        loaded = ScheduleItem.objects.select_related("case", "arm").only("case", "arm").get(pk=item.pk)
        item.case, item.arm = loaded.case, loaded.arm
    return CaseView(
        case=item.case,
        images=tuple(ordered_images(item.case_id)),
        patient=case_texts(item.case),
        ai=ai_display_for_item(item),
        ai_pending=item.study.design == "sequential" and item.phase == 1,
    )
