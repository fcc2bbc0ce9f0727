"""Exports for statisticians: the readings table, schedules, cases with reference labels, model
outputs, and the formats other MRMC tools read (iMRMC, the RJafroc/MRMCaov CSV)."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from readerstudy.api.errors import ApiError
from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.permissions import STAFF
from readerstudy.api.serializers import (
    ExportQuerySerializer,
    ModelOutputFilterSerializer,
    ModelOutputSerializer,
)
from readerstudy.api.views.base import StudyView, errors, paginate
from readerstudy.exports.files import API_EXPORTS, export_file
from readerstudy.exports.formats import InterchangeError
from readerstudy.http import attachment
from readerstudy.selectors.ai import outputs_for_study


class ExportView(StudyView):
    """Download one export of the study (coordinators and statisticians; readers by pseudonym)."""

    access = {"GET": STAFF}

    @extend_schema(
        operation_id="studies_exports_retrieve",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(API_EXPORTS)), ExportQuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
                   **errors(400, 409)},
        tags=["exports"],
    )
    def get(self, request, slug: str, name: str):
        if name not in API_EXPORTS:
            raise ApiError(f"No export named {name!r}; choose one of {', '.join(API_EXPORTS)}.", code="not_found",
                           status_code=404)
        query = ExportQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        try:
            exported = export_file(study=self.study, name=name, actor=request.user, query=query.validated_data,
                                   via="api")
        except InterchangeError as exc:
            raise ApiError(str(exc), code="export_refused", status_code=409) from exc
        return attachment(exported.content, exported.filename, exported.content_type)


class ModelOutputListView(StudyView):
    """The study model's precomputed outputs (never to readers: they see AI only in AI arms)."""

    access = {"GET": STAFF}
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="studies_model_outputs_list", parameters=[ModelOutputFilterSerializer],
                   responses={200: ModelOutputSerializer(many=True), **errors(400)}, tags=["models"])
    def get(self, request, slug: str):
        filters = ModelOutputFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = outputs_for_study(self.study)
        if filters.validated_data.get("case"):
            queryset = queryset.filter(case__key=filters.validated_data["case"])
        return paginate(self, queryset, ModelOutputSerializer)


