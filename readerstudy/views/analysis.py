"""Analyses in the web app (coordinators and statisticians): start, watch progress, read results."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from django_htmx.http import HttpResponseStopPolling

from readerstudy.forms.analysis import AnalysisForm, PowerForm
from readerstudy.http import attachment
from readerstudy.models import AnalysisRun, RunStatus, Study
from readerstudy.permissions import STAFF_ROLES, study_for_user
from readerstudy.services.analysis_runs import (
    AnalysisRunError,
    analysis_run_start,
    default_arms,
)
from readerstudy.services.arm_runs import COMPARE_ARMS, compare_arms_headline
from readerstudy.views.analysis_summary import glmm_row, model_rows, mrmc_summary, power_summary, study_design


def _run(study: Study, run_id: int) -> AnalysisRun:
    try:
        return AnalysisRun.objects.get(pk=run_id, study=study)
    except AnalysisRun.DoesNotExist:
        raise Http404("No such analysis") from None


@login_required
@require_http_methods(["GET", "POST"])
def analysis_list(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    design = study_design(study, *default_arms(study))
    form = AnalysisForm(request.POST or None, study=study, design=design)
    if request.method == "POST" and form.is_valid():
        try:
            run = analysis_run_start(study=study, actor=request.user, **form.cleaned_data)
        except AnalysisRunError as exc:
            form.add_error(None, str(exc))
        else:  # no "started" message: the results page shows the run's own status and progress
            return redirect("analysis:detail", slug=study.slug, run_id=run.pk)
    return analysis_page(request, study, form=form, design=design)


def analysis_page(request: HttpRequest, study: Study, *, form=None, power_form=None, design=None,
                  status: int = 200) -> HttpResponse:
    """The analyses page: the analysis form, the power form and the earlier runs."""
    if form is None:
        design = study_design(study, *default_arms(study))
        form = AnalysisForm(study=study, design=design)
    power_form = power_form or PowerForm(study=study)
    runs = study.analysis_runs.select_related("created_by").order_by("-created_at")[:50]
    return render(request, "analysis/list.html", {"study": study, "form": form, "runs": runs, "design": design,
                                                  "power_form": power_form}, status=status)


@login_required
def analysis_detail(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    run = _run(study, run_id)
    finished = run.status in (RunStatus.DONE, RunStatus.FAILED)
    context = {"study": study, "run": run, "finished": finished, "summary": _summary(run)}
    if request.htmx:
        response = render(request, "analysis/_status.html", context)
        if finished:
            response.status_code = HttpResponseStopPolling.status_code
            response["HX-Refresh"] = "true"  # reload once to show the full results
        return response
    return render(request, "analysis/detail.html", context)


@login_required
def analysis_report(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    run = _run(study, run_id)
    if not run.report_path:
        raise Http404("No report yet")
    with default_storage.open(run.report_path, "rb") as handle:
        response = HttpResponse(handle.read(), content_type="text/html; charset=utf-8")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{study.slug}-analysis-{run.pk}.html"'
    return response


@login_required
def analysis_results_json(request: HttpRequest, slug: str, run_id: int) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=STAFF_ROLES)
    run = _run(study, run_id)
    if run.results is None:
        raise Http404("No results yet")
    return attachment(json.dumps(run.results, indent=2), f"{study.slug}-analysis-{run.pk}-results.json", "application/json")


def _summary(run: AnalysisRun) -> dict | None:
    """The headline numbers for the results page (the full tables are in the report)."""
    if not run.results:
        return None
    r = run.results
    if run.kind in ("reliance", "agreement"):
        return {"headline": _headline(run.kind, r), "warnings": (r.get(run.kind) or {}).get("notes") or []}
    if run.kind == COMPARE_ARMS:
        return {"headline": compare_arms_headline(r), "warnings": r.get("warnings") or []}
    if run.kind == "mrmc":
        return {"mrmc": mrmc_summary(r.get("mrmc") or {})}
    if run.kind == "power":
        return {"power": power_summary(r.get("power") or {})}
    level = r.get("reader_level") or {}
    glmm = r.get("glmm") or {}
    odds = glmm.get("treatment_odds_ratio") or {}
    return {
        "n": (r.get("n_readers"), r.get("n_cases"), r.get("n_readings")),
        "control": level.get("control") or {},
        "treatment": level.get("treatment") or {},
        "difference": level.get("difference") or {},
        "paired_t": level.get("paired_t") or {},
        "wilcoxon": level.get("wilcoxon") or {},
        "mcnemar": (r.get("paired_readings") or {}).get("mcnemar") or {},
        "odds": odds,
        "glmm": glmm_row(glmm),
        "glmm_formula": glmm.get("formula"),
        "warnings": r.get("warnings") or [],
        "model": model_rows(r.get("model"), r.get("outcome") or "", r.get("roc")),
        "clmm": _clmm_row(r.get("clmm")),
        "interaction": (r.get("interaction") or {}).get("error") or (r.get("interaction") or {}).get("verdict"),
    }


def _clmm_row(clmm: dict | None) -> dict | None:
    if not clmm or clmm.get("error") or not clmm.get("treatment_odds_ratio"):
        return None
    return {"formula": clmm.get("formula"), "odds": clmm["treatment_odds_ratio"]}


def _num(value, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _headline(kind: str, results: dict) -> list[str]:
    """A few sentences with the main numbers of a reliance or agreement run (the rest is in the report)."""
    block = results.get(kind) or {}
    if kind == "reliance":
        lines = [f"{block.get('n_readers')} readers, {block.get('n_cases')} cases ({block.get('design')} design)."]
        for name, label in (("ai_right", "AI right"), ("ai_wrong", "AI wrong")):
            entry = (block.get("accuracy_by_ai_correct") or {}).get(name) or {}
            lines.append(
                f"{label}: accuracy {_num(entry.get('control'))} → {_num(entry.get('treatment'))}, difference "
                f"{_num(entry.get('difference'))} (95 % CI {_num(entry.get('ci_low'))} – {_num(entry.get('ci_high'))}, "
                "two-way bootstrap over readers and cases)."
            )
        if block.get("n_pairs"):
            lines.append(
                f"{block['n_pairs']} pairs: {block['wrong_to_right']} wrong → right, {block['right_to_wrong']} right → "
                f"wrong, net benefit {_num(block['net_benefit'])} (pooled); over-reliance "
                f"{_num(block.get('over_reliance'))}, RAIR {_num(block.get('rair'))}, RSR {_num(block.get('rsr'))}."
            )
        return lines
    lines = []
    for arm in block.get("arms") or []:
        entry = (block.get("inter_reader") or {}).get(arm) or {}
        low, high = entry.get("fleiss_kappa_ci") or (None, None)
        lines.append(f"{arm}: Fleiss' kappa {_num(entry.get('fleiss_kappa'))} (95 % CI {_num(low)} – {_num(high)}), "
                     f"mean pairwise kappa {_num(entry.get('mean_pairwise_kappa'))}.")
    diff = (block.get("inter_reader") or {}).get("difference")
    if diff:
        lines.append(f"{diff['treatment_minus_control']}: {_num(diff['estimate'])} "
                     f"(95 % CI {_num(diff['ci_low'])} – {_num(diff['ci_high'])}).")
    intra = block.get("intra_reader")
    if intra:
        lines.append(f"Intra-reader: mean kappa {_num(intra['mean_kappa'])} over {intra['n_pairs']} repeat pairs; "
                     f"flagged: {', '.join(intra['flagged_readers']) or 'none'}.")
    for arm, icc in (block.get("icc") or {}).items():
        lines.append(f"{arm}: ICC(2,1) {_num(icc['icc2_1']['estimate'])}, ICC(2,k) {_num(icc['icc2_k']['estimate'])}.")
    return lines
