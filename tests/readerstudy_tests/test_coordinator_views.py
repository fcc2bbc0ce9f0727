"""Coordinator pages through the client: permission matrix, forms, launch, invitations, polling, exports."""

from __future__ import annotations

import io
import re
import time

import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from readerstudy.exports.tables import READINGS_COLUMNS
from readerstudy.models import Invitation, Role, ScheduleItem, Study, StudyStatus
from readerstudy.selectors.progress import progress_fingerprint
from readerstudy.services import studies
from readerstudy.views.coordinator import PROGRESS_CASE_ROWS, PROGRESS_IDLE_SECONDS
from tests.factories import UserFactory

from .studies_helpers import case_set_with, enrol_readers, make_study, model_version_for, submit

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def world():
    """A launched study with a coordinator, a statistician and a reader; another study with its reader."""
    study = make_study(design="sequential", n_cases=3)
    statistician = UserFactory()
    studies.membership_add(study=study, user=statistician, role=Role.STATISTICIAN, actor=None)
    (reader,) = enrol_readers(study, 1)
    studies.study_launch(study=study, actor=None)
    other = make_study(design="benchmark", n_cases=2)
    (other_reader,) = enrol_readers(other, 1)
    return {
        "study": study,
        "users": {
            "coordinator": study.created_by,
            "statistician": statistician,
            "reader": reader.user,
            "other_reader": other_reader.user,
        },
        "reader": reader,
    }


# (url name, method, expected status per role); anonymous users are always sent to log in.
MATRIX = [
    ("studies:detail", "get", {"other_reader": 404, "reader": 404, "statistician": 200, "coordinator": 200}),
    ("studies:edit", "get", {"other_reader": 404, "reader": 404, "statistician": 404, "coordinator": 200}),
    ("studies:launch", "get", {"other_reader": 404, "reader": 404, "statistician": 404, "coordinator": 200}),
    (
        "studies:invitations",
        "get",
        {"other_reader": 404, "reader": 404, "statistician": 404, "coordinator": 200},
    ),
    (
        "studies:progress",
        "get",
        {"other_reader": 404, "reader": 404, "statistician": 200, "coordinator": 200},
    ),
    (
        "studies:export_readings",
        "get",
        {"other_reader": 404, "reader": 404, "statistician": 200, "coordinator": 200},
    ),
    (
        "studies:export_schedules",
        "get",
        {"other_reader": 404, "reader": 404, "statistician": 200, "coordinator": 200},
    ),
    ("studies:pause", "post", {"other_reader": 404, "reader": 404, "statistician": 404, "coordinator": 302}),
    ("studies:resume", "post", {"other_reader": 404, "reader": 404, "statistician": 404, "coordinator": 302}),
    ("studies:close", "post", {"other_reader": 404, "reader": 404, "statistician": 404, "coordinator": 302}),
]


@pytest.mark.parametrize(("name", "method", "expected"), MATRIX, ids=[row[0] for row in MATRIX])
def test_permission_matrix(client, world, name, method, expected):
    url = reverse(name, args=[world["study"].slug])
    response = getattr(client, method)(url)
    assert response.status_code == 302 and reverse("login") in response["Location"]
    for role, status in expected.items():
        client.force_login(world["users"][role])
        response = getattr(client, method)(url)
        assert response.status_code == status, (name, role)
        client.logout()


def test_revoke_permission(client, world):
    invitation = studies.invitation_create(study=world["study"], actor=None)
    url = reverse("studies:invitation_revoke", args=[world["study"].slug, invitation.pk])
    for role in ("other_reader", "reader", "statistician"):
        client.force_login(world["users"][role])
        assert client.post(url).status_code == 404
    client.force_login(world["users"]["coordinator"])
    assert client.post(url).status_code == 302
    invitation.refresh_from_db()
    assert invitation.revoked


def test_invitation_of_another_study_cannot_be_revoked(client, world):
    foreign = studies.invitation_create(study=make_study(), actor=None)
    client.force_login(world["users"]["coordinator"])
    url = reverse("studies:invitation_revoke", args=[world["study"].slug, foreign.pk])
    assert client.post(url).status_code == 404


def test_create_page_needs_permission_and_creates_a_draft(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get(reverse("studies:create")).status_code == 404
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    assert client.get(reverse("studies:create")).status_code == 200
    case_set = case_set_with(4)
    data = {
        "title": "Pigmented lesions",
        "case_set": case_set.pk,
        "design": "crossover",
        "consent_version": "1",
        "model_version": model_version_for(case_set).pk,
        "top_k": 3,
        "ask_confidence": "on",
        "block_size": 10,
        "washout_days": 21,
        "repeat_cases": 0,
        "completion_threshold": 0.95,
        "ai_top_k": 3,
        "ai_show_probabilities": "on",
        "arm-0-name": "unaided", "arm-0-label": "Unaided", "arm-0-kind": "unaided",
        "arm-1-name": "ai", "arm-1-label": "AI-assisted", "arm-1-kind": "ai", "arm-1-faulty_rate": 0.1,
    }
    response = client.post(reverse("studies:create"), data)
    study = Study.objects.get(slug="pigmented-lesions")
    assert response.status_code == 302 and response["Location"] == reverse(
        "studies:detail", args=[study.slug]
    )
    assert study.settings["washout_days"] == 21 and study.status == StudyStatus.DRAFT
    ai_arm = study.arms.get(kind="ai")
    assert ai_arm.assist == {"top_k": 3, "show_probabilities": True, "faulty_rate": 0.1}
    assert study.memberships.get(user=user).role == Role.COORDINATOR
    missing_title = client.post(reverse("studies:create"), {**data, "title": ""})
    assert missing_title.status_code == 200 and Study.objects.count() == 1
    bad_settings = client.post(reverse("studies:create"), {**data, "top_k": 9, "training_cases": "a, b"})
    assert bad_settings.status_code == 200 and Study.objects.count() == 1
    one_arm = {key: value for key, value in data.items() if not key.startswith("arm-1-")}
    wrong_arms = client.post(reverse("studies:create"), one_arm)
    assert "needs exactly one unaided arm and one AI arm" in wrong_arms.content.decode()
    assert Study.objects.count() == 1


def test_edit_after_launch_explains_and_keeps_data_fields(client, world):
    study = world["study"]
    client.force_login(world["users"]["coordinator"])
    page = client.get(reverse("studies:edit", args=[study.slug])).content.decode()
    assert "Only the title, the description and the" in page
    assert 'name="design"' in page and "disabled" in page
    response = client.post(
        reverse("studies:edit", args=[study.slug]),
        {"title": "New title", "description": "", "max_readers": 50, "design": "benchmark"},
    )
    assert response.status_code == 302
    study.refresh_from_db()
    assert (study.title, study.design, study.settings["max_readers"]) == ("New title", "sequential", 50)


def test_launch_page_lists_problems_then_launches(client):
    coordinator = UserFactory()
    study = make_study(coordinator=coordinator, with_model=False)
    client.force_login(coordinator)
    url = reverse("studies:launch", args=[study.slug])
    assert "The AI arm needs a model version" in client.get(url).content.decode()
    response = client.post(url, follow=True)
    assert "The AI arm needs a model version" in response.content.decode()
    study.model_version = model_version_for(study.case_set)
    study.save(update_fields=["model_version"])
    enrol_readers(study, 2)
    response = client.post(url)
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.status == StudyStatus.LAUNCHED
    assert ScheduleItem.objects.filter(study=study).values("membership").distinct().count() == 2


def test_status_buttons(client, world):
    study = world["study"]
    client.force_login(world["users"]["coordinator"])
    client.post(reverse("studies:pause", args=[study.slug]))
    study.refresh_from_db()
    assert study.status == StudyStatus.PAUSED
    client.post(reverse("studies:resume", args=[study.slug]))
    client.post(reverse("studies:close", args=[study.slug]))
    study.refresh_from_db()
    assert study.status == StudyStatus.CLOSED
    response = client.post(reverse("studies:pause", args=[study.slug]), follow=True)
    assert "A closed study cannot be paused." in response.content.decode()


def test_invitations_page_creates_copyable_links(client, world):
    study = world["study"]
    client.force_login(world["users"]["coordinator"])
    url = reverse("studies:invitations", args=[study.slug])
    client.post(url, {"role": "reader", "kind": "single", "count": 3})
    client.post(url, {"role": "reader", "kind": "open", "count": 1, "max_uses": 20})
    assert Invitation.objects.filter(study=study, single_use=True).count() == 3
    assert Invitation.objects.get(study=study, single_use=False).max_uses == 20
    page = client.get(url).content.decode()
    for invitation in Invitation.objects.filter(study=study):
        assert f"http://testserver{reverse('reader:join', args=[invitation.token])}" in page
    assert 'class="copy"' in page
    bad = client.post(url, {"role": "reader", "kind": "open", "count": 1, "max_uses": 0})
    assert bad.status_code == 200 and Invitation.objects.filter(study=study).count() == 4


def test_progress_page_and_partial(client, world):
    study, reader = world["study"], world["reader"]
    client.force_login(world["users"]["statistician"])
    url = reverse("studies:progress", args=[study.slug])
    page = client.get(url).content.decode()
    assert "<html" in page and 'hx-trigger="every' in page and "R001" in page
    partial = client.get(url, **HX)
    assert partial.status_code == 200 and "<html" not in partial.content.decode()
    fingerprint = progress_fingerprint(study)
    now = int(time.time())
    # Nothing changed since the last poll: nothing to swap, keep polling for a while...
    assert client.get(url, {"since": fingerprint, "at": now}, **HX).status_code == 204
    # ...and stop once nothing has changed for the idle time.
    stopped = client.get(url, {"since": fingerprint, "at": now - PROGRESS_IDLE_SECONDS}, **HX)
    assert stopped.status_code == 286 and "hx-trigger" not in stopped.content.decode()
    assert "Resume" in stopped.content.decode()
    # A new reading changes the fingerprint: the partial is sent again with the new one.
    submit(ScheduleItem.objects.filter(membership=reader).order_by("position").first(), ["MEL"])
    changed = client.get(url, {"since": fingerprint, "at": now}, **HX)
    assert changed.status_code == 200 and "1 / 6" in changed.content.decode()
    assert progress_fingerprint(study) != fingerprint


def test_progress_stops_polling_when_closed(client, world):
    study = world["study"]
    studies.study_close(study=study, actor=None)
    client.force_login(world["users"]["coordinator"])
    url = reverse("studies:progress", args=[study.slug])
    response = client.get(url, **HX)
    assert response.status_code == 286 and "these numbers are final" in response.content.decode()
    assert 'hx-trigger="every' not in client.get(url).content.decode()


def test_progress_queries_do_not_grow_with_readers(client):
    coordinator = UserFactory()
    study = make_study(coordinator=coordinator, n_cases=4)
    enrol_readers(study, 2)
    studies.study_launch(study=study, actor=None)
    client.force_login(coordinator)
    url = reverse("studies:progress", args=[study.slug])

    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url, **HX).status_code == 200
        return len(queries)

    small = count()
    for membership in enrol_readers(study, 4):
        for item in ScheduleItem.objects.filter(membership=membership)[:3]:
            submit(item, ["MEL"])
    assert count() == small


def test_progress_lists_the_least_read_cases_and_offers_all_as_csv(client):
    coordinator = UserFactory()
    study = make_study(coordinator=coordinator, design="parallel", n_cases=PROGRESS_CASE_ROWS + 5)
    reader, other = enrol_readers(study, 2)
    studies.study_launch(study=study, actor=None)
    keys = sorted(study.case_set.cases.values_list("key", flat=True))
    for membership in (reader, other):  # every case but the last five read by both readers
        for item in ScheduleItem.objects.filter(membership=membership, training=False).select_related("case"):
            if item.case.key not in keys[-5:]:
                submit(item, ["MEL"])
    client.force_login(coordinator)
    page = client.get(reverse("studies:progress", args=[study.slug]), **HX).content.decode()
    cases_table = page[page.index("Cases by arm"):]
    shown = re.findall(r"<tr><td>([^<]+)</td>", cases_table)
    assert len(shown) == PROGRESS_CASE_ROWS
    assert shown[:5] == keys[-5:]  # the unread cases first
    assert f"fewest readings of {len(keys)}" in " ".join(cases_table.split())
    csv_url = reverse("studies:export_case_progress", args=[study.slug])
    assert csv_url in cases_table
    frame = pd.read_csv(io.BytesIO(client.get(csv_url).content))
    assert sorted(frame["case"]) == keys
    assert frame.set_index("case").loc[keys[0], "read"] == 2 and frame.set_index("case").loc[keys[-1], "read"] == 0
    assert (frame["scheduled"] == 2).all()
    arms = list(study.arms.values_list("name", flat=True))
    assert (frame[[f"{arm}_read" for arm in arms]].sum(axis=1) == frame["read"]).all()
    assert (frame[[f"{arm}_scheduled" for arm in arms]].sum(axis=1) == frame["scheduled"]).all()


def test_exports_download(client, world):
    study, reader = world["study"], world["reader"]
    submit(ScheduleItem.objects.filter(membership=reader).order_by("position").first(), ["MEL", "NEV"])
    client.force_login(world["users"]["statistician"])
    response = client.get(reverse("studies:export_readings", args=[study.slug]))
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="{study.slug}-readings.csv"' in response["Content-Disposition"]
    frame = pd.read_csv(io.BytesIO(response.content))
    assert list(frame.columns[: len(READINGS_COLUMNS)]) == READINGS_COLUMNS and len(frame) == 1
    parquet = client.get(reverse("studies:export_readings", args=[study.slug]), {"format": "parquet"})
    assert pd.read_parquet(io.BytesIO(parquet.content))["reader"].tolist() == ["R001"]
    assert (
        client.get(reverse("studies:export_readings", args=[study.slug]), {"format": "xls"}).status_code
        == 404
    )
    schedules = pd.read_csv(
        io.BytesIO(client.get(reverse("studies:export_schedules", args=[study.slug])).content)
    )
    assert len(schedules) == 6 and schedules["read"].sum() == 1


def test_home_links_resolve(client, world):
    client.force_login(world["users"]["coordinator"])
    page = client.get(reverse("home")).content.decode()
    assert reverse("studies:detail", args=[world["study"].slug]) in page
    assert reverse("studies:progress", args=[world["study"].slug]) in page
