"""Power / sample size from the web app (coordinators and statisticians): the form, power.json."""

from __future__ import annotations

import json
import re

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from readerstudy.permissions import STAFF_ROLES, study_for_user
from readerstudy.services.power_runs import (
    MAX_N_SIM,
    POWER_DESIGNS,
    PowerRunError,
    power_defaults,
    power_run_start,
)


def _counts(value: str, name: str) -> list[int]:
    parts = [p for p in re.split(r"[,;\s]+", value or "") if p]
    if not parts:
        raise forms.ValidationError(f"give at least one number of {name}")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise forms.ValidationError(f"numbers of {name} must be whole numbers separated by commas "
                                    f"(got {value!r})") from None


class PowerForm(forms.Form):
    readers = forms.CharField(label="Readers (first = the planned study; more values, e.g. 10, 20, 30, give the curve)",
                              initial="20")
    cases = forms.CharField(label="Cases (first = the planned study; more values give the curve)", initial="60")
    design = forms.ChoiceField(choices=list(POWER_DESIGNS.items()), initial="sequential")
    control_accuracy = forms.FloatField(label="Expected accuracy, control arm", min_value=0.001, max_value=0.999)
    treatment_accuracy = forms.FloatField(label="Expected accuracy, AI arm", min_value=0.001, max_value=0.999)
    var_reader = forms.FloatField(label="Variance: reader (logit scale)", min_value=0, max_value=20)
    var_case = forms.FloatField(label="Variance: case", min_value=0, max_value=20)
    var_reader_arm = forms.FloatField(label="Variance: reader × arm", min_value=0, max_value=20)
    var_case_arm = forms.FloatField(label="Variance: case × arm", min_value=0, max_value=20)
    n_sim = forms.IntegerField(label="Simulated studies per point", initial=500, min_value=1, max_value=MAX_N_SIM)
    alpha = forms.FloatField(label="Two-sided alpha", initial=0.05, min_value=0.0001, max_value=0.4999)

    def __init__(self, *args, study, **kwargs):
        super().__init__(*args, prefix="power", **kwargs)
        self.defaults = power_defaults(study)
        for name in ("control_accuracy", "treatment_accuracy", "var_reader", "var_case", "var_reader_arm",
                     "var_case_arm"):
            self.initial.setdefault(name, self.defaults[name])

    def clean_readers(self) -> list[int]:
        return _counts(self.cleaned_data.get("readers"), "readers")

    def clean_cases(self) -> list[int]:
        return _counts(self.cleaned_data.get("cases"), "cases")


@login_required
@require_http_methods(["GET", "POST"])
def analysis_power(request: HttpRequest, slug: str) -> HttpResponse:
    """POST: queue a power run (400 with the form's errors when an input is bad); GET: the analyses page."""
    from readerstudy.views.analysis import analysis_page

    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    if request.method == "GET":
        return redirect("analysis:list", slug=study.slug)
    form = PowerForm(request.POST, study=study)
    if form.is_valid():
        try:
            run = power_run_start(study=study, actor=request.user, **form.cleaned_data)
        except PowerRunError as exc:
            for field, message in exc.field_errors.items():
                form.add_error(field if field in form.fields else None, message)
        else:
            return redirect("analysis:detail", slug=study.slug, run_id=run.pk)
    return analysis_page(request, study, power_form=form, status=400)


@login_required
def analysis_power_json(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    from readerstudy.views.analysis import _run

    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    run = _run(study, run_id)
    if run.kind != "power" or not run.results or "power" not in run.results:
        raise Http404("No power results")
    response = HttpResponse(json.dumps(run.results["power"], indent=2), content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{study.slug}-analysis-{run.pk}-power.json"'
    return response
