"""Exports for statisticians: the readings table, schedules, cases with reference labels, model
outputs, and the formats other MRMC tools read (iMRMC, the RJafroc/MRMCaov CSV)."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema

from readerstudy import interchange
from readerstudy.api.errors import ApiError
from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.permissions import STAFF
from readerstudy.api.serializers import (
    ExportQuerySerializer,
    ModelOutputFilterSerializer,
    ModelOutputSerializer,
)
from readerstudy.api.views.base import StudyView, errors, paginate
from readerstudy.models import Study
from readerstudy.services.export import readings_table, schedules_table, to_csv_bytes, to_parquet_bytes

CSV = "text/csv; charset=utf-8"
PARQUET = "application/vnd.apache.parquet"
TEXT = "text/plain; charset=utf-8"


def _readings_csv(study: Study, query: dict) -> bytes:
    return to_csv_bytes(readings_table(study))


def _readings_parquet(study: Study, query: dict) -> bytes:
    return to_parquet_bytes(readings_table(study))


def _schedules_csv(study: Study, query: dict) -> bytes:
    return to_csv_bytes(schedules_table(study))


def _cases_csv(study: Study, query: dict) -> bytes:
    return to_csv_bytes(interchange.cases_table(study.case_set))


def _model_outputs_csv(study: Study, query: dict) -> bytes:
    return to_csv_bytes(interchange.model_outputs_table(study))


def _imrmc(study: Study, query: dict) -> bytes:
    text = interchange.imrmc_text(
        readings_table(study), score=query["score"], truth=query["truth"],
        numeric_case_ids=query["case_ids"] == "numbers",
        description=f"Readerstudy export of study {study.slug}; modalities are the study arms",
    )
    return text.encode("utf-8")


def _rjafroc_csv(study: Study, query: dict) -> bytes:
    return interchange.rjafroc_csv(readings_table(study), score=query["score"], truth=query["truth"]).encode("utf-8")


# name -> (builder, content type, file suffix)
EXPORTS: dict[str, tuple[Callable[[Study, dict], bytes], str, str]] = {
    "readings.csv": (_readings_csv, CSV, "readings.csv"),
    "readings.parquet": (_readings_parquet, PARQUET, "readings.parquet"),
    "schedules.csv": (_schedules_csv, CSV, "schedules.csv"),
    "cases.csv": (_cases_csv, CSV, "cases.csv"),
    "model-outputs.csv": (_model_outputs_csv, CSV, "model-outputs.csv"),
    "imrmc": (_imrmc, TEXT, "imrmc.imrmc"),
    "rjafroc.csv": (_rjafroc_csv, CSV, "rjafroc.csv"),
}


class ExportView(StudyView):
    """Download one export of the study (coordinators and statisticians; readers by pseudonym)."""

    access = {"GET": STAFF}

    @extend_schema(
        operation_id="studies_exports_retrieve",
        parameters=[OpenApiParameter("name", str, OpenApiParameter.PATH, enum=list(EXPORTS)), ExportQuerySerializer],
        responses={(200, "application/octet-stream"): OpenApiResponse(OpenApiTypes.BINARY, description="The file."),
                   **errors(400, 409)},
        tags=["exports"],
    )
    def get(self, request, slug: str, name: str):
        if name not in EXPORTS:
            raise ApiError(f"No export named {name!r}; choose one of {', '.join(EXPORTS)}.", code="not_found",
                           status_code=404)
        query = ExportQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        builder, content_type, suffix = EXPORTS[name]
        try:
            content = builder(self.study, query.validated_data)
        except interchange.InterchangeError as exc:
            raise ApiError(str(exc), code="export_refused", status_code=409) from exc
        response = HttpResponse(content, content_type=content_type)
        response["Content-Disposition"] = f'attachment; filename="{self.study.slug}-{suffix}"'
        return response


class ModelOutputListView(StudyView):
    """The study model's precomputed outputs (never to readers: they see AI only in AI arms)."""

    access = {"GET": STAFF}
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="studies_model_outputs_list", parameters=[ModelOutputFilterSerializer],
                   responses={200: ModelOutputSerializer(many=True), **errors(400)}, tags=["models"])
    def get(self, request, slug: str):
        from readerstudy.selectors.ai import outputs_for_study

        filters = ModelOutputFilterSerializer(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = outputs_for_study(self.study)
        if filters.validated_data.get("case"):
            queryset = queryset.filter(case__key=filters.validated_data["case"])
        return paginate(self, queryset, ModelOutputSerializer)


