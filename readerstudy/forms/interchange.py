"""Forms of the readings import page (an upload, then the column mapping)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from readerstudy.api.views.misc import MAX_IMPORT_BYTES
from readerstudy.exports.tables import READINGS_COLUMNS


class UploadForm(forms.Form):
    file = forms.FileField(label=_("Readings file (.csv, one row per reading)"))
    study = forms.CharField(label=_("Study name (for the study column, if the file has none)"), max_length=80,
                            required=False, initial="imported")

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_IMPORT_BYTES:
            raise forms.ValidationError(gettext("The file is larger than %(mb)s MB.") % {"mb": MAX_IMPORT_BYTES // 2**20})
        return upload


class MappingForm(forms.Form):
    """One choice per readings-table column: which column of the file holds it."""

    def __init__(self, *args, columns: list[str], **kwargs):
        super().__init__(*args, prefix="map", **kwargs)
        choices = [("", gettext("— not in the file —"))] + [(c, c) for c in columns]
        for name in READINGS_COLUMNS:
            self.fields[name] = forms.ChoiceField(choices=choices, required=False, label=name)

    def mapping(self) -> dict[str, str]:
        return {name: value for name, value in self.cleaned_data.items() if value}
