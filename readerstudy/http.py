"""HTTP helpers shared by the pages and the API."""

from __future__ import annotations

from django.http import HttpResponse


def attachment(content: bytes | str, filename: str, content_type: str, *, no_store: bool = True) -> HttpResponse:
    """A download: the file's bytes with its name; not kept by browsers or proxies (exports carry
    study data) unless `no_store` is off."""
    response = HttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    if no_store:
        response["Cache-Control"] = "no-store"
    return response
