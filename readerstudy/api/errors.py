"""One error body for every API failure: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from readerstudy.middleware import DATABASE_FAULTS
from readerstudy.services.studies import StudyError, StudyInvalid

logger = logging.getLogger("readerstudy.api")


class ApiError(exceptions.APIException):
    """A refusal with an explicit status, a stable machine-readable code and optional details."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "invalid"

    def __init__(self, message: str, *, code: str = "invalid", status_code: int = 400, details: Any = None):
        super().__init__(detail=message, code=code)
        self.status_code = status_code
        self.error_code = code
        self.details = details


def study_refused(exc: StudyError, *, status_code: int = status.HTTP_409_CONFLICT) -> ApiError:
    """A study service refusal (lifecycle or configuration), with its sentences as details.

    Invalid input (:class:`StudyInvalid`: settings, arms) is always a 400 whose details name the
    fields (``{"fields": {"settings.top_k": [...]}}``); other refusals keep ``status_code``.
    """
    message = exc.problems[0] if len(exc.problems) == 1 else "The study refused the change."
    if isinstance(exc, StudyInvalid):
        return ApiError(message, code="invalid", status_code=status.HTTP_400_BAD_REQUEST,
                        details={"problems": exc.problems, "fields": exc.fields})
    return ApiError(message, code="study_refused", status_code=status_code, details={"problems": exc.problems})


def django_validation_details(exc: DjangoValidationError) -> Any:
    if hasattr(exc, "error_dict"):
        return {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
    return {"non_field_errors": [str(m) for m in exc.messages]}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's handler, with Django's exceptions translated and the body reshaped.

    Every failure answers in the documented shape: hostile input Python itself chokes on (JSON
    nested past the recursion limit, an oversized body) is a 400, and an unexpected exception is
    logged and answered with a JSON 500 (never Django's HTML page); database faults are left to
    the middleware's 503.
    """
    if isinstance(exc, RecursionError):
        exc = ApiError("The request body is nested too deeply.", code="parse_error")
    elif isinstance(exc, SuspiciousOperation):
        exc = ApiError(str(exc) or "The request was refused.", code="bad_request")
    if isinstance(exc, DjangoValidationError):
        exc = ApiError("The request is invalid.", code="invalid", details=django_validation_details(exc))
    elif isinstance(exc, StudyError):
        exc = study_refused(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        if isinstance(exc, DATABASE_FAULTS):
            return None  # the middleware answers 503 with Retry-After (JSON for the API)
        logger.error("Unhandled API exception", exc_info=exc)
        return Response({"error": {"code": "server_error", "message": "Something went wrong on our side.",
                                   "details": None}}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
    response.data = {"error": error_body(exc)}
    return response


def error_body(exc: exceptions.APIException) -> dict[str, Any]:
    if isinstance(exc, ApiError):
        return {"code": exc.error_code, "message": str(exc.detail), "details": exc.details}
    if isinstance(exc, exceptions.ValidationError):
        return {"code": "invalid", "message": "Some fields are invalid.", "details": exc.detail}
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else exc.default_code
    return {"code": code, "message": str(exc.detail), "details": None}
