"""Power / sample size from the web app (coordinators and statisticians): the form, power.json."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from readerstudy.forms.analysis import PowerForm
from readerstudy.http import attachment
from readerstudy.permissions import STAFF_ROLES, study_for_user
from readerstudy.services.power_runs import (
    PowerRunError,
    power_run_start,
)


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
    return attachment(json.dumps(run.results["power"], indent=2), f"{study.slug}-analysis-{run.pk}-power.json", "application/json")
