"""Issue 18 items 1-4 and the reader-side traps of issue 17, one regression test each.

The open set (``selectors.blinding.open_items``) is the one rule; these tests drive the paths that
used to bypass it: a failed submit re-rendering the posted item, allow_back across the crossover
sessions, the API's next item during the washout, and the reader-facing API showing the design.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog import models as cm
from common.models import AuditEvent
from readerstudy import models as m
from readerstudy.services.readings import reading_submit
from readerstudy.services.studies import invitation_create
from tests.factories import UserFactory
from tests.readerstudy_tests.reader_setup import AI_NAMES, REFERENCE_NAME, answer, build_study, post_data

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def assert_no_ai(response) -> None:
    text = response.content.decode()
    assert not any(name in text for name in AI_NAMES) and "data-ai-panel" not in text, response.status_code


@pytest.mark.parametrize("key", ["", "not-a-uuid", str(uuid.uuid4())])
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["page", "htmx"])
def test_a_failed_submit_of_the_phase_two_twin_shows_nothing_of_it(client, key, headers):
    """Issue 18.1: posting the AI twin's id with a bad key used to render its AI panel in phase 1."""
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=2)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    twin = built.items[1]
    response = client.post(url, post_data(twin, key), **headers)
    assert response.status_code == 409
    assert_no_ai(response)
    assert f'name="item_id" value="{twin.pk}"'.encode() not in response.content
    assert f'name="item_id" value="{built.items[0].pk}"'.encode() in response.content  # the current case
    assert m.ScheduleItem.objects.get(pk=twin.pk).shown_at is None
    assert not m.Reading.objects.exists()


def test_a_422_re_shows_only_the_open_item(client):
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=3, arm_order=["unaided", "ai", "ai"])
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    bad_current = client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("NOPE",)))
    assert bad_current.status_code == 422 and b"Pick each diagnosis" in bad_current.content
    future = client.post(url, post_data(built.items[2], "", codes=("NOPE",)), **HTMX)
    assert future.status_code == 409
    assert_no_ai(future)


def test_crossover_allow_back_never_opens_session_two_early(client):
    """Issue 18.2: with allow_back the session-2 (AI) item opened during session 1."""
    built = build_study(design=m.Design.CROSSOVER, n_cases=3, arm_order=["unaided", "unaided", "ai"],
                        sessions=[1, 1, 2], settings_={"allow_back": True, "washout_days": 14})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    session2 = built.items[2]
    page = client.get(url, {"item": session2.pk})
    assert f'name="item_id" value="{session2.pk}"'.encode() not in page.content
    assert f"?item={session2.pk}".encode() not in page.content  # not offered as a skip target either
    assert_no_ai(page)
    refused = client.post(url, post_data(session2, str(uuid.uuid4())))
    assert refused.status_code == 409
    assert not m.Reading.objects.filter(schedule_item=session2).exists()
    # Session 1 done: the washout keeps it closed; allow_back does not help.
    for item in built.items[:2]:
        reading_submit(membership=built.membership, item=item, payload=answer(), idempotency_key=uuid.uuid4())
    assert client.get(url, {"item": session2.pk}).status_code == 200
    assert_no_ai(client.get(url, {"item": session2.pk}))
    assert client.post(url, post_data(session2, str(uuid.uuid4()))).status_code == 409
    assert m.ScheduleItem.objects.get(pk=session2.pk).shown_at is None


def test_api_next_item_waits_out_the_washout(client):
    """Issue 18.3: nothing shown, timed or image-fetchable during the washout."""
    built = build_study(design=m.Design.CROSSOVER, n_cases=2, arm_order=["unaided", "ai"], sessions=[1, 2],
                        images=True, settings_={"washout_days": 14})
    slug = built.study.slug
    client.force_login(built.user)
    reading_submit(membership=built.membership, item=built.items[0], payload=answer(), idempotency_key=uuid.uuid4())
    # The session-2 case is the same case: use a session-2 image of a case shown in session 1 only if shown.
    body = client.get(f"/api/v1/studies/{slug}/schedule/next/").json()
    assert body["step"] == "wait" and body["item"] is None and body["opens_at"]
    assert m.ScheduleItem.objects.get(pk=built.items[1].pk).shown_at is None
    image = cm.CaseImage.objects.filter(case=built.items[1].case).first()
    assert client.get(f"/api/v1/studies/{slug}/images/{image.pk}/").status_code == 404
    submit = client.post(f"/api/v1/studies/{slug}/readings/", {"item": built.items[1].pk, **answer(),
                                                               "idempotency_key": str(uuid.uuid4())},
                         content_type="application/json")
    assert submit.status_code == 409 and submit.json()["error"]["code"] == "washout"


def test_reader_api_conceals_design_and_allocation(client):
    """Issue 18.4: no arms, assist (faulty_rate), settings or seed; no future items in the schedule."""
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=3, arm_order=["unaided", "ai", "ai"])
    m.Arm.objects.filter(pk=built.ai.pk).update(assist={"top_k": 3, "faulty_rate": 0.5})
    slug = built.study.slug
    client.force_login(built.user)
    for body in (client.get(f"/api/v1/studies/{slug}/").json(), client.get("/api/v1/studies/").json()):
        text = str(body)
        assert "faulty_rate" not in text and "assist" not in text and "arms" not in text
        assert "randomised" not in text and "seed" not in text and "settings" not in text
    client.get(f"/api/v1/studies/{slug}/schedule/next/")
    rows = client.get(f"/api/v1/studies/{slug}/schedule/").json()["results"]
    assert [row["id"] for row in rows] == [built.items[0].pk]  # only what has been shown
    assert all("arm" not in row and "repeat" not in row for row in rows)


def test_reader_responses_are_not_stored_by_caches(client):
    built = build_study(design=m.Design.PARALLEL, settings_={"feedback": True})
    slug = built.study.slug
    client.force_login(built.user)
    case = client.get(reverse("reader:case", args=[slug]))
    assert "no-store" in case["Cache-Control"]
    client.post(reverse("reader:case", args=[slug]), post_data(built.items[0], str(uuid.uuid4())))
    assert "no-store" in client.get(reverse("reader:feedback", args=[slug, built.items[0].pk]))["Cache-Control"]
    assert "no-store" in client.get(f"/api/v1/studies/{slug}/schedule/next/")["Cache-Control"]


# --- issue 17: drafts, the used link, home status, end summary, consent ------------------------

def test_draft_saved_restored_never_a_reading(client):
    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    slug = built.study.slug
    client.force_login(built.user)
    case_url = reverse("reader:case", args=[slug])
    draft_url = reverse("reader:case_draft", args=[slug])
    assert draft_url == case_url + "draft/"
    client.get(case_url)
    saved = client.post(draft_url, {"item_id": built.items[0].pk, "dx": ["NEV", "BCC"], "confidence": "4",
                                    "management": "monitor"})
    assert saved.status_code == 204
    again = client.post(draft_url, {"item_id": built.items[0].pk, "dx": ["BCC"], "confidence": "2"})
    assert again.status_code == 204 and m.ReadingDraft.objects.count() == 1  # upsert
    assert not m.Reading.objects.exists()
    page = client.get(case_url).content.decode()
    assert 'value="BCC"' in page and 'value="NEV"' not in page
    # Not the open item: refused, nothing saved.
    assert client.post(draft_url, {"item_id": built.items[1].pk, "dx": ["NEV"]}).status_code == 404
    assert not m.ReadingDraft.objects.filter(schedule_item=built.items[1]).exists()
    # Save and exit goes home; submitting the answer removes the draft.
    leave = client.post(draft_url, {"item_id": built.items[0].pk, "dx": ["BCC"], "exit": "1"})
    assert leave.status_code == 303 and leave["Location"] == reverse("home")
    client.post(case_url, post_data(built.items[0], str(uuid.uuid4())))
    assert not m.ReadingDraft.objects.exists()


def test_a_used_single_use_link_is_refused_before_any_account_is_created(client):
    built = build_study(ready=False)
    invitation = invitation_create(study=built.study, actor=None)
    m.Invitation.objects.filter(pk=invitation.pk).update(uses=1)
    url = reverse("reader:join", args=[invitation.token])
    page = client.get(url)
    assert page.status_code == 410 and b"already been used" in page.content
    assert b"Create account" not in page.content and b"Join the study" not in page.content
    users = m.Membership.objects.count(), UserFactory._meta.model.objects.count()
    response = client.post(url, {"action": "signup", "signup-username": "stranger",
                                 "signup-password1": "a-long-Passphrase-42", "signup-password2": "a-long-Passphrase-42"})
    assert response.status_code == 410
    assert (m.Membership.objects.count(), UserFactory._meta.model.objects.count()) == users


def test_home_page_status_per_study(client):
    built = build_study(design=m.Design.CROSSOVER, n_cases=2, arm_order=["unaided", "ai"], sessions=[1, 2])
    client.force_login(built.user)
    assert b"Not started" in client.get(reverse("home")).content
    reading_submit(membership=built.membership, item=built.items[0], payload=answer(), idempotency_key=uuid.uuid4())
    home = client.get(reverse("home")).content.decode()
    assert "Session 2 opens on" in home and "1 of 2 done" in home
    m.Study.objects.filter(pk=built.study.pk).update(status=m.StudyStatus.PAUSED)
    assert b"Paused" in client.get(reverse("home")).content


def test_end_page_summary_and_accuracy_only_with_feedback_after_the_last_case(client):
    built = build_study(design=m.Design.PARALLEL, n_cases=2, settings_={"feedback": True})
    client.force_login(built.user)
    end_url = reverse("reader:end", args=[built.study.slug])
    reading_submit(membership=built.membership, item=built.items[0], payload=answer(codes=("MEL",)),
                   idempotency_key=uuid.uuid4())
    reading_submit(membership=built.membership, item=built.items[1], payload=answer(),
                   idempotency_key=uuid.uuid4())
    page = client.get(end_url).content.decode()
    assert "Cases answered" in page and "1 of 2 (50%)" in page
    plain = build_study(design=m.Design.PARALLEL, n_cases=1)
    reading_submit(membership=plain.membership, item=plain.items[0], payload=answer(), idempotency_key=uuid.uuid4())
    client.force_login(plain.user)
    page = client.get(reverse("reader:end", args=[plain.study.slug])).content.decode()
    assert "Cases answered" in page and "matched the reference" not in page and REFERENCE_NAME not in page


def test_launch_refuses_a_study_without_consent_unless_collected_elsewhere():
    from readerstudy.services import studies
    from tests.readerstudy_tests.studies_helpers import make_study

    study = make_study(design="benchmark", n_cases=2)
    m.Study.objects.filter(pk=study.pk).update(consent_text="")
    study.refresh_from_db()
    with pytest.raises(studies.StudyError, match="consent"):
        studies.study_launch(study=study, actor=None)
    m.Study.objects.filter(pk=study.pk).update(settings={"consent_elsewhere": True})
    study.refresh_from_db()
    assert studies.study_launch(study=study, actor=None).status == m.StudyStatus.LAUNCHED


def test_consent_elsewhere_is_shown_and_recorded(client):
    built = build_study(design=m.Design.PARALLEL, ready=False, settings_={"consent_elsewhere": True})
    m.Study.objects.filter(pk=built.study.pk).update(consent_text="")
    client.force_login(built.user)
    page = client.get(reverse("reader:start", args=[built.study.slug]), follow=True)
    assert b"data-consent-elsewhere" in page.content
    client.post(reverse("reader:consent", args=[built.study.slug]), {"agree": "on"})
    record = m.ConsentRecord.objects.get(membership=built.membership)
    event = AuditEvent.objects.get(action="reader.consent")
    assert record.text_sha256 and event.data["elsewhere"] is True


def test_a_timeout_on_an_empty_case_through_the_page_is_accepted(client):
    built = build_study(design=m.Design.PARALLEL, n_cases=2, settings_={"time_limit_s": 30})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    m.ScheduleItem.objects.filter(pk=built.items[0].pk).update(shown_at=timezone.now() - dt.timedelta(seconds=31))
    response = client.post(url, {"item_id": built.items[0].pk, "idempotency_key": str(uuid.uuid4()),
                                 "client_timeout": "1"}, **HTMX)
    assert response.status_code == 200
    reading = m.Reading.objects.get(schedule_item=built.items[0])
    assert reading.timed_out and reading.differential == []


def test_an_idle_reader_is_signed_out(client, settings):
    from readerstudy.reader_idle import READER_SESSION

    settings.READER_IDLE_TIMEOUT_S = 60
    built = build_study(design=m.Design.PARALLEL)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    assert client.get(url).status_code == 200
    session = client.session
    session[READER_SESSION] -= 61
    session.save()
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    assert client.get(url).status_code == 302  # signed out for good


def test_the_export_records_where_consent_was_collected():
    from readerstudy.exports.tables import readings_table

    for settings_, expected in (({"consent_elsewhere": True}, "elsewhere"), ({}, "platform")):
        built = build_study(design=m.Design.PARALLEL, n_cases=1, settings_=settings_)
        reading_submit(membership=built.membership, item=built.items[0], payload=answer(),
                       idempotency_key=uuid.uuid4())
        assert list(readings_table(built.study)["consent"]) == [expected]
