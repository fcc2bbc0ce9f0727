"""Coordinator and statistician pages: study setup, launch, invitations, monitoring, exports.

Every view reaches the study through ``permissions.study_for_user``: users without the role get 404.
Coordinators manage; statisticians see progress and download data.
"""

from __future__ import annotations

import time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseStopPolling

from readerstudy.exports.files import export_file
from readerstudy.forms.studies import InvitationForm, SiteForm, StudyForm
from readerstudy.http import attachment
from readerstudy.models import Invitation, Role, Study, StudyStatus
from readerstudy.permissions import can_manage, study_for_user
from readerstudy.selectors.members import member_for_study, study_invitations, study_members
from readerstudy.selectors.progress import (
    progress_fingerprint,
    site_progress,
    study_overview_counts,
    study_progress,
)
from readerstudy.services import studies
from readerstudy.services.studies import StudyError

MANAGE = (Role.COORDINATOR,)
MONITOR = (Role.COORDINATOR, Role.STATISTICIAN)
# Progress polling stops once nothing has changed for this long (a button resumes it).
PROGRESS_POLL_SECONDS = 5
PROGRESS_IDLE_SECONDS = 60
# The polled page lists the cases furthest behind; all cases are one click away as CSV (a table of
# thousands of rows re-sent every few seconds would cost the server more than the readers do).
PROGRESS_CASE_ROWS = 25


def _may_create(user) -> bool:
    return user.is_staff or user.has_perm("readerstudy.add_study")


def _links(study: Study) -> dict[str, str]:
    """The study's analysis and AI pages."""
    return {key: reverse(name, args=[study.slug]) for key, name in (
        ("analysis", "analysis:list"),
        ("precompute", "study_ai:precompute"),
        ("evaluation", "study_ai:evaluation"),
    )}


def _context(request: HttpRequest, study: Study, **extra) -> dict:
    return {"study": study, "manager": can_manage(request.user, study), "links": _links(study), **extra}


def _active_reader_links(study: Study) -> int:
    """Reader links someone could still join with (not withdrawn, expired or used up)."""
    return sum(
        1
        for invitation in study_invitations(study).filter(role=Role.READER)
        if studies.invitation_problem(invitation) is None
    )


# --- setup --------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def study_create(request: HttpRequest) -> HttpResponse:
    if not _may_create(request.user):
        raise Http404("No such page")
    form = StudyForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            study = studies.study_create(actor=request.user, arms=form.arm_specs(), **form.service_kwargs())
        except StudyError as exc:
            for problem in exc.problems:
                form.add_error(None, problem)
        else:
            messages.success(
                request,
                gettext("Draft study “%(title)s” created. Invite readers, then launch it.") % {"title": study.title},
            )
            return redirect("studies:detail", slug=study.slug)
    return render(request, "studies/form.html", {"form": form, "creating": True})


@login_required
@require_GET
def study_detail(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=MONITOR)
    members = list(study_members(study))
    manager = can_manage(request.user, study)
    context = _context(
        request,
        study,
        arms=study.arms.all(),
        members=members,
        counts=study_overview_counts(study),
        active_links=_active_reader_links(study) if manager else None,
        settings=study.settings,
        problems=studies.launch_problems(study) if study.status == StudyStatus.DRAFT else [],
        n_cases=study.case_set.cases.count(),
    )
    return render(request, "studies/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=MANAGE)
    form = StudyForm(request.POST or None, study=study, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            studies.study_update(
                study=study,
                actor=request.user,
                changes=form.service_kwargs(),
                arms=None if form.locked else form.arm_specs(),
            )
        except StudyError as exc:
            for problem in exc.problems:
                form.add_error(None, problem)
        else:
            messages.success(request, gettext("Study saved."))
            return redirect("studies:detail", slug=study.slug)
    return render(request, "studies/form.html", _context(request, study, form=form, creating=False))


# --- status -------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def study_launch(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=MANAGE)
    if request.method == "POST":
        try:
            studies.study_launch(study=study, actor=request.user)
        except StudyError as exc:
            for problem in exc.problems:
                messages.error(request, problem)
        else:
            messages.success(request, gettext("The study is launched: readers can start."))
            return redirect("studies:detail", slug=study.slug)
    problems = studies.launch_problems(study) if study.status == StudyStatus.DRAFT else []
    readers = study.memberships.filter(role=Role.READER).count()
    return render(
        request, "studies/launch.html", _context(request, study, problems=problems, readers=readers)
    )


def _status_view(service, done: str):
    @login_required
    @require_POST
    def view(request: HttpRequest, slug: str) -> HttpResponse:
        study = study_for_user(request.user, slug, roles=MANAGE)
        try:
            service(study=study, actor=request.user)
        except StudyError as exc:
            for problem in exc.problems:
                messages.error(request, problem)
        else:
            messages.success(request, str(done))
        return redirect("studies:detail", slug=study.slug)

    return view


study_pause = _status_view(
    studies.study_pause, gettext_lazy("The study is paused: readers cannot submit until you resume it.")
)
study_resume = _status_view(studies.study_resume, gettext_lazy("The study is running again."))
study_close = _status_view(studies.study_close, gettext_lazy("The study is closed. Its readings are final."))


# --- invitations --------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def invitations(request: HttpRequest, slug: str) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=MANAGE)
    if request.method == "POST" and "site_name" in request.POST:  # the "Add a site" form
        site_form = SiteForm(request.POST)
        if site_form.is_valid():
            try:
                studies.site_create(study=study, actor=request.user, name=site_form.cleaned_data["site_name"],
                                    country=site_form.cleaned_data["country"],
                                    default_language=site_form.cleaned_data["default_language"])
            except StudyError as exc:
                for problem in exc.problems:
                    site_form.add_error(None, problem)
            else:
                return redirect("studies:invitations", slug=study.slug)
        return _invitations_page(request, study, InvitationForm(study=study), site_form)
    form = InvitationForm(request.POST or None, study=study)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        single = data["kind"] == "single"
        try:
            for _ in range(data["count"] if single else 1):
                studies.invitation_create(
                    study=study,
                    actor=request.user,
                    role=data["role"],
                    single_use=single,
                    max_uses=None if single else data["max_uses"],
                    email=data["email"],
                    expires_at=data["expires_at"],
                    label=data["label"],
                    site=data.get("site"),
                )
        except StudyError as exc:
            for problem in exc.problems:
                form.add_error(None, problem)
        else:
            messages.success(request, gettext("Invitation links created: copy them below."))
            return redirect("studies:invitations", slug=study.slug)
    return _invitations_page(request, study, form, SiteForm(initial={"default_language": study.default_language}))


def _invitations_page(request: HttpRequest, study: Study, form: InvitationForm, site_form: SiteForm) -> HttpResponse:
    rows = [
        {
            "invitation": inv,
            "url": request.build_absolute_uri(_join_path(inv)),
            "problem": studies.invitation_problem(inv),
        }
        for inv in study_invitations(study)
    ]
    return render(request, "studies/invitations.html", _context(request, study, form=form, rows=rows,
                                                                 site_form=site_form, sites=study.sites.all()))


def _join_path(invitation: Invitation) -> str:
    return reverse("reader:join", args=[invitation.token])


@login_required
@require_POST
def invitation_revoke(request: HttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    study = study_for_user(request.user, slug, roles=MANAGE)
    invitation = get_object_or_404(Invitation, pk=invitation_id, study=study)
    studies.invitation_revoke(invitation=invitation, actor=request.user)
    messages.success(request, gettext("The link is withdrawn; nobody new can join with it."))
    return redirect("studies:invitations", slug=study.slug)


# --- members ------------------------------------------------------------------------------------


@login_required
@require_GET
def member_detail(request: HttpRequest, slug: str, pseudonym: str) -> HttpResponse:
    """One member of the study: role, consent, reader profile and reading progress."""
    study = study_for_user(request.user, slug, roles=MONITOR)
    member = member_for_study(study, pseudonym)
    if member is None:
        raise Http404("No such member")
    profile = getattr(member.user, "reader_profile", None) if member.role == Role.READER else None
    return render(
        request,
        "studies/member.html",
        _context(request, study, member=member, profile=profile),
    )


# --- monitoring ---------------------------------------------------------------------------------


@login_required
@require_GET
def progress(request: HttpRequest, slug: str) -> HttpResponse:
    """The full page, or under htmx the partial; polling stops when the study is closed or idle.

    The partial's poll URL carries the fingerprint it shows and when it last changed: an
    unchanged poll answers 204 (nothing to swap) until the idle time has passed, then 286.
    """
    study = study_for_user(request.user, slug, roles=MONITOR)
    fingerprint = progress_fingerprint(study)
    now = int(time.time())
    if not request.htmx:
        return render(request, "studies/progress.html", _progress_context(request, study, fingerprint, now))
    since, changed_at = request.GET.get("since"), _int(request.GET.get("at"), now)
    unchanged = since == fingerprint
    idle = unchanged and now - changed_at >= PROGRESS_IDLE_SECONDS
    if study.status == StudyStatus.CLOSED or idle:
        context = _progress_context(
            request, study, fingerprint, changed_at if unchanged else now, polling=False
        )
        return HttpResponseStopPolling(render_to_string("studies/_progress.html", context, request=request))
    if unchanged:
        return HttpResponse(status=204)
    return render(request, "studies/_progress.html", _progress_context(request, study, fingerprint, now))


def _progress_context(
    request: HttpRequest, study: Study, fingerprint: str, changed_at: int, polling: bool | None = None
) -> dict:
    if polling is None:
        polling = study.status != StudyStatus.CLOSED
    progress = study_progress(study)
    return _context(
        request,
        study,
        progress=progress,
        least_read=progress.least_read(PROGRESS_CASE_ROWS),
        sites=site_progress(study),
        fingerprint=fingerprint,
        changed_at=changed_at,
        polling=polling,
        poll_seconds=PROGRESS_POLL_SECONDS,
    )


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


# --- exports ------------------------------------------------------------------------------------


@login_required
@require_GET
def export_readings(request: HttpRequest, slug: str) -> HttpResponse:
    """The readings table (DESIGN.md 5.1) as CSV, or Parquet with ?format=parquet."""
    fmt = request.GET.get("format", "csv")
    if fmt not in ("csv", "parquet"):
        raise Http404("Unknown format")
    return _export(request, slug, f"readings.{fmt}", training=request.GET.get("training") == "1")


@login_required
@require_GET
def export_schedules(request: HttpRequest, slug: str) -> HttpResponse:
    """Every stored schedule item, with whether and when it was read."""
    return _export(request, slug, "schedules.csv")


@login_required
@require_GET
def export_case_progress(request: HttpRequest, slug: str) -> HttpResponse:
    """Every case's readings done / scheduled per arm (the progress page shows the least-read few)."""
    return _export(request, slug, "case-progress.csv")


def _export(request: HttpRequest, slug: str, name: str, **query) -> HttpResponse:
    """A monitor's download of one export (audited in export_file, as the API's are)."""
    study = study_for_user(request.user, slug, roles=MONITOR)
    exported = export_file(study=study, name=name, actor=request.user, query=query)
    return attachment(exported.content, exported.filename, exported.content_type)
