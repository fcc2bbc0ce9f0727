"""Readings: a reader submits (idempotent); coordinators and statisticians list them."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from readerstudy.api.errors import ApiError, django_validation_details
from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.permissions import READER, STAFF
from readerstudy.api.serializers import (
    ReadingFilterSerializer,
    ReadingReceiptSerializer,
    ReadingSerializer,
    ReadingSubmitSerializer,
)
from readerstudy.api.views.base import StudyView, errors, paginate
from readerstudy.models import Reading
from readerstudy.permissions import assignment_for_reader
from readerstudy.selectors.steps import reader_next_step
from readerstudy.services.readings import ReadingRefused, reading_submit

TAG = ["readings"]
BEFORE_CASES = {"consent", "demographics", "instructions"}
FILTERS = {
    "reader": "schedule_item__membership__pseudonym",
    "case": "schedule_item__case__key",
    "arm": "schedule_item__arm__name",
    "phase": "schedule_item__phase",
    "session": "schedule_item__session",
    "training": "schedule_item__training",
    "submitted_after": "submitted_at__gte",
    "submitted_before": "submitted_at__lt",
}


class ReadingListView(StudyView):
    access = {"GET": STAFF, "POST": READER}
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="studies_readings_list", parameters=[ReadingFilterSerializer],
                   responses={200: ReadingSerializer(many=True), **errors(400)}, tags=TAG)
    def get(self, request, slug: str):
        filters = ReadingFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        lookups = {FILTERS[name]: value for name, value in filters.validated_data.items() if value is not None}
        queryset = (Reading.objects.filter(schedule_item__study=self.study, **lookups)
                    .select_related("schedule_item__membership", "schedule_item__case", "schedule_item__arm", "site"))
        return paginate(self, queryset, ReadingSerializer)

    @extend_schema(
        operation_id="studies_readings_create",
        request=ReadingSubmitSerializer,
        parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER, required=False,
                                     description="A UUID; a retry with the same key returns the first reading.")],
        responses={201: ReadingReceiptSerializer, 200: ReadingReceiptSerializer, **errors(400, 409)},
        tags=TAG,
    )
    def post(self, request, slug: str):
        form = ReadingSubmitSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = dict(form.validated_data)
        # The key is checked by the service after the turn (an item not open is refused first).
        key = data.pop("idempotency_key", None) or request.headers.get("Idempotency-Key")
        if reader_next_step(self.membership) in BEFORE_CASES:
            raise ApiError("Finish consent, the questions about you and the instructions first.",
                           code="not_ready", status_code=status.HTTP_409_CONFLICT)
        item = assignment_for_reader(self.membership, data.pop("item"))
        try:
            reading, created = reading_submit(membership=self.membership, item=item, payload=data,
                                              idempotency_key=key)
        except ReadingRefused as exc:
            raise ApiError(exc.message, code=exc.code, status_code=status.HTTP_409_CONFLICT) from exc
        except ValidationError as exc:
            raise ApiError("The answer is incomplete or invalid.", details=django_validation_details(exc)) from exc
        body = ReadingReceiptSerializer({**_receipt(reading), "created": created}).data
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


def _receipt(reading: Reading) -> dict:
    return {name: getattr(reading, name) for name in (
        "id", "schedule_item_id", "idempotency_key", "differential", "confidence", "management",
        "malignancy_score", "other_text", "submitted_at", "timed_out")}
