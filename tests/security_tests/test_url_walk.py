"""Every URL pattern of the project, with every role, gets the status the access policy expects.

The table below classifies each URL name. A URL name the table does not know fails
``test_every_url_name_is_classified``: a new view must be added here, with a deliberate decision
about who may reach it. Study-scoped URLs are filled in with study A's slug and A's objects;
the "other" role is a reader of study B, who must learn nothing about A (404, never 403).

Writes (POST) run inside a savepoint that is rolled back, so every request sees the same data.
"""

from __future__ import annotations

import copy
import re

import pytest
from django.contrib.auth.models import Permission
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from catalog import models as cm
from readerstudy import models as m
from readerstudy.services.readings import reading_submit
from tests.factories import MembershipFactory, UserFactory
from tests.readerstudy_tests.reader_setup import answer, build_study

ROLES = ("anon", "other", "reader", "stat", "coord", "staff")

# Shorthands: a page behind @login_required sends the anonymous visitor to the login page (302);
# the API answers 401. Anything out of a user's reach is 404 (never 403) so studies stay secret.
OK, REDIRECT, NOT_FOUND = 200, 302, 404


def row(method: str, anon, other, reader, stat, coord, staff) -> tuple[str, dict[str, object]]:
    return method, dict(zip(ROLES, (anon, other, reader, stat, coord, staff), strict=True))


def everyone(method: str, status) -> tuple[str, dict[str, object]]:
    return row(method, status, status, status, status, status, status)


def page(method: str, other, reader, stat, coord, staff):
    return row(method, REDIRECT, other, reader, stat, coord, staff)


def api(method: str, other, reader, stat, coord, staff):
    return row(method, 401, other, reader, stat, coord, staff)


MONITOR_PAGE = page("GET", NOT_FOUND, NOT_FOUND, OK, OK, OK)  # coordinators and statisticians
MANAGE_PAGE = page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK)  # coordinators only
MANAGE_POST = page("POST", NOT_FOUND, NOT_FOUND, NOT_FOUND, REDIRECT, REDIRECT)
READER_PAGE = page("GET", NOT_FOUND, OK, NOT_FOUND, NOT_FOUND, NOT_FOUND)  # the study's own readers only
READER_STEP_DONE = page("GET", NOT_FOUND, REDIRECT, NOT_FOUND, NOT_FOUND, NOT_FOUND)
API_STAFF = api("GET", NOT_FOUND, NOT_FOUND, OK, OK, OK)
API_READER = api("GET", NOT_FOUND, OK, NOT_FOUND, NOT_FOUND, NOT_FOUND)
API_TRANSITION = api("POST", NOT_FOUND, NOT_FOUND, NOT_FOUND, {200, 409}, {200, 409})
API_SIGNED_IN = api("GET", OK, OK, OK, OK, OK)

EXPECTED: dict[str, tuple[str, dict[str, object]]] = {
    # --- public and account pages
    "healthz": everyone("GET", OK),
    "login": everyone("GET", OK),
    "logout": everyone("POST", REDIRECT),
    "favicon": everyone("GET", REDIRECT),
    "set_language": everyone("POST", REDIRECT),  # back to the page it came from; no data
    "javascript-catalog": everyone("GET", OK),  # the interface's JS strings, the same for everyone
    "password_reset": everyone("GET", OK),
    "password_reset_done": everyone("GET", OK),
    "password_reset_confirm": everyone("GET", OK),  # an unknown link: "This link no longer works"
    "password_reset_complete": everyone("GET", OK),
    "home": page("GET", OK, OK, OK, OK, OK),
    # --- case sets and interchange (not study-scoped: by permission)
    "case_sets": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK),
    "case_set_import": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK),
    "case_set_template": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK),  # importers only
    "case_set_detail": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK),  # its coordinators: reference labels
    "case_set_image": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK),
    "interchange:readings_import": page("GET", NOT_FOUND, NOT_FOUND, OK, OK, OK),
    # --- coordinator and statistician pages of study A
    "studies:create": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK),
    "studies:detail": MONITOR_PAGE,
    "studies:edit": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, {OK, REDIRECT}, {OK, REDIRECT}),
    "studies:launch": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, {OK, REDIRECT}, {OK, REDIRECT}),
    "studies:pause": MANAGE_POST,
    "studies:resume": MANAGE_POST,
    "studies:close": MANAGE_POST,
    "studies:invitations": MANAGE_PAGE,
    "studies:invitation_revoke": MANAGE_POST,
    "studies:progress": MONITOR_PAGE,
    "studies:member": MONITOR_PAGE,
    "studies:export_readings": MONITOR_PAGE,
    "studies:export_schedules": MONITOR_PAGE,
    "studies:export_case_progress": MONITOR_PAGE,
    "analysis:list": MONITOR_PAGE,
    "analysis:detail": MONITOR_PAGE,
    "analysis:report": MONITOR_PAGE,
    "analysis:results": MONITOR_PAGE,
    # power: staff POST an empty form (400 naming the fields); the walk's run is a comparison, so its
    # power.json is 404 even for staff (tests/readerstudy_tests/test_analysis_power_run.py covers a power run)
    "analysis:power": page("POST", NOT_FOUND, NOT_FOUND, 400, 400, 400),
    "analysis:power_json": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    # --- reader pages of study A (the reader has passed consent, demographics and instructions)
    "reader:join": row("GET", OK, OK, REDIRECT, REDIRECT, REDIRECT, OK),
    "reader:start": READER_STEP_DONE,
    "reader:consent": READER_STEP_DONE,
    "reader:demographics": READER_STEP_DONE,
    "reader:instructions": READER_STEP_DONE,
    "reader:case": READER_PAGE,
    # An empty form names no item: 404 for everyone (the reader's own open item gives 204, see test_drafts).
    "reader:case_draft": page("POST", NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "reader:feedback": READER_PAGE,
    "reader:end": READER_STEP_DONE,
    "reader:image": READER_PAGE,
    # Library images and the on-request AI panel: 404 unless an item is shown with AI (none in this world).
    "reader:library_image": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "reader:case_ai": page("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "reader:conditions": READER_PAGE,
    # --- inference pages (precompute for coordinators, the model's evaluation for coordinators and statisticians)
    "study_ai:precompute": MANAGE_PAGE,
    "study_ai:precompute_progress": MANAGE_PAGE,
    "study_ai:evaluation": MONITOR_PAGE,
    "study_ai:evaluation_start": MANAGE_POST,
    # --- REST API
    "api:index": everyone("GET", OK),
    "api:schema": everyone("GET", OK),
    "api:docs": everyone("GET", OK),
    "api:redoc": everyone("GET", OK),
    "api:me": API_SIGNED_IN,
    "api:taxonomy-list": API_SIGNED_IN,
    "api:taxonomy-detail": API_SIGNED_IN,
    "api:case-set-list": API_SIGNED_IN,  # filtered to what each user may see
    "api:case-set-detail": API_STAFF,
    "api:case-list": API_STAFF,
    "api:case-set-import": api("POST", 403, 403, 403, 400, 400),  # empty form: allowed users get 400
    "api:model-version-list": API_SIGNED_IN,
    "api:model-version-detail": API_STAFF,
    "api:study-list": API_SIGNED_IN,
    "api:study-detail": api("GET", NOT_FOUND, OK, OK, OK, OK),
    "api:study-launch": API_TRANSITION,
    "api:study-pause": API_TRANSITION,
    "api:study-resume": API_TRANSITION,
    "api:study-close": API_TRANSITION,
    "api:study-progress": API_STAFF,
    "api:study-invitations": api("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, OK, OK),
    "api:reader-schedule": API_READER,
    "api:reader-next": API_READER,
    "api:reader-image": API_READER,
    "api:reader-library-image": api("GET", NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND, NOT_FOUND),
    "api:study-readings": API_STAFF,
    "api:study-model-outputs": API_STAFF,
    "api:study-export": API_STAFF,
    "api:analysis-run-list": API_STAFF,
    "api:analysis-run-detail": API_STAFF,
    "api:analysis-run-results": API_STAFF,
    "api:analysis-run-report": API_STAFF,
    "api:readings-import": api("POST", 403, 403, 400, 400, 400),  # empty form: allowed users get 400
    "api:not-found": everyone("GET", NOT_FOUND),
}

# URL names classified ahead of being mounted (none at the moment).
OPTIONAL: dict[str, tuple[str, dict[str, object]]] = {}

# Django admin: every page is for staff only; others are sent to the admin login page.
ADMIN_PREFIX = "admin:"
ADMIN_OPEN = {"admin:login", "admin:logout"}


UNNAMED = "unnamed:"


def url_patterns() -> list[tuple[str, URLPattern, str]]:
    """(qualified name, pattern, full route) of every URL pattern in the project, namespaces included."""
    found: list[tuple[str, URLPattern, str]] = []

    def walk(patterns, namespace: str, prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, namespace + (f"{entry.namespace}:" if entry.namespace else ""), route)
            else:
                found.append((namespace + (entry.name or UNNAMED + route), entry, route))

    walk(get_resolver().url_patterns, "", "/")
    return found


@pytest.fixture
def world(db, settings):
    """Study A (a reader mid-study, a statistician, a coordinator) and study B with its own reader."""
    settings.AXES_ENABLED = False
    a = build_study(design=m.Design.PARALLEL, n_cases=3, settings_={"feedback": True}, images=True)
    b = build_study(design=m.Design.PARALLEL, n_cases=2, images=True)
    reading_submit(membership=a.membership, item=a.items[0], payload=answer(), idempotency_key=
                   "00000000-0000-4000-8000-000000000001")
    coordinator = UserFactory(username="coordinator-a")
    coordinator.user_permissions.add(*Permission.objects.filter(codename__in=["add_caseset", "add_study"]))
    statistician = UserFactory(username="statistician-a")
    MembershipFactory(study=a.study, user=coordinator, role=m.Role.COORDINATOR, pseudonym="C-A")
    MembershipFactory(study=a.study, user=statistician, role=m.Role.STATISTICIAN, pseudonym="S-A")
    staff = UserFactory(username="staff", is_staff=True, is_superuser=True)
    invitation = m.Invitation.objects.create(study=a.study, token="invite-a-token", single_use=False)
    report = default_storage.save(f"reports/{a.study.slug}/1/report.html", ContentFile(b"<html>report</html>"))
    run = m.AnalysisRun.objects.create(
        study=a.study, params={"outcome": "correct_top1"}, status=m.RunStatus.DONE, progress=100,
        results={"outcome": "correct_top1"}, report_path=report, finished_at=timezone.now(),
    )
    users = {"anon": None, "other": b.user, "reader": a.user, "stat": statistician, "coord": coordinator,
             "staff": staff}
    image = cm.CaseImage.objects.filter(case=a.items[0].case).order_by("order").first()
    values = {
        "slug": a.study.slug, "token": invitation.token, "item_id": a.items[0].pk, "image_id": image.pk,
        "invitation_id": invitation.pk, "run_id": run.pk, "name": "readings.csv", "app_label": "auth",
        "object_id": str(a.study.pk), "content_type_id": 1, "uidb64": "x", "token_": "x",
        "fmt": "csv", "pseudonym": a.membership.pseudonym,
    }
    pks = {"api:taxonomy-detail": a.study.case_set.taxonomy_id, "api:case-set-detail": a.study.case_set_id,
           "api:case-list": a.study.case_set_id, "api:model-version-detail": a.model.pk,
           "case_set_detail": a.study.case_set_id, "case_set_image": a.study.case_set_id}
    return {"users": users, "values": values, "pks": pks}


def url_for(name: str, pattern: URLPattern, route: str, world) -> str:
    if name == "api:not-found":
        return "/api/v1/no-such-endpoint/"
    converters = getattr(pattern.pattern, "converters", None) or pattern.pattern.regex.groupindex
    kwargs = {key: world["pks"].get(name, 1) if key == "pk" else world["values"].get(key, 1) for key in converters}
    if UNNAMED in name:  # e.g. the admin's catch-all redirect: fill the route by hand
        return re.sub(r"<(?:\w+:)?(\w+)>", lambda match: str(kwargs[match.group(1)]), route)
    return reverse(name, kwargs=kwargs)


def fetch(client: Client, method: str, url: str):
    """One request; writes (and a logout's cookie change) are undone so the next request sees the same world."""
    cookies = copy.deepcopy(client.cookies)
    with transaction.atomic():
        response = client.post(url, {}) if method == "POST" else client.get(url)
        transaction.set_rollback(True)
    client.cookies = cookies
    return response


def client_for(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def _matches(status: int, expected) -> bool:
    return status in expected if isinstance(expected, set) else status == expected


def test_every_url_name_is_classified():
    names = {name for name, _, _ in url_patterns() if not name.startswith(ADMIN_PREFIX)}
    unknown = sorted(names - set(EXPECTED) - set(OPTIONAL))
    stale = sorted(set(EXPECTED) - names)
    assert not unknown, f"URL names without an access expectation; classify them in EXPECTED: {unknown}"
    assert not stale, f"EXPECTED names that no longer exist; remove them: {stale}"


@pytest.mark.parametrize("role", ROLES)
def test_each_url_gives_the_expected_status(world, role):
    client = client_for(world["users"][role])
    problems = []
    for name, pattern, route in url_patterns():
        if name.startswith(ADMIN_PREFIX):
            continue
        method, expected = EXPECTED.get(name) or OPTIONAL[name]
        url = url_for(name, pattern, route, world)
        response = fetch(client, method, url)
        if not _matches(response.status_code, expected[role]):
            problems.append(f"{name}: {method} {url} -> {response.status_code}, expected {expected[role]}")
        if role == "anon" and response.status_code == REDIRECT and not name.startswith("api:") and name not in {"logout", "favicon", "set_language"}:
            assert response.headers["Location"].startswith(reverse("login")), (name, response.headers["Location"])
    assert not problems, f"{role}:\n" + "\n".join(problems)


@pytest.mark.parametrize("role", ROLES)
def test_admin_is_for_staff_only(world, role):
    client = client_for(world["users"][role])
    problems = []
    for name, pattern, route in url_patterns():
        if not name.startswith(ADMIN_PREFIX):
            continue
        url = url_for(name, pattern, route, world)
        response = fetch(client, "GET", url)
        status = response.status_code
        if status >= 500:
            problems.append(f"{name}: {url} -> {status}")
        elif role != "staff" and name not in ADMIN_OPEN:
            # Everyone else is sent to the admin login page (or refused outright), never served.
            sent_away = status == REDIRECT and "/admin/login/" in response.headers.get("Location", "")
            if not (sent_away or status in (403, 404, 405)):
                problems.append(f"{name}: {url} -> {status} for a non-staff user")
    assert not problems, f"{role}:\n" + "\n".join(problems)


def test_reader_of_another_study_sees_nothing_of_it(world):
    """The other study's reader gets 404 (not 403) on A's reader page, exactly as for a made-up slug."""
    client = client_for(world["users"]["other"])
    real = client.get(reverse("reader:case", args=[world["values"]["slug"]]))
    made_up = client.get(reverse("reader:case", args=["no-such-study"]))
    assert real.status_code == made_up.status_code == NOT_FOUND
