"""Taxonomies, case sets and cases, model versions: what studies are built from."""

from __future__ import annotations

from pathlib import Path

from django.db.models import Count
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response

from catalog.models import Case, Taxonomy
from catalog.services.case_import import CaseImportError, case_import_uploads
from catalog.services.taxonomy import taxonomy_to_dict
from readerstudy.api.errors import ApiError
from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.serializers import (
    CaseSerializer,
    CaseSetImportResultSerializer,
    CaseSetImportSerializer,
    CaseSetSerializer,
    ModelVersionSerializer,
    TaxonomyDetailSerializer,
    TaxonomySerializer,
)
from readerstudy.api.views.base import ApiView, errors, paginate
from readerstudy.permissions import case_sets_for_user, may_import_cases, model_versions_for_user

MAX_UPLOAD_SUFFIXES = {"manifest": {".csv", ".json"}, "images": {".zip"}}


class TaxonomyListView(ApiView):
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="taxonomies_list", responses={200: TaxonomySerializer(many=True), **errors()},
                   tags=["taxonomies"])
    def get(self, request):
        queryset = Taxonomy.objects.annotate(n_conditions=Count("conditions"))
        return paginate(self, queryset, TaxonomySerializer)


class TaxonomyDetailView(ApiView):
    @extend_schema(operation_id="taxonomies_retrieve", responses={200: TaxonomyDetailSerializer, **errors()},
                   tags=["taxonomies"])
    def get(self, request, pk: int):
        taxonomy = get_object_or_404(Taxonomy, pk=pk)  # taxonomies are public to every signed-in user
        return Response(TaxonomyDetailSerializer({"id": taxonomy.pk, **taxonomy_to_dict(taxonomy)}).data)


class CaseSetListView(ApiView):
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="case_sets_list", responses={200: CaseSetSerializer(many=True), **errors()},
                   tags=["case sets"])
    def get(self, request):
        queryset = case_sets_for_user(request.user).annotate(n_cases=Count("cases"))
        return paginate(self, queryset, CaseSetSerializer)


class CaseSetDetailView(ApiView):
    @extend_schema(operation_id="case_sets_retrieve", responses={200: CaseSetSerializer, **errors()},
                   tags=["case sets"])
    def get(self, request, pk: int):
        case_set = get_object_or_404(case_sets_for_user(request.user).annotate(n_cases=Count("cases")), pk=pk)
        return Response(CaseSetSerializer(case_set).data)


class CaseListView(ApiView):
    """The cases of a set with their reference labels (coordinators and statisticians only)."""

    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="case_sets_cases_list", responses={200: CaseSerializer(many=True), **errors()},
                   tags=["case sets"])
    def get(self, request, pk: int):
        case_set = get_object_or_404(case_sets_for_user(request.user), pk=pk)
        queryset = (Case.objects.filter(case_set=case_set)
                    .select_related("reference", "reference_management").prefetch_related("images"))
        return paginate(self, queryset, CaseSerializer)


class CaseSetImportView(ApiView):
    """Import a case set: a manifest and a zip of images, all or nothing (as on the import page)."""

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(operation_id="case_sets_import", request={"multipart/form-data": CaseSetImportSerializer},
                   responses={201: CaseSetImportResultSerializer, 200: CaseSetImportResultSerializer,
                              **errors(400, 403)}, tags=["case sets"])
    def post(self, request):
        if not may_import_cases(request.user):
            raise PermissionDenied("Importing cases needs the coordinator's case-import permission.")
        form = CaseSetImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        data = form.validated_data
        for name, allowed in MAX_UPLOAD_SUFFIXES.items():
            if Path(data[name].name).suffix.lower() not in allowed:
                raise ApiError(f"The {name} must be a {' or '.join(sorted(allowed))} file.",
                               details={name: [f"expected {' or '.join(sorted(allowed))}"]})
        try:
            report = case_import_uploads(manifest=data["manifest"], images=data["images"],
                                         case_set_name=data["name"], taxonomy=data["taxonomy"],
                                         actor=request.user, description=data.get("description", ""))
        except CaseImportError as exc:
            raise ApiError(f"{len(exc.problems)} problem(s); nothing was imported.", code="import_failed",
                           details={"problems": [{"row": p.row, "field": p.field, "message": p.message}
                                                 for p in exc.problems]}) from exc
        case_set = report.case_set
        case_set.n_cases = report.n_cases
        body = CaseSetImportResultSerializer({
            "case_set": case_set, "created": report.created, "n_cases": report.n_cases,
            "n_images": report.n_images, "messages": report.messages,
        }).data
        return Response(body, status=status.HTTP_201_CREATED if report.created else status.HTTP_200_OK)


class ModelVersionListView(ApiView):
    pagination_class = ApiCursorPagination

    @extend_schema(operation_id="model_versions_list", responses={200: ModelVersionSerializer(many=True), **errors()},
                   tags=["models"])
    def get(self, request):
        return paginate(self, model_versions_for_user(request.user), ModelVersionSerializer)


class ModelVersionDetailView(ApiView):
    @extend_schema(operation_id="model_versions_retrieve", responses={200: ModelVersionSerializer, **errors()},
                   tags=["models"])
    def get(self, request, pk: int):
        return Response(ModelVersionSerializer(get_object_or_404(model_versions_for_user(request.user), pk=pk)).data)

