"""Coordinator page: import a case set from an uploaded manifest and a zip of images."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from readerstudy.models import CaseSet, Taxonomy
from readerstudy.services.case_import import CaseImportError, case_import_uploads


class CaseImportForm(forms.Form):
    name = forms.CharField(label="Case set name", max_length=200)
    taxonomy = forms.ModelChoiceField(queryset=Taxonomy.objects.all(), label="Taxonomy")
    manifest = forms.FileField(label="Manifest (.csv or .json)")
    images = forms.FileField(label="Images (.zip)")
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False)

    def clean_manifest(self):
        upload = self.cleaned_data["manifest"]
        if Path(upload.name).suffix.lower() not in {".csv", ".json"}:
            raise forms.ValidationError("The manifest must be a .csv or .json file.")
        return upload

    def clean_images(self):
        upload = self.cleaned_data["images"]
        if Path(upload.name).suffix.lower() != ".zip":
            raise forms.ValidationError("Upload the images as one .zip file.")
        return upload


def _may_import(user) -> bool:
    return user.is_staff or user.has_perm("readerstudy.add_caseset")


@login_required
def case_set_import(request: HttpRequest) -> HttpResponse:
    if not _may_import(request.user):
        raise Http404("No such page")
    form = CaseImportForm(request.POST or None, request.FILES or None)
    problems: list = []
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            report = case_import_uploads(manifest=data["manifest"], images=data["images"],
                                         case_set_name=data["name"], taxonomy=data["taxonomy"],
                                         actor=request.user, description=data["description"])
        except CaseImportError as exc:
            problems = exc.problems
        else:
            for message in report.messages:
                messages.success(request, message)
            return redirect("case_sets")
    return render(request, "imports/import.html", {"form": form, "problems": problems})


@login_required
def case_sets(request: HttpRequest) -> HttpResponse:
    if not _may_import(request.user):
        raise Http404("No such page")
    sets = CaseSet.objects.select_related("taxonomy").annotate(n_cases=Count("cases")).order_by("name")
    return render(request, "imports/case_sets.html", {"case_sets": sets})
