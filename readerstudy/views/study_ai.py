"""Coordinator pages: precompute AI outputs for a study (with htmx progress) and the model's evaluation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from inference.selectors import evaluations_for, job_progress
from readerstudy.models import Role, Study
from readerstudy.permissions import STAFF_ROLES, can_manage, case_sets_for_user, study_for_user
from readerstudy.selectors.ai import outputs_for_study, precompute_job_latest
from readerstudy.services.studies.ai import study_ai_ready, study_precompute_start

COORDINATORS = (Role.COORDINATOR,)
EVALUATE_TASK = "inference.tasks.evaluate_model_task"
# A class with fewer cases than this gets no interval: a bootstrap of one or two cases gives a
# degenerate "1.000 – 1.000" that looks like certainty.
MIN_CASES_FOR_CI = 3
ROC_SIZE = 240  # px, the square ROC figure on the evaluation page


def _progress_context(study: Study) -> dict:
    job = precompute_job_latest(study=study)
    progress = job_progress(job) if job else None
    return {"study": study, "job": job, "progress": progress,
            "polling": bool(progress and not progress.finished)}


@login_required
@require_http_methods(["GET", "POST"])
def precompute_page(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=COORDINATORS)
    if request.method == "POST":
        if study.model_version is None:
            messages.error(request, _("Choose the study's model version first."))
        elif outputs_for_study(study).count() >= study.case_set.cases.count():
            messages.info(request, _("Every case already has its AI output: nothing was queued."))
        else:
            try:
                study_precompute_start(study=study, actor=request.user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, _("Precompute queued for %(model)s.") % {"model": study.model_version.name})
        return redirect("study_ai:precompute", slug=study.slug)
    context = _progress_context(study)
    n_outputs, n_cases = outputs_for_study(study).count(), study.case_set.cases.count()
    context.update(
        problems=study_ai_ready(study),
        n_outputs=n_outputs,
        n_cases=n_cases,
        n_missing=max(n_cases - n_outputs, 0),
        running=context["polling"],
    )
    return render(request, "study_ai/precompute.html", context)


@login_required
def precompute_progress(request: HttpRequest, slug: str) -> HttpResponse:
    """The progress partial; htmx polls it every 2 s and stops (HTTP 286) once the job has ended."""
    study = study_for_user(request.user, slug, roles=COORDINATORS)
    context = _progress_context(study)
    response = render(request, "study_ai/_precompute_progress.html", context)
    if not context["polling"] and request.htmx:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@login_required
def evaluation_page(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    evaluations = []
    if study.model_version:  # only evaluations on case sets this user may see, not others' private sets
        visible = evaluations_for(model_version=study.model_version).filter(case_set__in=case_sets_for_user(request.user))
        evaluations = list(visible[:20])
    names = dict(study.case_set.taxonomy.conditions.values_list("code", "name"))
    rows = [{"evaluation": evaluation, "classes": _class_rows(evaluation.results, names),
             "roc": _roc_figure(evaluation.results.get("malignant_roc"))} for evaluation in evaluations]
    return render(request, "study_ai/evaluation.html", {
        "study": study, "rows": rows, "manager": can_manage(request.user, study),
        "min_cases": MIN_CASES_FOR_CI,
    })


def _class_rows(results: dict, names: dict[str, str]) -> list[dict]:
    """Per-class recall with the condition's name; no interval for classes with too few cases."""
    rows = []
    for code, estimate in sorted((results.get("per_class_recall") or {}).items(),
                                 key=lambda item: (-item[1].get("n", 0), names.get(item[0], item[0]))):
        enough = estimate.get("n", 0) >= MIN_CASES_FOR_CI and estimate.get("ci_low") is not None
        rows.append({"code": code, "name": names.get(code, code), **estimate, "enough": enough})
    return rows


def _roc_figure(roc: dict | None) -> dict | None:
    """SVG polyline points of a stored ROC curve (x: 1 - specificity, y: sensitivity) in a square figure."""
    if not roc or not roc.get("fpr"):
        return None
    size = ROC_SIZE
    points = " ".join(f"{fpr * size:.1f},{(1 - tpr) * size:.1f}" for fpr, tpr in zip(roc["fpr"], roc["tpr"], strict=True))
    return {"points": points, "size": size, "n_points": len(roc["fpr"])}


@login_required
@require_POST
def evaluation_start(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=COORDINATORS)
    if study.model_version is None:
        messages.error(request, _("The study has no model version to evaluate."))
    else:
        from common.queueing import task_enqueue

        if task_enqueue(EVALUATE_TASK, study.model_version_id, study.case_set_id, request.user.pk):
            messages.success(request, _("Evaluation queued; reload this page in a while."))
        else:
            messages.error(request, _("The task queue is unavailable right now; please try again in a few minutes."))
    return redirect("study_ai:evaluation", slug=study.slug)
