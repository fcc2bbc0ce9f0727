"""A lost database connection is a temporary fault: answer 503 with a "please retry" page.

Transactions are atomic (ATOMIC_REQUESTS is off but every write service is @transaction.atomic), so
a request that fails this way has written nothing; the reader can simply submit again, and the
idempotency key of the case page makes a retry of an already-stored answer harmless.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5
DATABASE_FAULTS = (OperationalError, InterfaceError)


def _drop_broken_connections() -> None:
    """Close connections that are unusable so the next request opens a fresh one."""
    for conn in connections.all(initialized_only=True):
        try:
            if conn.connection is not None and not conn.is_usable():
                conn.close()
        except DATABASE_FAULTS:
            conn.close()
    close_old_connections()


def retry_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: JSON for the API, a plain page (no database access) for everything else."""
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"error": {"code": "temporarily_unavailable",
                       "message": "The database is briefly unavailable; please retry.", "details": {}}},
            status=503,
        )
    else:
        # Rendered without a request context: the context processors would touch the database.
        body = render_to_string("errors/retry.html", {"retry_after": RETRY_AFTER_S, "path": request.path})
        response = HttpResponse(body, status=503)
    response["Retry-After"] = str(RETRY_AFTER_S)
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """Map OperationalError/InterfaceError raised by a view to a 503 retry page.

    Faults raised by other middleware (a session save on the way out) reach ``handler500``, which
    gives the same answer (readerstudy.views.errors.server_error).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, DATABASE_FAULTS):
            return database_fault_response(request, exception)
        return None


def database_fault_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    logger.warning("database unavailable during %s %s: %s", request.method, request.path, exc)
    _drop_broken_connections()
    return retry_response(request)
