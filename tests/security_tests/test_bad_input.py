"""Hostile and broken submissions get a clear 4xx and store nothing.

Malformed forms, out-of-range values, unknown codes, stale or replayed submissions and a
submission for someone else's schedule item, on the case page and on the REST API. An exact
replay (same idempotency key, same item) is a client retry: it is answered without storing
anything new, which is what "replayed" must mean for a reader on a flaky connection.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from common.models import AuditEvent
from readerstudy import models as m
from readerstudy.services.readings import reading_submit
from tests.factories import MembershipFactory, UserFactory
from tests.readerstudy_tests.reader_setup import answer, build_study, post_data

BACKEND = "django.contrib.auth.backends.ModelBackend"


def _counts() -> tuple[int, int]:
    return m.Reading.objects.count(), AuditEvent.objects.filter(action="reading.submit").count()


@pytest.fixture
def world(db, client):
    """A launched study (one reader mid-way, a second reader) and a reader of another study."""
    built = build_study(design=m.Design.PARALLEL, n_cases=4, settings_={"ask_malignancy": True})
    second = MembershipFactory(study=built.study, user=UserFactory(username="second-reader"), reader_index=1,
                               consented_at=built.membership.consented_at, demographics_done=True,
                               instructions_seen=True)
    second_items = [
        m.ScheduleItem.objects.create(study=built.study, membership=second, case=case, arm=built.unaided,
                                      position=i)
        for i, case in enumerate(built.cases)
    ]
    elsewhere = build_study(design=m.Design.PARALLEL, n_cases=2)
    client.force_login(built.user, backend=BACKEND)
    client.get(reverse("reader:case", args=[built.study.slug]))  # shows item 0
    return {"built": built, "second_items": second_items, "elsewhere": elsewhere,
            "url": reverse("reader:case", args=[built.study.slug])}


def _valid(item, key=None, **extra) -> dict:
    return post_data(item, key or str(uuid.uuid4()), **{"malignancy": "40", **extra})


BAD_FORMS = {
    "no item": lambda item: {k: v for k, v in _valid(item).items() if k != "item_id"},
    "item not a number": lambda item: _valid(item, item_id="1; DROP TABLE"),
    "no key": lambda item: {k: v for k, v in _valid(item).items() if k != "idempotency_key"},
    "key not a uuid": lambda item: _valid(item, key="not-a-uuid"),
    "confidence too high": lambda item: _valid(item, confidence="9"),
    "confidence negative": lambda item: _valid(item, confidence="-1"),
    "confidence not a number": lambda item: _valid(item, confidence="very"),
    "confidence a float": lambda item: _valid(item, confidence="2.5"),
    "malignancy over 100": lambda item: _valid(item, malignancy="101"),
    "malignancy huge": lambda item: _valid(item, malignancy="9" * 40),
    "unknown code": lambda item: _valid(item, dx=["NOT-A-CODE"]),
    "script as code": lambda item: _valid(item, dx=["<script>alert(1)</script>"]),
    "duplicate codes": lambda item: _valid(item, dx=["NEV", "NEV"]),
    "gap in differential": lambda item: _valid(item, dx=["", "NEV"]),
    "too many codes": lambda item: _valid(item, dx=["NEV", "BCC", "MEL", "SK"]),
    "empty differential": lambda item: _valid(item, dx=[]),
    "unknown management": lambda item: _valid(item, management="amputate"),
    "no management": lambda item: _valid(item, management=""),
    "very long code": lambda item: _valid(item, dx=["X" * 100_000]),
}


@pytest.mark.parametrize("case", list(BAD_FORMS))
def test_malformed_case_form_is_refused_and_nothing_is_saved(world, client, case):
    item = world["built"].items[0]
    before = _counts()
    response = client.post(world["url"], BAD_FORMS[case](item))
    assert 400 <= response.status_code < 500, (case, response.status_code)
    assert _counts() == before


def test_too_many_fields_is_a_400(world, client):
    item = world["built"].items[0]
    data = _valid(item, dx=["NEV"] * 2000)  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    before = _counts()
    response = client.post(world["url"], data)
    assert response.status_code == 400
    assert _counts() == before


def test_unparseable_timing_fields_do_not_break_the_submit(world, client):
    """Client timing is advisory: nonsense is dropped, the answer itself is stored once."""
    item = world["built"].items[0]
    response = client.post(world["url"], _valid(item, first_input_at="yesterday", active_ms="1e309"))
    assert response.status_code == 302
    reading = m.Reading.objects.get(schedule_item=item)
    assert reading.first_input_at is None and reading.active_ms >= 0


def test_someone_elses_schedule_item_is_404_and_nothing_saved(world, client):
    before = _counts()
    for foreign in (world["second_items"][0], world["elsewhere"].items[0]):
        response = client.post(world["url"], _valid(foreign))
        assert response.status_code == 404
    assert _counts() == before


def test_a_later_item_out_of_turn_is_409_and_nothing_saved(world, client):
    before = _counts()
    response = client.post(world["url"], _valid(world["built"].items[2]))
    assert response.status_code == 409
    assert _counts() == before


def test_exact_replay_stores_nothing_new(world, client):
    item, key = world["built"].items[0], str(uuid.uuid4())
    first = client.post(world["url"], _valid(item, key=key))
    assert first.status_code == 302
    before = _counts()
    for _ in range(3):
        again = client.post(world["url"], _valid(item, key=key, dx=["MEL"]))
        assert again.status_code < 500
    assert _counts() == before
    assert m.Reading.objects.get(schedule_item=item).differential == ["NEV", "BCC"]  # the first answer kept


def test_stale_tab_submitting_an_answered_case_is_409_and_nothing_saved(world, client):
    """A second tab (its own key) answering a case already answered must be told so, not silently dropped."""
    item = world["built"].items[0]
    assert client.post(world["url"], _valid(item)).status_code == 302
    before = _counts()
    response = client.post(world["url"], _valid(item, dx=["MEL"]))
    assert _counts() == before
    assert m.Reading.objects.get(schedule_item=item).differential == ["NEV", "BCC"]
    assert response.status_code == 409, "the stale tab got a silent redirect; its answer was discarded unseen"


def test_replaying_another_readers_key_is_refused(world, client):
    other = world["second_items"][0]
    key = str(uuid.uuid4())
    second = m.Membership.objects.get(pk=other.membership_id)
    reading_submit(membership=second, item=other, payload={**answer(), "malignancy": 10}, idempotency_key=key)
    before = _counts()
    response = client.post(world["url"], _valid(world["built"].items[0], key=key))
    assert response.status_code == 409
    assert _counts() == before


@pytest.mark.parametrize("status", [m.StudyStatus.PAUSED, m.StudyStatus.CLOSED, m.StudyStatus.DRAFT])
def test_submit_to_a_study_that_is_not_open_is_refused(world, client, status):
    m.Study.objects.filter(pk=world["built"].study.pk).update(status=status)
    before = _counts()
    response = client.post(world["url"], _valid(world["built"].items[0]))
    assert 400 <= response.status_code < 500 or response.status_code == 302  # closed -> sent to the end page
    assert response.status_code != 200
    assert _counts() == before


def test_phase_two_before_phase_one_is_refused(db, client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2)
    client.force_login(built.user, backend=BACKEND)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    before = _counts()
    response = client.post(url, post_data(built.items[1], str(uuid.uuid4())))
    assert response.status_code == 409
    assert _counts() == before


def test_demographics_out_of_range_is_422_and_not_saved(db, client):
    built = build_study(design=m.Design.PARALLEL, n_cases=2, ready=False)
    m.Membership.objects.filter(pk=built.membership.pk).update(consented_at="2026-01-01T00:00:00Z")
    client.force_login(built.user, backend=BACKEND)
    url = reverse("reader:demographics", args=[built.study.slug])
    response = client.post(url, {"profession": "astronaut", "years_experience": "500", "dermoscopy_use": "never",
                                 "country": "X", "age_band": "<30"})
    assert response.status_code == 422
    assert not m.ReaderProfile.objects.filter(user=built.user).exists()
    built.membership.refresh_from_db()
    assert not built.membership.demographics_done


def test_consent_without_agreeing_is_422(db, client):
    built = build_study(design=m.Design.PARALLEL, n_cases=2, ready=False)
    client.force_login(built.user, backend=BACKEND)
    response = client.post(reverse("reader:consent", args=[built.study.slug]), {"agree": ""})
    assert response.status_code == 422
    assert not m.ConsentRecord.objects.exists()


def test_revoked_or_unknown_invitation_is_404(db, client):
    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    m.Invitation.objects.create(study=built.study, token="revoked-token", revoked=True)
    assert client.get(reverse("reader:join", args=["revoked-token"])).status_code == 404
    assert client.get(reverse("reader:join", args=["x" * 500])).status_code == 404


# --- the same through the REST API --------------------------------------------------------------

API_BAD = {
    "item not a number": {"item": "abc"},
    "item out of range": {"item": 2**70},
    "unknown code": {"differential": ["NOT-A-CODE"]},
    "confidence out of range": {"confidence": 7},
    "malignancy out of range": {"malignancy": -5},
    "differential not a list": {"differential": {"a": 1}},
    "too many codes": {"differential": ["NEV"] * 50},
    "bad key": {"idempotency_key": "nope"},
}


@pytest.mark.parametrize("case", list(API_BAD))
def test_api_malformed_submission_is_400_and_nothing_saved(world, case):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world["built"].user)
    item = world["built"].items[0]
    body = {"item": item.pk, "idempotency_key": str(uuid.uuid4()), **answer(), "malignancy": 30, **API_BAD[case]}
    before = _counts()
    response = api.post(reverse("api:study-readings", args=[world["built"].study.slug]), body, format="json")
    assert response.status_code == 400, (case, response.status_code, response.content[:300])
    assert "error" in response.json()
    assert _counts() == before


def test_api_someone_elses_item_is_404(world):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(world["built"].user)
    before = _counts()
    for foreign in (world["second_items"][0], world["elsewhere"].items[0]):
        body = {"item": foreign.pk, "idempotency_key": str(uuid.uuid4()), **answer(), "malignancy": 30}
        response = api.post(reverse("api:study-readings", args=[world["built"].study.slug]), body, format="json")
        assert response.status_code == 404
    assert _counts() == before
