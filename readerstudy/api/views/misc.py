"""The API index, who am I, the readings import (interchange) and a JSON 404 for unknown API paths."""

from __future__ import annotations

import json

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from readerstudy.api.errors import ApiError
from readerstudy.api.serializers import MeSerializer, ReadingsImportResultSerializer, ReadingsImportSerializer
from readerstudy.api.views.base import ApiView, errors
from readerstudy.exports.readings_import import readings_import
from readerstudy.models import Membership
from readerstudy.permissions import manages_anything, may_create_studies, may_import_cases

MAX_IMPORT_BYTES = 50 * 1024 * 1024
PREVIEW_ROWS = 10


class MeView(ApiView):
    @extend_schema(operation_id="me_retrieve", responses={200: MeSerializer, **errors()}, tags=["me"])
    def get(self, request):
        memberships = Membership.objects.filter(user=request.user).select_related("study").order_by("study__slug")
        return Response(MeSerializer({
            "username": request.user.get_username(), "is_staff": request.user.is_staff,
            "memberships": [{"study": m.study.slug, "role": m.role, "pseudonym": m.pseudonym} for m in memberships],
        }).data)


def may_use_interchange(user) -> bool:
    return manages_anything(user) or may_create_studies(user) or may_import_cases(user)


class ReadingsImportView(ApiView):
    """Map a long CSV of readings collected elsewhere onto the readings table and validate it.

    Nothing is stored: the answer carries the validation report, a preview and, when every row is
    valid, the readings table as CSV for ``python -m analysis``.
    """

    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(operation_id="interchange_readings_import",
                   request={"multipart/form-data": ReadingsImportSerializer},
                   responses={200: ReadingsImportResultSerializer, **errors(400, 403)}, tags=["interchange"])
    def post(self, request):
        if not may_use_interchange(request.user):
            raise PermissionDenied("The readings import is for coordinators and statisticians.")
        form = ReadingsImportSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        upload = form.validated_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise ApiError(f"The file is larger than {MAX_IMPORT_BYTES // 2**20} MB.", details={"file": ["too large"]})
        mapping = None
        if form.validated_data.get("mapping"):
            try:
                mapping = json.loads(form.validated_data["mapping"])
            except json.JSONDecodeError as exc:
                raise ApiError("The mapping is not JSON.", details={"mapping": [str(exc)]}) from exc
            if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
                raise ApiError("The mapping must be a JSON object of column names.",
                               details={"mapping": ["expected {contract column: file column}"]})
        result = readings_import(upload.read(), mapping, study=form.validated_data.get("study") or "imported")
        preview = result.table.head(PREVIEW_ROWS).astype(object).where(result.table.head(PREVIEW_ROWS).notna(), None)
        return Response(ReadingsImportResultSerializer({
            "columns": result.columns, "mapping": result.mapping, "n_rows": result.n_rows, "ok": result.ok,
            "problems": [{"row": p.row, "field": p.field, "message": p.message} for p in result.problems],
            "preview": preview.to_dict(orient="records"),
            "csv": result.csv_bytes().decode("utf-8") if result.ok else None,
        }).data)


class ApiIndexView(ApiView):
    """``GET /api/v1/``: where things are (no login needed; every operation itself still checks access)."""

    permission_classes = [AllowAny]
    schema = None

    def get(self, request):
        def url(name: str, **kwargs) -> str:
            return request.build_absolute_uri(reverse(f"api:{name}", kwargs=kwargs or None))

        return Response({
            "name": "Readerstudy API", "version": "v1",
            "authentication": "Authorization: Token <key> (manage.py api_token USERNAME), or a logged-in session",
            "errors": '{"error": {"code", "message", "details"}}',
            "schema": url("schema"), "docs": url("docs"), "redoc": url("redoc"),
            "endpoints": {
                "me": url("me"), "taxonomies": url("taxonomy-list"), "case_sets": url("case-set-list"),
                "case_set_import": url("case-set-import"), "model_versions": url("model-version-list"),
                "studies": url("study-list"), "readings_import": url("readings-import"),
            },
        })


class ApiNotFoundView(ApiView):
    permission_classes = [AllowAny]
    schema = None

    def _missing(self, request, *args, **kwargs):
        raise NotFound("No such API endpoint.")

    get = post = put = patch = delete = _missing
