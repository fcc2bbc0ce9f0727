"""Reader pages through the test client: access matrix, the path, the case page, submits, images."""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog import models as cm
from common.models import AuditEvent
from readerstudy import models as m
from readerstudy.services.studies import invitation_create
from tests.factories import MembershipFactory, UserFactory
from tests.readerstudy_tests.reader_setup import build_study, post_data

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def reader_urls(built):
    slug = built.study.slug
    image = cm.CaseImage.objects.filter(case=built.items[0].case).first()
    urls = [reverse(f"reader:{name}", args=[slug])
            for name in ("start", "consent", "demographics", "instructions", "case", "end", "conditions")]
    urls.append(reverse("reader:feedback", args=[slug, built.items[0].pk]))
    if image is not None:
        urls.append(reverse("reader:image", args=[slug, image.pk]))
    return urls


@pytest.mark.parametrize("who", ["anonymous", "other_reader", "coordinator", "staff"])
def test_only_the_reader_reaches_their_study(client, who):
    built = build_study(images=True)
    client.force_login(built.user)
    client.get(reverse("reader:case", args=[built.study.slug]))  # case 1 shown, so its images exist for the reader
    client.logout()
    if who == "other_reader":
        client.force_login(build_study().user)
    elif who == "coordinator":
        coordinator = MembershipFactory(study=built.study, role=m.Role.COORDINATOR).user
        client.force_login(coordinator)
    elif who == "staff":
        client.force_login(UserFactory(is_staff=True))
    for url in reader_urls(built):
        response = client.get(url)
        if who == "anonymous":
            assert response.status_code == 302 and reverse("login") in response["Location"], url
        else:
            assert response.status_code == 404, url
    if who != "anonymous":
        response = client.post(reverse("reader:case", args=[built.study.slug]),
                               post_data(built.items[0], str(uuid.uuid4())))
        assert response.status_code == 404
    assert not m.Reading.objects.exists()


def test_reader_cannot_submit_another_readers_item(client):
    mine = build_study(design=m.Design.PARALLEL)
    theirs = build_study(design=m.Design.PARALLEL)
    client.force_login(mine.user)
    response = client.post(reverse("reader:case", args=[mine.study.slug]),
                           post_data(theirs.items[0], str(uuid.uuid4())))
    assert response.status_code == 404
    assert not m.Reading.objects.exists()


def test_path_consent_demographics_instructions_cases(client):
    built = build_study(ready=False, n_cases=1)
    client.force_login(built.user)
    slug = built.study.slug
    response = client.get(reverse("reader:start", args=[slug]))
    assert response["Location"] == reverse("reader:consent", args=[slug])
    # Cases are not reachable before the steps.
    assert client.get(reverse("reader:case", args=[slug]))["Location"] == reverse("reader:consent", args=[slug])
    page = client.get(reverse("reader:consent", args=[slug]))
    assert b"You may stop at any time." in page.content
    assert client.post(reverse("reader:consent", args=[slug]), {}).status_code == 422
    response = client.post(reverse("reader:consent", args=[slug]), {"agree": "on"})
    assert response["Location"] == reverse("reader:demographics", args=[slug])
    record = m.ConsentRecord.objects.get(membership=built.membership)
    assert record.consent_version == built.study.consent_version and len(record.text_sha256) == 64
    assert AuditEvent.objects.filter(action="reader.consent").exists()

    assert client.post(reverse("reader:demographics", args=[slug]), {"profession": "gp"}).status_code == 422
    response = client.post(reverse("reader:demographics", args=[slug]), {
        "profession": "gp", "years_experience": "12", "dermoscopy_use": "sometimes", "country": "Austria",
        "age_band": "40-49",
    })
    assert response["Location"] == reverse("reader:instructions", args=[slug])
    assert m.ReaderProfile.objects.get(user=built.user).years_experience == 12

    page = client.get(reverse("reader:instructions", args=[slug]))
    assert b"Start reading" in page.content and b"AI suggestion" in page.content
    response = client.post(reverse("reader:instructions", args=[slug]))
    assert response["Location"] == reverse("reader:case", args=[slug])
    # Steps already done send the reader on.
    assert client.get(reverse("reader:consent", args=[slug]))["Location"] == reverse("reader:case", args=[slug])

    url = reverse("reader:case", args=[slug])
    client.get(url)
    client.post(url, post_data(built.items[0], str(uuid.uuid4())))
    client.get(url)
    response = client.post(url, post_data(built.items[1], str(uuid.uuid4())))
    assert response["Location"] == reverse("reader:end", args=[slug])
    assert client.get(url)["Location"] == reverse("reader:end", args=[slug])
    end = client.get(reverse("reader:end", args=[slug]))
    assert b"completed the study" in end.content


def test_case_page_shows_everything_the_reader_needs(client, django_assert_max_num_queries):
    built = build_study(settings_={"ask_malignancy": True, "time_limit_s": 120}, images=True)
    client.force_login(built.user)
    with django_assert_max_num_queries(30):
        response = client.get(reverse("reader:case", args=[built.study.slug]))
    text = response.content.decode()
    assert response.status_code == 200
    assert "Case 1 <span class=\"muted\">of 3</span>" in text and "Case 1 of 3" in text
    assert "54 y" in text and "Left forearm" in text and "Itchy for six months." in text
    assert text.count('role="combobox"') == 3
    assert text.count('name="confidence"') == 5
    assert text.count('name="management"') == 5 and "Biopsy / excise" in text
    assert 'type="range"' in text and "Probability of malignancy" in text
    assert 'role="timer"' in text and "data-deadline=" in text and "02:00" in text
    assert text.count("data-viewer ") + text.count("data-viewer\n") >= 1 and text.count("<figure") == 2
    assert "reader.js" in text and "<script>" not in text  # no inline scripts (CSP)
    assert built.items[0].case.key not in text  # case keys are not shown
    item = m.ScheduleItem.objects.get(pk=built.items[0].pk)
    assert item.shown_at is not None


def test_htmx_submit_swaps_in_the_next_case_with_status(client):
    built = build_study(design=m.Design.PARALLEL)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    response = client.post(url, post_data(built.items[0], str(uuid.uuid4())), **HTMX)
    text = response.content.decode()
    assert response.status_code == 200
    assert 'hx-swap-oob="true"' in text and "Case 2 of 3" in text
    assert "<html" not in text  # a partial
    assert f'name="item_id" value="{built.items[1].pk}"' in text
    assert m.ScheduleItem.objects.get(pk=built.items[1].pk).shown_at is not None


def test_validation_error_keeps_input_and_key(client):
    built = build_study(design=m.Design.PARALLEL)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    key = str(uuid.uuid4())
    response = client.post(url, post_data(built.items[0], key, confidence=""), **HTMX)
    text = response.content.decode()
    assert response.status_code == 422
    assert "Choose your confidence" in text
    assert f'value="{key}"' in text
    assert 'value="NEV"' in text and 'value="Melanocytic naevus"' in text
    assert 'value="monitor" checked' in text
    assert not m.Reading.objects.exists()


def test_double_submit_and_second_tab_make_one_reading(client):
    built = build_study(design=m.Design.PARALLEL)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    key = str(uuid.uuid4())
    first = client.post(url, post_data(built.items[0], key), **HTMX)
    again = client.post(url, post_data(built.items[0], key), **HTMX)
    other_tab = client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("MEL",)), **HTMX)
    assert first.status_code == again.status_code == 200
    assert other_tab.status_code == 409  # a stale tab is told, and its answer is not stored
    assert m.Reading.objects.count() == 1
    assert m.Reading.objects.get().differential == ["NEV", "BCC"]
    assert b"already been answered" in other_tab.content
    assert f'name="item_id" value="{built.items[1].pk}"'.encode() in other_tab.content


def test_phase_two_is_prefilled_and_labelled(client):
    built = build_study()
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("NEV", "BCC"), confidence="2"))
    text = client.get(url).content.decode()
    assert "Revise your answer" in text and "First answer (locked)" in text
    assert 'value="Melanocytic naevus"' in text and 'value="Basal cell carcinoma"' in text
    assert 'value="2" checked' in text and 'value="monitor" checked' in text
    # Going back to phase 1 is impossible: the page is always the current item.
    assert f'name="item_id" value="{built.items[1].pk}"' in text


@pytest.mark.parametrize("status", [m.StudyStatus.PAUSED, m.StudyStatus.DRAFT])
def test_paused_or_draft_study_shows_a_notice_and_accepts_nothing(client, status):
    built = build_study(status=status)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    page = client.get(url)
    assert page.status_code == 200 and (b"paused" in page.content or b"not started" in page.content)
    response = client.post(url, post_data(built.items[0], str(uuid.uuid4())))
    assert response.status_code == 409
    assert not m.Reading.objects.exists()
    assert m.ScheduleItem.objects.get(pk=built.items[0].pk).shown_at is None


def test_closed_study_sends_reader_to_end(client):
    built = build_study(status=m.StudyStatus.CLOSED)
    client.force_login(built.user)
    slug = built.study.slug
    assert client.get(reverse("reader:start", args=[slug]))["Location"] == reverse("reader:end", args=[slug])
    response = client.post(reverse("reader:case", args=[slug]), post_data(built.items[0], str(uuid.uuid4())))
    assert response.status_code == 302
    assert not m.Reading.objects.exists()
    assert b"closed" in client.get(reverse("reader:end", args=[slug])).content


def test_washout_shows_the_waiting_page(client):
    built = build_study(design=m.Design.CROSSOVER, n_cases=2, sessions=[1, 2])
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    client.post(url, post_data(built.items[0], str(uuid.uuid4())))
    page = client.get(url)
    assert b"second session opens" in page.content
    assert m.ScheduleItem.objects.get(pk=built.items[1].pk).shown_at is None


def test_images_only_for_cases_the_reader_was_shown(client):
    built = build_study(images=True)
    client.force_login(built.user)
    slug = built.study.slug
    shown = cm.CaseImage.objects.filter(case=built.items[0].case).first()
    later = cm.CaseImage.objects.filter(case=built.items[2].case).first()
    assert client.get(reverse("reader:image", args=[slug, shown.pk])).status_code == 404  # not shown yet
    client.get(reverse("reader:case", args=[slug]))
    response = client.get(reverse("reader:image", args=[slug, shown.pk]))
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "private" in response["Cache-Control"] and response["ETag"]
    assert client.get(reverse("reader:image", args=[slug, shown.pk]),
                      HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304
    assert client.get(reverse("reader:image", args=[slug, later.pk])).status_code == 404


def test_condition_index_json(client):
    built = build_study()
    client.force_login(built.user)
    data = client.get(reverse("reader:conditions", args=[built.study.slug])).json()
    names = {row["name"] for row in data["conditions"]}
    assert "Melanoma" in names and len(names) == 6
    assert data["conditions"][0]["synonyms"] == ["melanoma"]


def test_invitation_signup_joins_the_study(client):
    built = build_study(ready=False)
    invitation = invitation_create(study=built.study, actor=None)
    url = reverse("reader:join", args=[invitation.token])
    page = client.get(url)
    assert page.status_code == 200 and built.study.title.encode() in page.content
    response = client.post(url, {"action": "signup", "signup-username": "dr_new",
                                 "signup-password1": "a-long-Passphrase-42", "signup-password2": "a-long-Passphrase-42"})
    assert response.status_code == 302
    assert response["Location"] == reverse("reader:start", args=[built.study.slug])
    membership = m.Membership.objects.get(study=built.study, user__username="dr_new")
    assert membership.role == m.Role.READER
    # The single-use link is spent for anybody else.
    client.logout()
    other = UserFactory()
    client.force_login(other)
    response = client.post(url, {"action": "accept"})
    assert response.status_code == 410 and b"already been used" in response.content


def test_invitation_login_joins_the_study(client):
    built = build_study(ready=False)
    invitation = invitation_create(study=built.study, actor=None, single_use=False)
    UserFactory(username="dr_old")
    response = client.post(reverse("reader:join", args=[invitation.token]), {
        "action": "login", "login-username": "dr_old", "login-password": "correct-horse-battery"})
    assert response.status_code == 302
    assert m.Membership.objects.filter(study=built.study, user__username="dr_old", role=m.Role.READER).exists()


def test_unknown_or_revoked_invitation_is_404(client):
    built = build_study()
    invitation = invitation_create(study=built.study, actor=None)
    m.Invitation.objects.filter(pk=invitation.pk).update(revoked=True)
    assert client.get(reverse("reader:join", args=[invitation.token])).status_code == 404
    assert client.get(reverse("reader:join", args=["nope"])).status_code == 404


# --- "Other / not listed", the second look, the washout page, instructions -----------------------

def test_other_not_listed_is_stored_as_its_own_code_with_the_readers_words(client):
    from readerstudy.exports.tables import readings_table

    built = build_study(design=m.Design.PARALLEL, n_cases=2)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    missing = client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("OTHER",)), **HTMX)
    assert missing.status_code == 422 and b"Name the diagnosis that is not in the list" in missing.content
    assert b'id="other-text"' in missing.content and not m.Reading.objects.exists()
    response = client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("OTHER", "NEV"),
                                          other_text="  Lichen   striatus <b>x</b> "))
    assert response.status_code == 302
    reading = m.Reading.objects.get(schedule_item=built.items[0])
    assert reading.differential == ["OTHER", "NEV"] and reading.other_text == "Lichen striatus <b>x</b>"
    # Text without the OTHER code is not kept.
    client.get(url)
    client.post(url, post_data(built.items[1], str(uuid.uuid4()), codes=("NEV",), other_text="stray words"))
    assert m.Reading.objects.get(schedule_item=built.items[1]).other_text == ""
    table = readings_table(built.study).set_index("case")
    first, second = built.cases[0].key, built.cases[1].key
    assert table.loc[first, "differential"] == "OTHER|NEV" and table.loc[first, "correct_top1"] == 0
    assert table.loc[first, "other_text"] == "Lichen striatus <b>x</b>" and table.loc[second, "other_text"] == ""


def test_other_text_is_limited_and_the_code_is_reserved_in_taxonomies(client):
    from catalog.taxonomy_format import taxonomy_validate

    built = build_study(design=m.Design.PARALLEL, n_cases=1)
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    long = client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("OTHER",), other_text="x" * 201))
    assert long.status_code == 422 and b"at most 200 characters" in long.content
    assert not m.Reading.objects.exists()
    content = {"name": "T", "version": "1", "management_options": [{"code": "refer", "label": "Refer"}],
               "conditions": [{"code": "other", "name": "Something else", "group": "other", "malignant": False,
                               "management": {"refer": "optimal"}}]}
    assert any("reserved" in problem and "'other'" in problem for problem in taxonomy_validate(content))


def test_second_look_shows_the_whole_locked_first_answer_and_asks_about_the_revision(client):
    built = build_study(design=m.Design.SEQUENTIAL, n_cases=1, settings_={"ask_malignancy": True})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    first = client.get(url).content.decode()
    assert "in your most likely diagnosis" in first and "revised" not in first
    client.post(url, post_data(built.items[0], str(uuid.uuid4()), codes=("OTHER", "BCC"), confidence="4",
                               management="refer", malignancy="35", other_text="Pigmented wart"))
    page = client.get(url).content.decode()
    assert "Confidence <span class=\"legend-hint\">in your revised diagnosis</span>" in page
    start = page.index("data-locked-answer")
    locked = page[start:page.index("</header>", start)]
    for shown in ("Other / not listed (Pigmented wart)", "Basal cell carcinoma", "4 of 5", "Refer", "35%"):
        assert shown in locked, shown
    assert 'value="Pigmented wart"' in page  # the revision starts from the first answer


def test_washout_page_by_htmx_is_one_page_with_a_local_time_and_no_link_to_keep(client):
    built = build_study(design=m.Design.CROSSOVER, n_cases=2, sessions=[1, 2], settings_={"washout_days": 14})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    response = client.post(url, post_data(built.items[0], str(uuid.uuid4())), **HTMX)
    text = response.content.decode()
    assert "Session 1 complete" in text
    assert text.count("<h1") == 1 and 'class="topbar"' not in text and "<html" not in text
    assert "data-local" in text and 'datetime="' in text
    assert "same link" not in text and "My studies" in text


@pytest.mark.parametrize("design, says, never", [
    (m.Design.BENCHMARK, "this study shows no AI suggestions", "AI suggestion</strong> is shown"),
    (m.Design.RANDOMISED_BLOCKS, "in some blocks an <strong>AI suggestion</strong> is shown", "no AI suggestions"),
    (m.Design.SEQUENTIAL, "After you submit, an <strong>AI suggestion</strong> is shown", "no AI suggestions"),
])
def test_instructions_match_the_design_and_open_at_the_top(client, design, says, never):
    built = build_study(design=design, n_cases=2, ready=False)
    m.Membership.objects.filter(pk=built.membership.pk).update(consented_at=timezone.now(), demographics_done=True)
    client.force_login(built.user)
    page = client.get(reverse("reader:instructions", args=[built.study.slug])).content.decode()
    assert says in page and never not in page
    assert "autofocus" not in page  # the page opens at its top, not scrolled to the button
    # ...and the case page carries them again, to reopen.
    client.post(reverse("reader:instructions", args=[built.study.slug]))
    case = client.get(reverse("reader:case", args=[built.study.slug])).content.decode()
    assert 'id="instructions-dialog"' in case and says in case and 'id="shortcuts-dialog"' in case


def test_the_api_takes_and_returns_the_other_text():
    from rest_framework.test import APIClient

    built = build_study(design=m.Design.PARALLEL, n_cases=1)
    api = APIClient()
    api.force_authenticate(built.user)
    url = f"/api/v1/studies/{built.study.slug}/readings/"
    body = {"item": built.items[0].pk, "idempotency_key": str(uuid.uuid4()), "differential": ["OTHER"],
            "confidence": 3, "management": "monitor"}
    refused = api.post(url, body, format="json")
    assert refused.status_code == 400 and "other_text" in str(refused.json())
    stored = api.post(url, {**body, "other_text": "Pigmented wart"}, format="json")
    assert stored.status_code == 201 and stored.json()["other_text"] == "Pigmented wart"
    assert m.Reading.objects.get().other_text == "Pigmented wart"
