"""The case set import form (manifest + images, re-shown after a failed import)."""

from __future__ import annotations

from pathlib import Path

from django import forms
from django.utils.translation import gettext_lazy as _

from catalog.models import Taxonomy
from catalog.services.import_staging import (
    staged_upload,
)


class CaseImportForm(forms.Form):
    name = forms.CharField(label=_("Case set name"), max_length=200)
    taxonomy = forms.ModelChoiceField(queryset=Taxonomy.objects.all(), label=_("Taxonomy"))
    # Not required by the field: after a failed attempt the files kept under ``staged`` stand in.
    manifest = forms.FileField(label=_("Manifest (.csv or .json)"), required=False)
    images = forms.FileField(label=_("Images (.zip)"), required=False)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}), required=False, label=_("Description"))
    staged = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, user_id: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        token = self.data.get("staged", "") if self.is_bound else ""
        self.staged = staged_upload(token=token, user_id=user_id) if token and user_id else None

    def clean_manifest(self):
        upload = self.cleaned_data["manifest"]
        if upload is None:
            if self.staged is None:
                raise forms.ValidationError(_("Choose the manifest file."))
            return None
        if Path(upload.name).suffix.lower() not in {".csv", ".json"}:
            raise forms.ValidationError(_("The manifest must be a .csv or .json file."))
        return upload

    def clean_images(self):
        upload = self.cleaned_data["images"]
        if upload is None:
            if self.staged is None:
                raise forms.ValidationError(_("Choose the zip of images."))
            return None
        if Path(upload.name).suffix.lower() != ".zip":
            raise forms.ValidationError(_("Upload the images as one .zip file."))
        return upload
