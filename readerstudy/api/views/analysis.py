"""Analysis runs: start a compare analysis (a Celery task), poll its status, fetch results and report."""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response

from readerstudy.api.errors import ApiError
from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.permissions import STAFF
from readerstudy.api.serializers import (
    AnalysisRunCreateSerializer,
    AnalysisRunResultsSerializer,
    AnalysisRunSerializer,
)
from readerstudy.api.views.base import StudyView, errors, paginate
from readerstudy.http import attachment
from readerstudy.models import AnalysisRun
from readerstudy.services.analysis_runs import AnalysisRunError, analysis_run_start

TAG = ["analysis"]


class AnalysisRunListView(StudyView):
    access = {"GET": STAFF, "POST": STAFF}
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="studies_analysis_runs_list",
                   responses={200: AnalysisRunSerializer(many=True), **errors()}, tags=TAG)
    def get(self, request, slug: str):
        return paginate(self, AnalysisRun.objects.filter(study=self.study), AnalysisRunSerializer, ordering="-pk")

    @extend_schema(operation_id="studies_analysis_runs_create", request=AnalysisRunCreateSerializer,
                   responses={202: AnalysisRunSerializer, **errors(400)}, tags=TAG)
    def post(self, request, slug: str):
        form = AnalysisRunCreateSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        try:
            run = analysis_run_start(study=self.study, actor=request.user, **form.validated_data)
        except AnalysisRunError as exc:
            raise ApiError(str(exc), details={"problems": str(exc).split("; ")}) from exc
        run.refresh_from_db()
        return Response(AnalysisRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class _RunView(StudyView):
    access = {"GET": STAFF}

    def run(self, run_id: int) -> AnalysisRun:
        return get_object_or_404(AnalysisRun, study=self.study, pk=run_id)


class AnalysisRunDetailView(_RunView):
    @extend_schema(operation_id="studies_analysis_runs_retrieve", responses={200: AnalysisRunSerializer, **errors()},
                   tags=TAG)
    def get(self, request, slug: str, run_id: int):
        return Response(AnalysisRunSerializer(self.run(run_id)).data)


class AnalysisRunResultsView(_RunView):
    @extend_schema(operation_id="studies_analysis_runs_results",
                   responses={200: AnalysisRunResultsSerializer, **errors(409)}, tags=TAG)
    def get(self, request, slug: str, run_id: int):
        run = self.run(run_id)
        if run.results is None:
            raise ApiError(f"The analysis is {run.status}; results come when it is done.", code="not_ready",
                           status_code=409, details={"status": run.status, "error": run.error or None})
        return Response(AnalysisRunResultsSerializer({"id": run.pk, "status": run.status, "results": run.results}).data)


class AnalysisRunReportView(_RunView):
    @extend_schema(operation_id="studies_analysis_runs_report",
                   responses={(200, "text/html"): OpenApiResponse(OpenApiTypes.STR, description="Self-contained report."),
                              **errors(409)}, tags=TAG)
    def get(self, request, slug: str, run_id: int):
        run = self.run(run_id)
        if not run.report_path or not default_storage.exists(run.report_path):
            raise ApiError(f"The analysis is {run.status}; the report comes when it is done.", code="not_ready",
                           status_code=409)
        with default_storage.open(run.report_path, "rb") as handle:
            content = handle.read()
        return attachment(content, f"{self.study.slug}-analysis-{run.pk}.html", "text/html; charset=utf-8")
