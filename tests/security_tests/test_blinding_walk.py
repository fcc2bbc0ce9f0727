"""The blinding walk (issue 18): every URL pattern and API operation, as every role, in every design,
with every error a reader can provoke, shows no AI output, no reference and no case out of turn.

URL patterns are enumerated from the resolver (``test_url_walk.url_patterns``), so a new view is
walked without being listed here. Each scenario leaves the reader with only unaided items open and
AI items closed (a sequential phase-2 twin, later blocks, crossover session 2 before or during the
washout), so any AI name or percentage in any body or header is a leak. Closed items are also
looked for by their id (form field, JSON id) and by their case's history text; their images must
not be fetchable. Every request runs in a savepoint that is rolled back, so each sees the same state.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog import models as cm
from readerstudy import models as m
from readerstudy.selectors.blinding import open_items
from readerstudy.services.reader_flow import item_mark_shown
from readerstudy.services.readings import reading_submit
from tests.factories import UserFactory
from tests.readerstudy_tests.display_setup import DISPLAY_NEEDLES, add_displays, make_library
from tests.readerstudy_tests.reader_setup import AI_NAMES, AI_NUMBERS, REFERENCE_NAME, answer, build_study
from tests.security_tests.test_url_walk import ADMIN_PREFIX, UNNAMED, client_for, fetch, url_patterns

pytestmark = pytest.mark.django_db

# The display data (gauge values, concept and latent names, gallery hooks) too: the walk's AI arm
# shows similar cases with the vote, and every case has every display precomputed.
# ("/library/" itself is in the API schema and in a login redirect's next=: the 200 check below covers it.)
AI_NEEDLES = AI_NAMES + AI_NUMBERS + ("data-ai-panel", "Simulated AI") + tuple(
    needle for needle in DISPLAY_NEEDLES if needle != "/library/")
# The taxonomy search index lists every condition (AI names and the reference among them) and no case.
TAXONOMY_ONLY = {"reader:conditions", "api:taxonomy-detail", "api:taxonomy-list"}
# A valid answer to the open item is a legitimate step forward: its response shows the next item.
ANSWERS_OPEN_ITEM = "answers the open item"


@dataclass
class Scenario:
    name: str
    design: str
    n_cases: int
    arm_order: list[str] | None = None
    sessions: list[int] | None = None
    allow_back: bool = False
    answered: int = 0          # items answered before the walk
    washout_over: bool = False


SCENARIOS = [
    Scenario("sequential phase 1", m.Design.SEQUENTIAL, 2),
    Scenario("sequential phase 1, allow_back", m.Design.SEQUENTIAL, 2, allow_back=True),
    Scenario("blocks, AI later", m.Design.RANDOMISED_BLOCKS, 3, arm_order=["unaided", "ai", "ai"]),
    Scenario("crossover session 1, allow_back", m.Design.CROSSOVER, 3, arm_order=["unaided", "unaided", "ai"],
             sessions=[1, 1, 2], allow_back=True),
    Scenario("crossover washout", m.Design.CROSSOVER, 3, arm_order=["unaided", "unaided", "ai"],
             sessions=[1, 1, 2], answered=2),
    Scenario("crossover washout, allow_back", m.Design.CROSSOVER, 3, arm_order=["unaided", "unaided", "ai"],
             sessions=[1, 1, 2], answered=2, allow_back=True),
    Scenario("parallel", m.Design.PARALLEL, 3),
    Scenario("benchmark", m.Design.BENCHMARK, 3),
]


def _build(scenario: Scenario):
    built = build_study(design=scenario.design, n_cases=scenario.n_cases, arm_order=scenario.arm_order,
                        sessions=scenario.sessions, images=True,
                        settings_={"allow_back": scenario.allow_back, "washout_days": 14})
    for case in built.cases:
        cm.Case.objects.filter(pk=case.pk).update(history=f"History of case {case.key}.")
    if built.ai is not None:  # the AI arm shows similar cases from a reference library
        library, library_images = make_library(built.study.case_set.taxonomy)
        m.Study.objects.filter(pk=built.study.pk).update(reference_library=library)
        built.study.refresh_from_db()
        m.Arm.objects.filter(pk=built.ai.pk).update(assist={"top_k": 3, "show_probabilities": True,
                                                            "display": "similar_cases", "knn_vote": True})
        add_displays(built, library_images)
    for item in built.items[:scenario.answered]:
        reading_submit(membership=built.membership, item=item, payload=answer(), idempotency_key=uuid.uuid4())
    built.membership.refresh_from_db()
    current = open_items(built.membership).order_by("position").first()
    if current is not None:
        current.membership, current.study = built.membership, built.study
        item_mark_shown(item=current)  # the reader has their current case on screen
    open_ids = set(open_items(built.membership).values_list("pk", flat=True))
    closed = [i for i in built.items if i.pk not in open_ids and not m.Reading.objects.filter(schedule_item=i).exists()]
    open_cases = {i.case_id for i in built.items if i.pk in open_ids or m.Reading.objects.filter(schedule_item=i).exists()}
    assert closed, "the scenario must have closed items to look for"
    return built, open_ids, closed, open_cases


def _leaks(response, closed, built, open_cases) -> list[str]:
    body = b"".join(response.streaming_content) if getattr(response, "streaming", False) else response.content
    headers = str(dict(response.headers))
    found = []
    is_image = response.get("Content-Type", "").startswith("image/")
    text = "" if is_image else body.decode("utf-8", "replace")
    # A 404 page may echo the path asked for (a library image URL): that is the request, not a leak.
    text = text.replace(response.request.get("PATH_INFO", "\0"), "")
    if "/library/" in response.request.get("PATH_INFO", "") and response.status_code == 200:
        found.append(f"a library image answered {response.status_code}")
    for needle in AI_NEEDLES:
        if needle in text or needle in headers:
            found.append(f"AI output {needle!r}")
    if REFERENCE_NAME.lower() in text.lower() or REFERENCE_NAME.lower() in headers.lower():
        found.append("the reference diagnosis")
    for item in closed:
        if f'name="item_id" value="{item.pk}"' in text:
            found.append(f"closed item {item.pk} in a form")
        if response.get("Content-Type", "").startswith("application/json"):
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if _json_has_item(data, item.pk):
                found.append(f"closed item {item.pk} in JSON")
        case = next(c for c in built.cases if c.pk == item.case_id)
        if item.case_id not in open_cases and f"History of case {case.key}." in text:
            found.append(f"closed case {case.key}")
    return found


def _json_has_item(data, pk: int) -> bool:
    if isinstance(data, dict):
        if data.get("id") == pk and ("phase" in data or "position" in data):
            return True
        return any(_json_has_item(v, pk) for v in data.values())
    if isinstance(data, list):
        return any(_json_has_item(v, pk) for v in data)
    return False


def _walk_images(built) -> list[cm.CaseImage]:
    """Study cases' images and the reference library's (reader:library_image and the API's): none reachable."""
    images = list(cm.CaseImage.objects.filter(case__in=built.cases))
    if built.study.reference_library_id:
        images += list(cm.CaseImage.objects.filter(case__case_set_id=built.study.reference_library_id))
    return images


def _requests(built, closed, open_ids):
    """(label, method, url, data, extra headers) for every URL pattern, with every item and error variant."""
    slug = built.study.slug
    items = [i for i in built.items]
    images = _walk_images(built)
    invitation = m.Invitation.objects.create(study=built.study, token=f"walk-{slug}", single_use=False)
    htmx = {"HTTP_HX_REQUEST": "true"}
    for name, pattern, _route in url_patterns():
        if name.startswith(ADMIN_PREFIX) or UNNAMED in name or name == "api:not-found":
            continue
        converters = set(getattr(pattern.pattern, "converters", {}) or pattern.pattern.regex.groupindex)
        variants = [{}]
        if "item_id" in converters:
            variants = [{"item_id": i.pk} for i in items]
        if "image_id" in converters:
            variants = [{"image_id": im.pk} for im in images]
        for kwargs in variants:
            fill = {"slug": slug, "token": invitation.token, "pk": 1, "run_id": 1, "invitation_id": invitation.pk,
                    "name": "readings.csv", "uidb64": "x"}
            full = {k: kwargs.get(k, fill.get(k, 1)) for k in converters}
            try:
                url = reverse(name, kwargs=full)
            except Exception:  # noqa: BLE001 - a pattern this walk cannot fill is walked by test_url_walk
                continue
            yield name, "GET", url, None, {}
            if name.startswith("reader:"):
                yield name, "GET", url, None, htmx
            if "image_id" in converters:
                yield name, "GET", url + "?size=full", None, {}
    case_url = reverse("reader:case", args=[slug])
    draft_url = reverse("reader:case_draft", args=[slug])
    api_readings = f"/api/v1/studies/{slug}/readings/"
    ai_url = reverse("reader:case_ai", args=[slug])
    for item in items:
        yield "reader:case ?item", "GET", f"{case_url}?item={item.pk}", None, {}
        yield "reader:case_ai ?item_id", "GET", f"{ai_url}?item_id={item.pk}", None, htmx
        for key in ("", "not-a-uuid", str(uuid.uuid4())):
            for payload in (answer(), {"differential": ["NOPE"]}):
                legit = f" ({ANSWERS_OPEN_ITEM})" if item.pk in open_ids and len(key) == 36 and \
                    payload.get("confidence") else ""
                data = {"item_id": str(item.pk), "idempotency_key": key, "dx": payload.get("differential", []),
                        "confidence": str(payload.get("confidence", "")), "management": payload.get("management", "")}
                yield "reader:case POST" + legit, "POST", case_url, data, {}
                yield "reader:case POST htmx" + legit, "POST", case_url, data, htmx
                yield "api readings POST" + legit, "POST-JSON", api_readings, {
                    "item": item.pk, "idempotency_key": key or None, **payload}, {}
        yield "reader:case_draft POST", "POST", draft_url, {"item_id": str(item.pk), "dx": ["NEV"]}, {}
        yield "reader:case_draft POST exit", "POST", draft_url, {"item_id": str(item.pk), "exit": "1"}, htmx


def _send(client: Client, method: str, url: str, data, headers):
    if method == "GET":
        return fetch(client, "GET", url) if not headers else _rolled_back(lambda: client.get(url, **headers))
    if method == "POST-JSON":
        body = {k: v for k, v in data.items() if v is not None}
        return _rolled_back(lambda: client.post(url, json.dumps(body), content_type="application/json"))
    return _rolled_back(lambda: client.post(url, data, **headers))


def _rolled_back(call):
    from django.db import transaction

    with transaction.atomic():
        response = call()
        transaction.set_rollback(True)
    return response


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_no_ai_reference_or_case_out_of_turn_anywhere(scenario, settings):
    settings.AXES_ENABLED = False
    built, open_ids, closed, open_cases = _build(scenario)
    other = build_study(design=m.Design.PARALLEL, n_cases=1)
    staff = UserFactory(is_staff=True)
    roles = {"reader": built.user, "anon": None, "reader of another study": other.user}
    problems, statuses = [], set()
    requests = list(_requests(built, closed, open_ids))
    for role, user in roles.items():
        client = client_for(user)
        # Others reach none of the reader's pages: one request per URL and endpoint is enough for them.
        walk = requests if role == "reader" else list({(r[0], r[1], r[2]): r for r in requests}.values())
        for label, method, url, data, headers in walk:
            response = _send(client, method, url, data, headers)
            statuses.add(response.status_code)
            if response.status_code >= 500:
                problems.append(f"{role}: {label} {method} {url} -> {response.status_code}")
            if label in TAXONOMY_ONLY or ANSWERS_OPEN_ITEM in label:
                continue
            for leak in _leaks(response, closed, built, open_cases):
                problems.append(f"{role}: {label} {method} {url} {data or ''} -> {response.status_code}: {leak}")
    # Nothing above started a closed item's clock or made its images reachable.
    assert not m.ScheduleItem.objects.filter(pk__in=[i.pk for i in closed], shown_at__isnull=False).exists()
    assert not m.Reading.objects.filter(schedule_item__in=closed).exists()
    assert {200, 404, 409} <= statuses, statuses  # the walk reached pages, refusals and 404s
    assert staff  # staff see AI outputs by design; their pages are walked by test_url_walk
    assert not problems, f"{scenario.name}:\n" + "\n".join(sorted(set(problems))[:40])


def test_the_walk_sees_ai_output_when_it_is_open(client):
    """Positive control: the markers the walk looks for do appear once an AI item is open."""
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=1)
    reading_submit(membership=built.membership, item=built.items[0], payload=answer(), idempotency_key=uuid.uuid4())
    client.force_login(built.user)
    text = client.get(reverse("reader:case", args=[built.study.slug])).content.decode()
    assert all(name in text for name in AI_NAMES) and "data-ai-panel" in text


def test_washout_opens_session_two_when_it_has_passed(client):
    built = build_study(design=m.Design.CROSSOVER, n_cases=2, arm_order=["unaided", "ai"], sessions=[1, 2],
                        settings_={"washout_days": 14})
    reading_submit(membership=built.membership, item=built.items[0], payload=answer(), idempotency_key=uuid.uuid4())
    client.force_login(built.user)
    api = client.get(f"/api/v1/studies/{built.study.slug}/schedule/next/").json()
    assert api["step"] == "wait" and api["item"] is None and api["opens_at"]
    assert m.ScheduleItem.objects.get(pk=built.items[1].pk).shown_at is None
    m.Membership.objects.filter(pk=built.membership.pk).update(
        session1_completed_at=timezone.now() - dt.timedelta(days=15))
    api = client.get(f"/api/v1/studies/{built.study.slug}/schedule/next/").json()
    assert api["step"] == "case" and api["item"]["id"] == built.items[1].pk and api["item"]["ai"]["items"]
