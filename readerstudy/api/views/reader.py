"""A reader's own endpoints: their schedule, their next case, the images of cases shown to them.

Blinding: the case comes without its key, reference or extra metadata, and AI output only as
:func:`readerstudy.selectors.blinding.ai_display_for_item` decides (AI arms, never sequential phase 1).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef
from django.http import Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.response import Response

from catalog.models import CaseImage
from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.permissions import READER
from readerstudy.api.serializers import NextItemSerializer, ScheduleItemSerializer
from readerstudy.api.views.base import StudyView, errors, paginate
from readerstudy.models import Reading, ScheduleItem
from readerstudy.selectors.ai_display import with_image_urls
from readerstudy.selectors.blinding import item_is_open, item_may_view_image, library_image_shown
from readerstudy.selectors.case_view import case_view
from readerstudy.selectors.position import (
    phase1_reading,
    reader_position,
    study_settings_for,
    washout_pending,
)
from readerstudy.selectors.steps import reader_schedule_so_far, reader_state
from readerstudy.selectors.taxonomy import management_options
from readerstudy.services.reader_flow import item_mark_shown
from readerstudy.views.files import case_image_response

TAG = ["reader"]


class ScheduleView(StudyView):
    """The reader's own schedule so far: the items already shown to them (answered or not), in order.

    Allocation stays concealed: items not yet shown are not listed, and no item says its arm; the
    reader learns only what each case showed them (``ai_shown``)."""

    access = {"GET": READER}
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="studies_schedule_list", responses={200: ScheduleItemSerializer(many=True),
                                                                     **errors()}, tags=TAG)
    def get(self, request, slug: str):
        queryset = (reader_schedule_so_far(self.membership)
                    .annotate(answered=Exists(Reading.objects.filter(schedule_item=OuterRef("pk"))),
                              ai_shown=Exists(Reading.objects.filter(schedule_item=OuterRef("pk"),
                                                                     ai_snapshot__isnull=False))))
        return paginate(self, queryset, ScheduleItemSerializer, ordering="position")


class NextItemView(StudyView):
    """The reader's next step and, when it is a case open to them now, the case to read.

    Fetching the case starts its clock (the shown time is set once, as when the page shows it).
    During a crossover washout the step is ``wait`` with ``opens_at``: nothing is shown or timed.
    """

    access = {"GET": READER}

    @extend_schema(operation_id="studies_schedule_next", responses={200: NextItemSerializer, **errors()}, tags=TAG)
    def get(self, request, slug: str):
        membership = self.membership
        step, position = reader_state(membership)
        if position is None:  # not reading yet (or paused, closed): progress only
            position = reader_position(membership)
        progress = position.progress
        item = position.item if step == "case" else None
        opens_at = None
        if item is not None and not item_is_open(membership, item):
            step, opens_at, item = "wait", washout_pending(membership, item), None
        body = {"step": step, "done": progress.done, "total": progress.total,
                "form": self._form(), "item": self._item(item) if item is not None else None}
        if step == "wait":
            body["opens_at"] = opens_at
        return Response(NextItemSerializer(body).data)

    def _form(self) -> dict:
        parsed = study_settings_for(self.study)
        return {
            "top_k": parsed.top_k, "ask_confidence": parsed.ask_confidence,
            "ask_management": parsed.ask_management, "ask_malignancy": parsed.ask_malignancy,
            "time_limit_s": parsed.time_limit_s,
            "management_options": [{"code": o.code, "label": o.label}
                                   for o in management_options(self.study)],
        }

    def _item(self, item: ScheduleItem) -> dict:
        item.study = self.study
        shown_at = item_mark_shown(item=item)
        previous = phase1_reading(item)
        view = case_view(item)  # the same presenter as the case page: images, patient, AI display
        return {
            # "arm" says what this case shows (the arm's kind), never the arm's name or settings.
            "id": item.pk, "position": item.position, "phase": item.phase, "session": item.session,
            "arm": "ai" if view.ai is not None else "unaided", "shown_at": shown_at, "case": view.case,
            "images": [self._image(image) for image in view.images],
            "ai": with_image_urls(view.ai, self._library_url),
            "phase1_answer": None if previous is None else {
                "differential": list(previous.differential), "confidence": previous.confidence,
                "management": previous.management, "malignancy_score": previous.malignancy_score,
            },
        }

    def _library_url(self, image_id: int) -> str:
        return self.request.build_absolute_uri(
            reverse("api:reader-library-image", kwargs={"slug": self.study.slug, "image_id": image_id}))

    def _image(self, image: CaseImage) -> dict:
        url = self.request.build_absolute_uri(
            reverse("api:reader-image", kwargs={"slug": self.study.slug, "image_id": image.pk}))
        return {"id": image.pk, "role": image.role, "width": image.width, "height": image.height,
                "url": f"{url}?size=full", "thumbnail_url": url}


class ReaderImageView(StudyView):
    """A case image, for a reader who has been shown that case."""

    access = {"GET": READER}

    @extend_schema(
        operation_id="studies_images_retrieve",
        parameters=[OpenApiParameter("size", str, enum=["thumb", "full"], required=False)],
        responses={(200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The image."), **errors()},
        tags=TAG,
    )
    def get(self, request, slug: str, image_id: int):
        picture = CaseImage.objects.filter(pk=image_id).only("case_id", "file", "thumbnail", "sha256").first()
        if picture is None or not item_may_view_image(self.membership, picture.case_id):
            raise Http404("No such image")
        return case_image_response(request, picture, full=request.query_params.get("size") == "full")


class ReaderLibraryImageView(StudyView):
    """A reference-library image, only while it is in the AI display of an item shown to the reader now."""

    access = {"GET": READER}

    @extend_schema(
        operation_id="studies_library_images_retrieve",
        parameters=[OpenApiParameter("size", str, enum=["thumb", "full"], required=False)],
        responses={(200, "image/*"): OpenApiResponse(OpenApiTypes.BINARY, description="The image."), **errors()},
        tags=TAG,
    )
    def get(self, request, slug: str, image_id: int):
        picture = CaseImage.objects.filter(pk=image_id).only("case_id", "file", "thumbnail", "sha256").first()
        if picture is None or not library_image_shown(self.membership, picture.pk):
            raise Http404("No such image")
        return case_image_response(request, picture, full=request.query_params.get("size") == "full")
