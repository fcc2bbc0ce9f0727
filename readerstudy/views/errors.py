"""Error handlers: a database fault anywhere in the request is a 503 "please retry", never a 500."""

from __future__ import annotations

import sys

from django.http import HttpRequest, HttpResponse
from django.views import defaults

from readerstudy.middleware import DATABASE_FAULTS, database_fault_response


def server_error(request: HttpRequest, template_name: str = defaults.ERROR_500_TEMPLATE_NAME) -> HttpResponse:
    exc = sys.exc_info()[1]
    if isinstance(exc, DATABASE_FAULTS):
        return database_fault_response(request, exc)
    return defaults.server_error(request, template_name=template_name)
