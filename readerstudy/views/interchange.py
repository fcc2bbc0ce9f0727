"""Page: import readings collected on another platform (a long CSV mapped column by column).

Step 1 uploads the file; step 2 shows the detected columns mapped onto the readings table
(same-named columns pre-selected), a preview and the validation report by row and field; when
every row is valid the readings table downloads as CSV for ``python -m analysis``. The upload is
kept under MEDIA_ROOT/interchange/ and reachable only from the uploader's session.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from readerstudy.api.views.misc import PREVIEW_ROWS, may_use_interchange
from readerstudy.exports.readings_import import ReadingsImport, auto_mapping, readings_import
from readerstudy.forms.interchange import MappingForm, UploadForm
from readerstudy.http import attachment

SESSION_KEY = "interchange_uploads"


def _upload_dir() -> Path:
    directory = Path(settings.MEDIA_ROOT) / "interchange"
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _stored(request: HttpRequest, token: str) -> bytes:
    if token not in request.session.get(SESSION_KEY, []) or not token.isalnum():
        raise Http404("No such upload")
    path = _upload_dir() / f"{token}.csv"
    if not path.is_file():
        raise Http404("No such upload")
    return path.read_bytes()


def _remember(request: HttpRequest, data: bytes) -> str:
    token = secrets.token_hex(16)
    (_upload_dir() / f"{token}.csv").write_bytes(data)
    request.session[SESSION_KEY] = [*request.session.get(SESSION_KEY, [])[-9:], token]
    return token


@login_required
@require_http_methods(["GET", "POST"])
def readings_import_page(request: HttpRequest) -> HttpResponse:
    if not may_use_interchange(request.user):
        raise Http404("No such page")
    token = request.POST.get("token", "")
    if request.method == "POST" and token:
        return _review(request, token)
    upload = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and upload.is_valid():
        data = upload.cleaned_data["file"].read()
        token = _remember(request, data)
        result = readings_import(data, None, study=upload.cleaned_data["study"] or "imported")
        mapping = MappingForm(initial=result.mapping, columns=result.columns)
        return _render(request, token, upload.cleaned_data["study"] or "imported", mapping, result)
    return render(request, "interchange/readings_import.html", {"upload": upload})


def _review(request: HttpRequest, token: str) -> HttpResponse:
    data = _stored(request, token)
    study = request.POST.get("study", "") or "imported"
    first = readings_import(data, {}, study=study)
    mapping = MappingForm(request.POST, columns=first.columns)
    chosen = mapping.mapping() if mapping.is_valid() else auto_mapping(first.columns)
    result = readings_import(data, chosen, study=study)
    if request.POST.get("action") == "download" and result.ok:
        return attachment(result.csv_bytes(), f"{study}-readings.csv", "text/csv; charset=utf-8")
    return _render(request, token, study, mapping, result)


def _render(request: HttpRequest, token: str, study: str, mapping: MappingForm, result: ReadingsImport):
    preview = result.table.head(PREVIEW_ROWS).astype(object).where(result.table.head(PREVIEW_ROWS).notna(), "")
    return render(request, "interchange/readings_import.html", {
        "token": token, "study": study, "mapping": mapping, "result": result,
        "preview_columns": list(preview.columns), "preview_rows": preview.values.tolist(),
    })
