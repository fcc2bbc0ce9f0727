"""Serving stored case images (after the caller has checked access), from any storage backend."""

from __future__ import annotations

import mimetypes

from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, HttpResponseNotModified

from catalog.models import CaseImage


def case_image_response(request: HttpRequest, picture: CaseImage, *, full: bool) -> HttpResponse:
    """The image (or its thumbnail) with caching headers: files are named by content hash."""
    size = "full" if full else "thumb"
    relative = picture.file if full else (picture.thumbnail or picture.file)
    etag = f'"{picture.sha256}-{size}"'
    if request.headers.get("If-None-Match") == etag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        try:
            handle = default_storage.open(relative, "rb")
        except (FileNotFoundError, OSError, ValueError):
            raise Http404("No such image") from None
        response = FileResponse(handle, content_type=mimetypes.guess_type(relative)[0] or "application/octet-stream")
    # Private: only this reader's browser may keep it; immutable content, so a day is safe.
    response["Cache-Control"] = "private, max-age=86400, immutable"
    response["ETag"] = etag
    return response
