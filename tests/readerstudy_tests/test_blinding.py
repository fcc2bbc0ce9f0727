"""Server-side blinding: no AI output in unaided arms or phase 1, no reference without feedback.

Every response a reader can fetch is checked byte for byte for the precomputed AI output's top
condition names and probabilities, and for the reference diagnosis.
"""

from __future__ import annotations

import uuid

import pytest
from django.urls import reverse

from catalog import models as cm
from readerstudy import models as m
from tests.readerstudy_tests.reader_setup import AI_NAMES, AI_NUMBERS, REFERENCE_NAME, build_study, post_data

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def assert_no_ai(content: bytes) -> None:
    text = content.decode()
    for needle in AI_NAMES + AI_NUMBERS:
        assert needle not in text, f"AI output {needle!r} leaked"
    assert "data-ai-panel" not in text
    assert "Simulated AI" not in text


def assert_no_reference(content: bytes) -> None:
    text = content.decode().lower()
    assert REFERENCE_NAME.lower() not in text
    assert "reference diagnosis" not in text


def reader_responses(client, built):
    """Everything the reader's browser fetches for the current case."""
    slug = built.study.slug
    case_url = reverse("reader:case", args=[slug])
    responses = [client.get(case_url), client.get(case_url, **HTMX),
                 client.get(reverse("reader:start", args=[slug]), follow=True)]
    return responses


def test_images_are_the_stored_files_only(client, settings):
    built = build_study(images=True)
    client.force_login(built.user)
    slug = built.study.slug
    client.get(reverse("reader:case", args=[slug]))
    images = cm.CaseImage.objects.filter(case=built.items[0].case)
    assert images.count() == 2
    for image in images:
        for size, path in (("", image.thumbnail), ("?size=full", image.file)):
            response = client.get(reverse("reader:image", args=[slug, image.pk]) + size)
            assert response.status_code == 200
            assert body(response) == (settings.MEDIA_ROOT / path).read_bytes()
            headers = str(dict(response.headers))
            assert not any(name in headers for name in AI_NAMES)
            assert REFERENCE_NAME.lower() not in headers.lower()  # original file names are never sent


def body(response) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


@pytest.mark.parametrize(
    ("design", "arm_order"),
    [
        (m.Design.SEQUENTIAL, None),  # phase 1
        (m.Design.RANDOMISED_BLOCKS, ["unaided", "unaided", "ai"]),
        (m.Design.CROSSOVER, ["unaided", "ai", "ai"]),
        (m.Design.PARALLEL, None),
        (m.Design.BENCHMARK, None),
    ],
)
def test_unaided_and_phase_one_never_receive_ai_output(client, design, arm_order):
    built = build_study(design=design, arm_order=arm_order, images=True)
    client.force_login(built.user)
    for response in reader_responses(client, built):
        assert response.status_code in (200, 304)
        assert_no_ai(body(response))


def test_condition_index_is_the_same_for_every_case_and_arm(client):
    """The search index lists the whole taxonomy in its own order: nothing about the AI or the case."""
    built = build_study()
    client.force_login(built.user)
    slug = built.study.slug
    url = reverse("reader:conditions", args=[slug])
    during_phase1 = client.get(url)
    client.get(reverse("reader:case", args=[slug]))
    client.post(reverse("reader:case", args=[slug]), post_data(built.items[0], str(uuid.uuid4())))
    during_phase2 = client.get(url)
    assert during_phase1.content == during_phase2.content
    rows = during_phase1.json()["conditions"]
    taxonomy = list(built.study.case_set.taxonomy.conditions.order_by("order", "name").values_list("code", flat=True))
    assert [row["code"] for row in rows] == taxonomy
    assert all(set(row) == {"code", "name", "synonyms", "group"} for row in rows)
    for needle in AI_NUMBERS:
        assert needle not in during_phase1.content.decode()


def test_submit_responses_of_unaided_items_carry_no_ai(client):
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, arm_order=["unaided", "unaided", "ai"])
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    # htmx submit of item 0 returns item 1 (unaided); a validation error re-renders item 1.
    response = client.post(url, post_data(built.items[0], str(uuid.uuid4())), **HTMX)
    assert response.status_code == 200 and b"Case 2" in response.content
    assert_no_ai(response.content)
    bad = client.post(url, post_data(built.items[1], str(uuid.uuid4()), codes=("NOPE",)), **HTMX)
    assert bad.status_code == 422
    assert_no_ai(bad.content)
    # A plain (non-htmx) submit redirects to the next case, which is unaided.
    response = client.post(url, post_data(built.items[1], str(uuid.uuid4())), follow=True)
    assert response.status_code == 200
    # ...and the AI item that follows does show the AI (the check above is not vacuous).
    assert b"data-ai-panel" in response.content and AI_NAMES[0].encode() in response.content


def test_sequential_reveals_ai_only_after_phase_one(client):
    built = build_study()
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    phase1 = client.get(url)
    assert_no_ai(phase1.content)
    assert b"AI suggestion after you submit" in phase1.content and b"ai-panel" not in phase1.content  # no empty box
    revealed = client.post(url, post_data(built.items[0], str(uuid.uuid4())), **HTMX)
    assert revealed.status_code == 200
    text = revealed.content.decode()
    assert "Revise your answer" in text and "data-ai-panel" in text
    assert all(name in text for name in AI_NAMES) and "87%" in text and "Simulated AI" in text
    # The next case's phase 1 is blind again.
    nxt = client.post(url, post_data(built.items[1], str(uuid.uuid4())), **HTMX)
    assert b"Case 2" in nxt.content
    assert_no_ai(nxt.content)


def test_uncalibrated_model_shows_bands_not_percentages(client):
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, arm_order=["ai", "unaided", "unaided"], calibrated=False)
    client.force_login(built.user)
    text = client.get(reverse("reader:case", args=[built.study.slug])).content.decode()
    assert AI_NAMES[0] in text and "High" in text
    assert "87%" not in text and "0.8731" not in text


def test_no_reference_without_feedback(client):
    built = build_study(design=m.Design.PARALLEL, images=True)
    client.force_login(built.user)
    slug = built.study.slug
    for response in reader_responses(client, built):
        assert_no_reference(body(response))
    response = client.post(reverse("reader:case", args=[slug]), post_data(built.items[0], str(uuid.uuid4())), **HTMX)
    assert_no_reference(response.content)
    assert client.get(reverse("reader:feedback", args=[slug, built.items[0].pk])).status_code == 404


def test_reference_feedback_only_after_submitting(client):
    built = build_study(design=m.Design.PARALLEL, settings_={"feedback": True})
    client.force_login(built.user)
    slug = built.study.slug
    feedback_url = reverse("reader:feedback", args=[slug, built.items[0].pk])
    assert client.get(feedback_url).status_code == 404
    assert_no_reference(client.get(reverse("reader:case", args=[slug])).content)
    response = client.post(reverse("reader:case", args=[slug]), post_data(built.items[0], str(uuid.uuid4())), **HTMX)
    assert response.status_code == 200
    assert REFERENCE_NAME in response.content.decode()
    assert client.get(feedback_url).status_code == 200
    # Not for an item that is not answered yet.
    assert client.get(reverse("reader:feedback", args=[slug, built.items[1].pk])).status_code == 404


def test_sequential_feedback_waits_for_phase_two(client):
    built = build_study(settings_={"feedback": True})
    client.force_login(built.user)
    url = reverse("reader:case", args=[built.study.slug])
    client.get(url)
    after_phase1 = client.post(url, post_data(built.items[0], str(uuid.uuid4())), **HTMX)
    assert_no_reference(after_phase1.content)
    after_phase2 = client.post(url, post_data(built.items[1], str(uuid.uuid4())), **HTMX)
    assert REFERENCE_NAME in after_phase2.content.decode()
