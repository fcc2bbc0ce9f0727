"""Reader pages: invitation, consent, demographics, instructions, the case page, feedback, end.

Every view reaches the study through ``reader_membership`` and schedule items through
``assignment_for_reader``; anything else is a 404. What a page may show (AI output, reference
diagnoses) is decided in ``readerstudy.selectors.blinding``, never in templates.

Long module: the reader's whole flow (join, consent, demographics, instructions, case, feedback,
end) shares the same guards (open item, session, idle timeout); each view is small.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Any

from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from catalog.models import CaseImage
from readerstudy.forms.reader import ConsentForm, DemographicsForm, SignupForm
from readerstudy.models import Invitation, Membership, ReaderProfile, Role, ScheduleItem
from readerstudy.permissions import assignment_for_reader, reader_membership
from readerstudy.reader_idle import mark_reader_session
from readerstudy.security import signup_blocked, signup_failed
from readerstudy.selectors.blinding import (
    ai_display_for_item,
    item_is_open,
    item_may_view_image,
    library_image_shown,
    reference_feedback,
    require_open,
)
from readerstudy.selectors.case_view import ordered_images
from readerstudy.selectors.position import (
    Progress,
    consent_collected_elsewhere,
    draft_for,
    reader_progress,
    study_settings_for,
    washout_pending,
)
from readerstudy.selectors.steps import chosen_item, end_summary, reader_next_step, reader_state, skip_target
from readerstudy.selectors.taxonomy import condition_index
from readerstudy.services.reader_flow import (
    consent_record,
    demographics_save,
    draft_save,
    instructions_seen,
    item_mark_shown,
)
from readerstudy.services.readings import ReadingRefused, reading_submit
from readerstudy.services.studies import invitation_token_valid
from readerstudy.services.studies.texts import ReaderTexts
from readerstudy.views.case_fragments import case_parts
from readerstudy.views.files import case_image_response

STEP_URLS = {
    "consent": "reader:consent",
    "demographics": "reader:demographics",
    "instructions": "reader:instructions",
    "case": "reader:case",
    "unavailable": "reader:case",
    "end": "reader:end",
}




def _step_url(membership: Membership) -> str:
    return reverse(STEP_URLS[reader_next_step(membership)], args=[membership.study.slug])


def _go(request: HttpRequest, url: str) -> HttpResponse:
    """Redirect; htmx requests get a client-side redirect so the whole page changes."""
    if request.htmx:
        return HttpResponseClientRedirect(url)
    return redirect(url)


def _page(request: HttpRequest, membership: Membership, template: str, context: dict[str, Any],
          status: int = 200) -> HttpResponse:
    context = {"study": membership.study, "membership": membership,
               "study_texts": ReaderTexts(membership.study, membership), **context}  # in the reader's language
    return render(request, template, context, status=status)


def _off_step(membership: Membership, step: str) -> bool:
    return reader_next_step(membership) != step


def _reader(request: HttpRequest, slug: str) -> Membership:
    """The reader's membership, with the user already at hand for the audit log."""
    membership = reader_membership(request.user, slug)
    membership.user = request.user  # the accessor matched on this user
    mark_reader_session(request)
    return membership


@login_required
@require_GET
def start(request: HttpRequest, slug: str) -> HttpResponse:
    """Send the reader to their next step (where they left off)."""
    membership = reader_membership(request.user, slug)
    return redirect(_step_url(membership))


def _invitation_or_404(token: str) -> Invitation:
    if not invitation_token_valid(token):  # e.g. /join/%00/: PostgreSQL refuses NUL in a query (a 500)
        raise Http404("No such invitation")
    invitation = get_object_or_404(Invitation.objects.select_related("study"), token=token)
    if invitation.revoked:
        raise Http404("No such invitation")
    return invitation


def _accept(request: HttpRequest, token: str) -> tuple[Membership | None, str]:
    """Join through the invitation: (membership, "") or (None, why not)."""
    from readerstudy.services.studies import StudyError, invitation_accept

    try:
        return invitation_accept(token=token, user=request.user), ""
    except StudyError as exc:
        return None, " ".join(exc.problems)


def _link_problem(invitation: Invitation) -> str:
    """Why nobody can join through this link now ("" when it can be used)."""
    from readerstudy.services.studies.membership import invitation_problem

    return invitation_problem(invitation) or ""


def _after_join(membership: Membership) -> HttpResponse:
    if membership.role == Role.READER:
        return redirect("reader:start", slug=membership.study.slug)
    return redirect("home")


@require_http_methods(["GET", "POST"])
def join(request: HttpRequest, token: str) -> HttpResponse:
    """Invitation landing: sign up or log in, then join the study."""
    invitation = _invitation_or_404(token)
    study = invitation.study
    if request.user.is_authenticated:
        existing = Membership.objects.filter(study=study, user=request.user).first()
        if existing is not None:
            return _after_join(existing)
    signup_form = SignupForm(prefix="signup")
    login_form = AuthenticationForm(request, prefix="login")
    login_form.fields["username"].widget.attrs.pop("autofocus", None)
    # The link's own state (used, full, expired, closed) is checked before anyone signs up or logs in.
    error = _link_problem(invitation)
    if error:
        return render(request, "reader/join.html", {"invitation": invitation, "study": study, "error": error,
                                                    "link_unusable": True}, status=410)
    if request.method == "POST":
        action = request.POST.get("action")
        if action == "signup" and not request.user.is_authenticated:
            signup_form = SignupForm(request.POST, prefix="signup")
            if signup_blocked(request):
                signup_form.refuse_throttled()
            elif signup_form.is_valid():
                user = signup_form.save()
                login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            else:
                signup_failed(request)
        elif action == "login" and not request.user.is_authenticated:
            login_form = AuthenticationForm(request, data=request.POST, prefix="login")
            login_form.fields["username"].widget.attrs.pop("autofocus", None)
            if login_form.is_valid():
                login(request, login_form.get_user())
        if request.user.is_authenticated:
            membership, error = _accept(request, token)
            if membership is not None:
                return _after_join(membership)
    return render(request, "reader/join.html", {
        "invitation": invitation, "study": study, "signup_form": signup_form, "login_form": login_form,
        "error": error,
    }, status=422 if error else 200)


@login_required
@require_http_methods(["GET", "POST"])
def consent(request: HttpRequest, slug: str) -> HttpResponse:
    membership = reader_membership(request.user, slug)
    if _off_step(membership, "consent"):
        return redirect(_step_url(membership))
    form = ConsentForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        consent_record(membership=membership, agreed=True)
        return redirect(_step_url(membership))
    return _page(request, membership, "reader/consent.html",
                 {"form": form, "step": 1, "consent_elsewhere": consent_collected_elsewhere(membership.study)},
                 status=422 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def demographics(request: HttpRequest, slug: str) -> HttpResponse:
    membership = reader_membership(request.user, slug)
    if _off_step(membership, "demographics"):
        return redirect(_step_url(membership))
    profile = ReaderProfile.objects.filter(user=request.user).first()
    form = DemographicsForm(request.POST if request.method == "POST" else None, instance=profile)
    if request.method == "POST" and form.is_valid():
        demographics_save(membership=membership, data=form.cleaned_data)
        return redirect(_step_url(membership))
    return _page(request, membership, "reader/demographics.html", {"form": form, "step": 2},
                 status=422 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def instructions(request: HttpRequest, slug: str) -> HttpResponse:
    membership = reader_membership(request.user, slug)
    if _off_step(membership, "instructions"):
        return redirect(_step_url(membership))
    if request.method == "POST":
        instructions_seen(membership=membership)
        return redirect(_step_url(membership))
    study_options = study_settings_for(membership.study)
    progress = reader_progress(membership)
    return _page(request, membership, "reader/instructions.html",
                 {"options": study_options, "progress": progress, "step": 3})


@login_required
@require_http_methods(["GET", "POST"])
def case(request: HttpRequest, slug: str) -> HttpResponse:
    """Always the reader's current case: GET shows it, POST submits it and shows the next one."""
    membership = _reader(request, slug)
    step, position = reader_state(membership)
    if step == "unavailable":
        return _page(request, membership, "reader/unavailable.html", {"progress": reader_progress(membership)},
                     status=409 if request.method == "POST" else 200)
    if step != "case":
        return _go(request, reverse(STEP_URLS[step], args=[membership.study.slug]))
    if request.method == "POST":
        return _case_post(request, membership, position.item)
    item = position.item
    if request.GET.get("item", "").isdigit():
        # allow_back: a case the reader skipped earlier; otherwise always the current one.
        item = chosen_item(membership, int(request.GET["item"])) or item
    return _show_current(request, membership, item, position.progress)


def _show_current(request: HttpRequest, membership: Membership, item: ScheduleItem | None, progress: Progress, *,
                  notice: str = "", status: int = 200) -> HttpResponse:
    """Show `item`, the reader's current item (from ``reader_state``), or send them to the end."""
    if item is None:
        return _go(request, reverse("reader:end", args=[membership.study.slug]))
    item.study = membership.study
    if not item_is_open(membership, item):  # the current item waits for session 2 (the washout)
        return _page(request, membership, "reader/wait.html",
                     {"opens_at": washout_pending(membership, item), "progress": progress}, status=status)
    item_mark_shown(item=item)
    return _render_case(request, membership, item, progress, notice=notice, status=status)


def _payload(request: HttpRequest) -> dict[str, Any]:
    post = request.POST
    return {
        "differential": post.getlist("dx"),
        "other_text": post.get("other_text", ""),
        "confidence": post.get("confidence"),
        "management": post.get("management"),
        "malignancy": post.get("malignancy"),
        "first_input_at": post.get("first_input_at"),
        "active_ms": post.get("active_ms"),
        "client_timeout": post.get("client_timeout") == "1",
        "ai_opened_at": post.get("ai_opened_at"),
        "opened_neighbours": post.getlist("opened_neighbour"),
    }


def _posted_item(request: HttpRequest, membership: Membership, current: ScheduleItem) -> ScheduleItem:
    """The schedule item the form answers: usually the current one (already loaded), else looked up."""
    try:
        item_id = int(request.POST.get("item_id", ""))
    except ValueError:
        raise Http404("No such schedule item") from None
    return current if current.pk == item_id else assignment_for_reader(membership, item_id)


def _case_post(request: HttpRequest, membership: Membership, current: ScheduleItem) -> HttpResponse:
    """Submit an answer. Whatever goes wrong, only the reader's open item is ever rendered: the
    service checks the turn before the key and the answer, and a 422 re-shows the posted item only
    if it is open (else the reader's current case, 409)."""
    item = _posted_item(request, membership, current)
    payload = _payload(request)
    key = request.POST.get("idempotency_key", "")
    try:
        reading, created = reading_submit(membership=membership, item=item, payload=payload, idempotency_key=key)
    except ValidationError as exc:
        _refresh(membership)
        if not item_is_open(membership, item):
            return _after_refusal(request, membership, _("This is not your current case."))
        raw = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        errors = {("all" if field == "__all__" else field): messages for field, messages in raw.items()}
        return _render_case(request, membership, item, reader_progress(membership), errors=errors, posted=payload,
                            key=key if "idempotency_key" not in errors else "", status=422)
    except ReadingRefused as exc:
        _refresh(membership)
        return _after_refusal(request, membership, exc.message)

    if not created and str(reading.idempotency_key) != str(key):
        # A stale tab answering a case already answered elsewhere: 409, the first answer stands.
        _refresh(membership)
        notice = _("That case had already been answered (perhaps in another tab); your first answer was kept.")
        return _after_refusal(request, membership, notice, unavailable_page=False)
    answered = reading.schedule_item
    answered.study = membership.study
    if created and reference_feedback(answered) is not None:
        feedback_url = reverse("reader:feedback", args=[membership.study.slug, answered.pk])
        if request.htmx:
            return _feedback_response(request, membership, answered)
        return redirect(feedback_url)
    if not created:  # a retry: another request wrote, so what this one holds may be stale
        _refresh(membership)
    # A new reading: reading_submit loaded the study and recorded the reader's progress under the lock.
    if not request.htmx:  # reading_submit marked the membership complete if that was the last item
        return redirect("reader:end" if membership.completed_at else "reader:case", slug=membership.study.slug)
    step, position = reader_state(membership)
    if step != "case":
        return _go(request, reverse(STEP_URLS[step], args=[membership.study.slug]))
    return _show_current(request, membership, position.item, position.progress)


@login_required
@require_POST
def case_draft(request: HttpRequest, slug: str) -> HttpResponse:
    """Save the reader's unfinished answer to their open case as a draft (``reader:case_draft``).

    ``POST <reader:case URL>draft/`` with the case form's fields: ``item_id`` (required), ``dx``
    (repeated, most likely first), ``other_text``, ``confidence``, ``management``, ``malignancy``.
    No idempotency key (each save replaces the last). 204 on success; 404 for an item that is not
    the reader's open item (nothing is saved, nothing shown). With ``exit=1`` (the "Save and exit"
    button) the reader is sent to their home page (303) instead. A draft is never a reading: it
    pre-fills the case page on return and is deleted when the answer is submitted.
    """
    membership = _reader(request, slug)
    try:
        item = assignment_for_reader(membership, int(request.POST.get("item_id", "")))
    except ValueError:
        raise Http404("No such schedule item") from None
    item.study = membership.study
    draft_save(membership=membership, item=item, payload=_payload(request))
    if request.POST.get("exit") == "1":
        if request.htmx:
            return HttpResponseClientRedirect(reverse("home"))
        response = redirect("home")
        response.status_code = 303  # after a POST: the browser GETs the home page
        return response
    return HttpResponse(status=204)


def _after_refusal(request: HttpRequest, membership: Membership, notice: str, *,
                   unavailable_page: bool = True) -> HttpResponse:
    """A submit that saved nothing new: 409 with the reader's current case (or where they must go)."""
    step, position = reader_state(membership)
    if step == "unavailable" and unavailable_page:
        return _page(request, membership, "reader/unavailable.html",
                     {"progress": reader_progress(membership), "notice": notice}, status=409)
    if step != "case":
        return _go(request, reverse(STEP_URLS[step], args=[membership.study.slug]))
    return _show_current(request, membership, position.item, position.progress, notice=notice, status=409)


def _refresh(membership: Membership) -> None:
    """Reload the membership and its study (another request may have changed them); keep the user."""
    user = membership.user
    membership.refresh_from_db()
    membership.user = user


def _timing(item: ScheduleItem, limit_s: int | None) -> dict[str, Any]:
    now = timezone.now()
    context: dict[str, Any] = {"server_now_ms": int(now.timestamp() * 1000)}
    if limit_s and item.shown_at:
        deadline = item.shown_at + dt.timedelta(seconds=limit_s)
        remaining = max(0, math.ceil((deadline - now).total_seconds()))
        context.update(deadline_ms=int(deadline.timestamp() * 1000), remaining_s=remaining,
                       remaining_label=f"{remaining // 60:02d}:{remaining % 60:02d}")
    return context


def _render_case(request: HttpRequest, membership: Membership, item: ScheduleItem, progress: Progress, *,
                 errors: dict[str, list[str]] | None = None, posted: dict[str, Any] | None = None,
                 key: str = "", notice: str = "", status: int = 200) -> HttpResponse:
    study = membership.study
    item.study = study
    require_open(membership, item)  # never render an item that is not open to the reader now
    options = study_settings_for(study)
    context = {
        "item": item,
        "options": options,
        "progress": progress,
        # The answer as posted (re-shown with errors), else the reader's saved draft, else fresh.
        "parts": case_parts(item, options, errors=errors, posted=posted if posted is not None else draft_for(item)),
        "ai_pending": study.design == "sequential" and item.phase == 1,
        "idempotency_key": key or str(uuid.uuid4()),
        "notice": notice,
        "skip_to": skip_target(membership, item),
        **_timing(item, options.time_limit_s),
    }
    template = "reader/_case.html" if request.htmx else "reader/case.html"
    return _page(request, membership, template, context, status=status)


def _feedback_response(request: HttpRequest, membership: Membership, item: ScheduleItem) -> HttpResponse:
    feedback = reference_feedback(item)
    if feedback is None:
        raise Http404("No feedback")
    item.study = membership.study
    reading = item.reading
    context = {"item": item, "feedback": feedback, "reading": reading, "progress": reader_progress(membership)}
    template = "reader/_feedback.html" if request.htmx else "reader/feedback.html"
    return _page(request, membership, template, context)


@login_required
@require_GET
def feedback(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """The reference diagnosis of an answered case, only in studies that give feedback."""
    membership = reader_membership(request.user, slug)
    item = assignment_for_reader(membership, item_id)
    return _feedback_response(request, membership, item)


@login_required
@require_GET
def end(request: HttpRequest, slug: str) -> HttpResponse:
    membership = reader_membership(request.user, slug)
    step, position = reader_state(membership)
    if step not in ("end", "unavailable", "case"):
        return redirect(reverse(STEP_URLS[step], args=[slug]))
    if step == "case" and washout_pending(membership, position.item) is None:
        return redirect(reverse(STEP_URLS[step], args=[slug]))
    progress = position.progress if position else reader_progress(membership)
    return _page(request, membership, "reader/end.html", {"progress": progress, "summary": end_summary(membership)})


@login_required
@require_GET
def image(request: HttpRequest, slug: str, image_id: int) -> HttpResponse:
    """A case image for a reader who has been shown that case; thumbnail unless ?size=full."""
    membership = reader_membership(request.user, slug)
    picture = CaseImage.objects.filter(pk=image_id).only("case_id", "file", "thumbnail", "sha256").first()
    if picture is None or not item_may_view_image(membership, picture.case_id):
        raise Http404("No such image")
    return case_image_response(request, picture, full=request.GET.get("size") == "full")


@login_required
@require_GET
def library_image(request: HttpRequest, slug: str, image_id: int) -> HttpResponse:
    """A reference-library image, only while it is in the display of an item shown with AI to this
    reader now (``reader:library_image``); thumbnail unless ?size=full. Anything else is a 404."""
    membership = reader_membership(request.user, slug)
    picture = CaseImage.objects.filter(pk=image_id).only("case_id", "file", "thumbnail", "sha256").first()
    if picture is None or not library_image_shown(membership, picture.pk):
        raise Http404("No such image")
    return case_image_response(request, picture, full=request.GET.get("size") == "full")


@login_required
@require_GET
def case_ai(request: HttpRequest, slug: str) -> HttpResponse:
    """The AI panel of an on-request arm, fetched when the reader presses "Show AI" (``reader:case_ai``,
    ``GET ?item_id=<schedule item>``: the button sends the answer form's item, so the cached media
    part stays free of reader-specific ids).

    The same blinding rule as the page: a 404 for an item not open to the reader, not yet shown, an
    unaided item or a first look (nothing of any display is rendered)."""
    membership = _reader(request, slug)
    raw = request.GET.get("item_id", "")
    if not raw.isdigit() or len(raw) > 18:  # a bigint at most
        raise Http404("No such schedule item")
    item = assignment_for_reader(membership, int(raw))
    item.study = membership.study
    require_open(membership, item)
    if item.shown_at is None:  # the case page was not shown: its AI cannot be
        raise Http404("No AI for this case")
    ai = ai_display_for_item(item)
    if ai is None:
        raise Http404("No AI for this case")
    return render(request, "reader/_ai_panel.html",
                  {"study": membership.study, "item": item, "ai": ai, "images": ordered_images(item.case_id)})


@login_required
@require_GET
def conditions(request: HttpRequest, slug: str) -> JsonResponse:
    """The taxonomy search index for the diagnosis boxes (no case data, no AI output)."""
    membership = reader_membership(request.user, slug)
    # In the reader's language (names and synonyms) and English; the page asks with ?lang= so a
    # browser-cached index of another language is never reused.
    response = JsonResponse({"conditions": condition_index(membership.study), "language": get_language()})
    response["Cache-Control"] = "private, max-age=300"
    patch_vary_headers(response, ("Accept-Language", "Cookie"))
    return response
