from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from readerstudy.models import Membership, Role
from readerstudy.selectors.steps import reader_home_status


def _links(membership: Membership) -> list[dict[str, str]]:
    """Entry points per role; a page that does not exist yet is simply not linked."""
    names = {
        Role.READER: [("reader:start", "Continue reading")],
        Role.COORDINATOR: [("studies:detail", "Manage study"), ("studies:progress", "Progress")],
        Role.STATISTICIAN: [("studies:progress", "Progress"), ("studies:export_readings", "Download readings")],
    }[membership.role]
    links = []
    for name, label in names:
        links.append({"url": reverse(name, args=[membership.study.slug]), "label": label})
    return links


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("study").order_by("-study__created_at")
    rows = [{"study": ms.study, "role": ms.get_role_display(), "links": _links(ms),
             "reader": reader_home_status(ms) if ms.role == Role.READER else None} for ms in memberships]
    return render(request, "home.html", {"studies": rows})
