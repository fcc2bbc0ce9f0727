"""Shared pieces of the API views."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse
from rest_framework.permissions import IsAuthenticated
from rest_framework.views import APIView

from readerstudy.api.pagination import ApiCursorPagination
from readerstudy.api.permissions import StudyAccess
from readerstudy.api.serializers import ErrorSerializer
from readerstudy.models import Membership, Study

ERROR_DESCRIPTIONS = {
    400: "Invalid input; details name the fields.",
    401: "Not authenticated.",
    403: "Not allowed.",
    404: "Not found, or not yours to see.",
    409: "Refused in the current state (details say why).",
}


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """Schema entries for the error bodies an operation may return (401 and 404 always)."""
    wanted = sorted({401, 404, *codes})
    return {code: OpenApiResponse(ErrorSerializer, description=ERROR_DESCRIPTIONS[code]) for code in wanted}


class NoStoreMixin:
    """API answers carry personal and study data: ``Cache-Control: no-store`` unless a view sets its
    own (case images: private, revalidated by ETag), so no shared cache or back/forward cache keeps them."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        if not response.has_header("Cache-Control"):
            response["Cache-Control"] = "no-store"
        return response


class ApiView(NoStoreMixin, APIView):
    permission_classes = [IsAuthenticated]


class StudyView(NoStoreMixin, APIView):
    """A view under /studies/<slug>/: ``access`` maps methods to the roles (or READER) allowed."""

    permission_classes = [IsAuthenticated, StudyAccess]
    access: dict[str, Any] = {}
    study: Study
    membership: Membership


def paginate(view: APIView, queryset, serializer_class, *, ordering: str = "pk", context: dict | None = None):
    """A cursor-paginated response of ``queryset`` in ``ordering`` (a unique, stable key)."""
    paginator = ApiCursorPagination()
    paginator.ordering = ordering
    page = paginator.paginate_queryset(queryset, view.request, view=view)
    data = serializer_class(page, many=True, context={"request": view.request, **(context or {})}).data
    return paginator.get_paginated_response(data)
