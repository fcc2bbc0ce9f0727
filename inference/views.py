"""Coordinator pages: precompute AI outputs for a study (with htmx progress) and the model's evaluation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from readerstudy.models import Role, Study
from readerstudy.permissions import STAFF_ROLES, study_for_user

from .selectors import evaluations_for, job_progress, outputs_for_study, precompute_job_latest
from .services import precompute_start, study_ai_ready

COORDINATORS = (Role.COORDINATOR,)


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
            messages.error(request, "Choose the study's model version first.")
        else:
            try:
                precompute_start(model_version=study.model_version, study=study, actor=request.user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(request, f"Precompute queued for {study.model_version.name}.")
        return redirect("inference:precompute", slug=study.slug)
    context = _progress_context(study)
    context.update(
        problems=study_ai_ready(study),
        n_outputs=outputs_for_study(study).count(),
        n_cases=study.case_set.cases.count(),
    )
    return render(request, "inference/precompute.html", context)


@login_required
def precompute_progress(request: HttpRequest, slug: str) -> HttpResponse:
    """The progress partial; htmx polls it every 2 s and stops (HTTP 286) once the job has ended."""
    study = study_for_user(request.user, slug, roles=COORDINATORS)
    context = _progress_context(study)
    response = render(request, "inference/_precompute_progress.html", context)
    if not context["polling"] and request.htmx:
        response.status_code = HttpResponseStopPolling.status_code
    return response


@login_required
def evaluation_page(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    evaluations = list(evaluations_for(model_version=study.model_version)[:20]) if study.model_version else []
    return render(request, "inference/evaluation.html", {"study": study, "evaluations": evaluations})


@login_required
@require_POST
def evaluation_start(request: HttpRequest, slug: str) -> HttpResponse:
    from .tasks import evaluate_model_task

    study = study_for_user(request.user, slug, roles=COORDINATORS)
    if study.model_version is None:
        messages.error(request, "The study has no model version to evaluate.")
    else:
        from readerstudy.services.queueing import task_enqueue

        if task_enqueue(evaluate_model_task, study.model_version_id, study.case_set_id, request.user.pk):
            messages.success(request, "Evaluation queued; reload this page in a while.")
        else:
            messages.error(request, "The task queue is unavailable right now; please try again in a few minutes.")
    return redirect("inference:evaluation", slug=study.slug)
