"""Coordinator page: import a case set from an uploaded manifest and a zip of images."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from catalog.services.case_import import CaseImportError, case_import_uploads, import_reference
from catalog.services.import_staging import (
    StagedUpload,
    staged_discard,
    staged_files,
    uploads_stage,
)
from readerstudy.forms.imports import CaseImportForm
from readerstudy.permissions import case_sets_for_coordinator, case_sets_for_user, may_import_cases


@login_required
def case_set_import(request: HttpRequest) -> HttpResponse:
    if not may_import_cases(request.user):
        raise Http404("No such page")
    form = CaseImportForm(request.POST or None, request.FILES or None, user_id=request.user.pk)
    problems: list = []
    staged = form.staged
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        manifest, images = _uploads_or_staged(request, data, staged)
        try:
            report = case_import_uploads(manifest=manifest, images=images,
                                         case_set_name=data["name"], taxonomy=data["taxonomy"],
                                         actor=request.user, description=data["description"])
        except CaseImportError as exc:
            problems = exc.problems
            staged = _restage(request, manifest, images, staged)
        else:
            if staged is not None:
                staged_discard(token=staged.token)
            for message in report.messages:
                messages.success(request, message)
            return redirect("case_sets")
        finally:
            for handle in (manifest, images):
                handle.close()
    elif request.method == "POST" and (request.FILES.get("manifest") or request.FILES.get("images")):
        # A form problem (a missing name, say): keep what was chosen; the other file can come later.
        manifest, images = request.FILES.get("manifest"), request.FILES.get("images")
        if manifest is not None and images is not None:
            staged = _restage(request, manifest, images, staged)
    return render(request, "imports/import.html", {
        "form": form, "problems": problems, "staged": staged,
        "reference": import_reference(form.cleaned_data.get("taxonomy") if form.is_bound and form.is_valid()
                                      else None),
    })


def _uploads_or_staged(request: HttpRequest, data: dict, staged: StagedUpload | None):
    """The files to import: each newly chosen file, else the one kept from the last attempt."""
    kept = staged_files(token=staged.token, user_id=request.user.pk) if staged is not None else None
    manifest = data["manifest"] or (kept[0] if kept else None)
    images = data["images"] or (kept[1] if kept else None)
    if kept is not None:
        for unused, used in ((kept[0], manifest), (kept[1], images)):
            if unused is not used:
                unused.close()
    return manifest, images


def _restage(request: HttpRequest, manifest, images, previous: StagedUpload | None) -> StagedUpload:
    for handle in (manifest, images):
        handle.seek(0)
    staged = uploads_stage(user_id=request.user.pk, manifest=manifest, images=images)
    if previous is not None:
        staged_discard(token=previous.token)
    return staged


@login_required
def case_sets(request: HttpRequest) -> HttpResponse:
    if not may_import_cases(request.user):
        raise Http404("No such page")
    # Only the sets this user may see (imported, or used by their staff studies; site staff: all).
    sets = (case_sets_for_user(request.user).select_related("taxonomy").annotate(n_cases=Count("cases"))
            .order_by("name"))
    coordinated = set(case_sets_for_coordinator(request.user).values_list("pk", flat=True))
    return render(request, "imports/case_sets.html", {"case_sets": sets, "coordinated": coordinated})
