"""The reader side of the AI displays (issue 14): what the blinding rule returns for each display
with the arm's options, the faulty variant, the reader page's hooks, the on-request partial, the
access-checked library images, the reader API and the stored snapshot, in every design.

The blinding cases: for an unaided item or a sequential first look, no response (page, htmx page,
the AI partial, the API, library image URLs) carries anything of any display, and the snapshot is
empty; once the AI item is current, exactly its display (and only its images) is reachable.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.core.cache import caches
from django.urls import reverse

from catalog import models as cm
from inference.models import DisplayKind
from readerstudy import models as m
from readerstudy.selectors.blinding import _ai_display, ai_display_for_item
from readerstudy.views.case_fragments import part_keys
from tests.readerstudy_tests.display_setup import (
    DISPLAY_NEEDLES,
    FAULTY_DX,
    GAUGE,
    N_LIBRARY,
    add_displays,
    build_display_study,
)
from tests.readerstudy_tests.reader_setup import make_model, post_data

pytestmark = pytest.mark.django_db

DESIGNS = [m.Design.PARALLEL, m.Design.RANDOMISED_BLOCKS, m.Design.SEQUENTIAL, m.Design.CROSSOVER]
DISPLAYS = [DisplayKind.MALIGNANCY, DisplayKind.SIMILAR_CASES, DisplayKind.CONCEPTS, DisplayKind.LEARNED_CONCEPTS]


@pytest.fixture(autouse=True)
def _fresh_fragments():
    caches["fragments"].clear()
    yield
    caches["fragments"].clear()


def _ai_item(built):
    item = m.ScheduleItem.objects.select_related("arm", "case", "study__case_set", "membership").get(
        pk=built.items[1].pk)
    return item


def _text(response) -> str:
    if getattr(response, "streaming", False):
        return ""
    return response.content.decode("utf-8", "replace")


def _leaks(text: str, built) -> list[str]:
    found = [needle for needle in DISPLAY_NEEDLES if needle in text]
    for image in built.extra["library_images"]:
        if f"/library/{image.pk}/" in text or image.sha256 in text:
            found.append(f"library image {image.pk}")
    return found


# --- what the blinding rule returns ------------------------------------------------------------------


def test_malignancy_uses_the_arm_threshold():
    built = build_display_study(design=m.Design.RANDOMISED_BLOCKS, display="malignancy", assist={"threshold": 0.8})
    ai = _ai_display(_ai_item(built))
    assert ai["display"] == "malignancy" and ai["variant"] == "normal" and ai["show_differential"] is False
    assert ai["payload"] == {"value": 0.7345, "percent": 73, "threshold": 0.8, "threshold_percent": 80,
                             "malignant": False, "calibrated": True, "source": "taxonomy"}
    m.Arm.objects.filter(pk=built.ai.pk).update(assist={"display": "malignancy"})  # the precomputed 0.5
    assert _ai_display(_ai_item(built))["payload"]["malignant"] is True


def test_similar_cases_shows_n_grouped_with_the_vote_over_the_shown_images():
    built = build_display_study(design=m.Design.PARALLEL, display="similar_cases",
                                assist={"n_similar": 8, "group_by_diagnosis": True, "knn_vote": True})
    images = built.extra["library_images"]
    payload = _ai_display(_ai_item(built))["payload"]
    assert [nb["image_id"] for nb in payload["neighbours"]] == [im.pk for im in images[:8]]
    assert [nb["name"] for nb in payload["neighbours"]] == ["Psoriasis"] * 7 + ["Seborrhoeic keratosis"]
    # Neighbour ranks 1..8 have similarity 0.95 - 0.01 r: PSO 0.94+...+0.88 = 6.37, SK 0.87, total 7.24.
    assert payload["vote"] == [
        {"diagnosis": "PSO", "name": "Psoriasis", "share": 0.8798, "percent": 88},
        {"diagnosis": "SK", "name": "Seborrhoeic keratosis", "share": 0.1202, "percent": 12}]
    assert [(g["diagnosis"], g["count"]) for g in payload["groups"]] == [("PSO", 7), ("SK", 1)]
    case_image = cm.CaseImage.objects.filter(case=built.items[1].case).order_by("order").first()
    assert {nb["query_image_id"] for nb in payload["neighbours"]} == {case_image.pk}


def test_similar_cases_default_gallery_is_twelve_without_grouping_or_vote():
    built = build_display_study(design=m.Design.PARALLEL, display="similar_cases")
    payload = _ai_display(_ai_item(built))["payload"]
    assert payload["n"] == 12 and "groups" not in payload and "vote" not in payload


def test_concepts_show_the_n_strongest_next_to_the_differential():
    built = build_display_study(design=m.Design.PARALLEL, display="concepts", assist={"n_concepts": 2})
    ai = _ai_display(_ai_item(built))
    assert ai["show_differential"] is True and [row["name"] for row in ai["items"]][:1] == ["Psoriasis"]
    assert [(c["name"], c["strength_percent"], c["present"]) for c in ai["payload"]["findings"]] == [
        ("Zyxscale", 91, True), ("Zyxplaque", 55, True)]


def test_learned_concepts_per_top_two_classes_and_the_artefact_robust_rescore():
    built = build_display_study(design=m.Design.PARALLEL, display="learned_concepts")
    images = built.extra["library_images"]
    payload = _ai_display(_ai_item(built))["payload"]
    assert [(c["name"], [lat["name"] for lat in c["latents"]]) for c in payload["classes"]] == [
        ("Psoriasis", ["Latzeta"]), ("Tinea corporis", ["Latkappa"])]
    assert payload["classes"][1]["latents"][0]["top_images"] == [images[1].pk, images[3].pk]
    m.Arm.objects.filter(pk=built.ai.pk).update(assist={"display": "learned_concepts", "artefact_robust": True})
    robust = _ai_display(_ai_item(built))["payload"]
    assert robust["artefact_robust"] is True and [c["code"] for c in robust["classes"]] == ["PSO"]


@pytest.mark.parametrize("display", DISPLAYS)
def test_a_faulty_item_shows_the_faulty_variant(display):
    built = build_display_study(design=m.Design.PARALLEL, display=display, assist={"faulty_rate": 1.0})
    ai = _ai_display(_ai_item(built))
    images = built.extra["library_images"]
    assert ai["variant"] == "faulty"
    payload = ai["payload"]
    if display == "malignancy":
        assert payload["value"] == GAUGE["faulty"] and payload["malignant"] is False
    elif display == "similar_cases":
        assert payload["neighbours"][0]["image_id"] == images[N_LIBRARY - 1].pk
        assert [nb["diagnosis"] for nb in payload["neighbours"]] == FAULTY_DX[:12]
    elif display == "concepts":
        assert payload["findings"][0]["name"] == "Qwvveil"
    else:
        assert [c["code"] for c in payload["classes"]] == ["TIN", "SK"]


def test_the_arm_own_model_is_used():
    built = build_display_study(design=m.Design.PARALLEL, display="malignancy")
    other = make_model(built.study.case_set, name="arm-model")
    m.Arm.objects.filter(pk=built.ai.pk).update(model_version=other)
    assert _ai_display(_ai_item(built)) is None  # no display of the arm's model yet: nothing, not another's
    built.model = other
    add_displays(built, built.extra["library_images"])
    ai = _ai_display(_ai_item(built))
    assert ai["model_version"] == "arm-model" and ai["payload"]["value"] == GAUGE["normal"]


def test_a_missing_display_shows_nothing():
    built = build_display_study(design=m.Design.PARALLEL, display="concepts")
    built.model.display_outputs.filter(kind="concepts").delete()
    assert _ai_display(_ai_item(built)) is None


def test_media_key_names_the_arm_whose_display_and_model_are_locked_at_launch():
    """The arm's display options and model are part of the study's locked configuration (a launched
    study refuses arm changes), so the arm id in the key names them without loading the arm."""
    from readerstudy.services import studies
    from readerstudy.services.studies.common import StudyError

    built = build_display_study(design=m.Design.PARALLEL, display="similar_cases")
    item = _ai_item(built)
    key = part_keys(item)["media"]
    assert f":{item.arm_id}:{item.phase}" in key
    other = [a for a in built.study.arms.all() if a.pk != item.arm_id][0]
    assert part_keys(m.ScheduleItem(study=built.study, case_id=item.case_id, arm=other, phase=1))["media"] != key
    arms = [studies.ArmSpec(name=a.name, label=a.label, kind=a.kind, assist={**a.assist, "n_similar": 8})
            for a in built.study.arms.order_by("order")]
    with pytest.raises(StudyError):
        studies.study_update(study=built.study, actor=built.user, changes={}, arms=arms)


# --- blinding in every design, every response -----------------------------------------------------


def _blind_responses(client, built, slug):
    """Every reader response while the first (unaided / first-look) item is current."""
    case_url = reverse("reader:case", args=[slug])
    ai_url = reverse("reader:case_ai", args=[slug])
    yield "page", client.get(case_url)
    yield "page htmx", client.get(case_url, HTTP_HX_REQUEST="true")
    for item in built.items:
        yield f"ai partial {item.pk}", client.get(ai_url, {"item_id": item.pk}, HTTP_HX_REQUEST="true")
    yield "api next", client.get(f"/api/v1/studies/{slug}/schedule/next/")
    for image in built.extra["library_images"]:
        for url in (reverse("reader:library_image", args=[slug, image.pk]),
                    f"/api/v1/studies/{slug}/library/{image.pk}/"):
            yield f"library {url}", client.get(url)
            yield f"library {url} full", client.get(url + "?size=full")


@pytest.mark.parametrize("design", DESIGNS)
@pytest.mark.parametrize("display", DISPLAYS)
def test_no_display_data_before_the_ai_item_and_exactly_its_display_after(client, design, display):
    built = build_display_study(design=design, display=display)
    slug = built.study.slug
    images = built.extra["library_images"]
    client.force_login(built.user)
    problems = []
    for label, response in _blind_responses(client, built, slug):
        if label.startswith(("ai partial", "library")) and response.status_code != 404:
            problems.append(f"{label}: {response.status_code}")
        # A 404 page may echo the path the reader asked for; that is not display data.
        text = _text(response).replace(label.removeprefix("library ").removesuffix(" full"), "")
        problems += [f"{label}: {leak}" for leak in _leaks(text, built)]
    assert not problems, problems
    assert client.get(f"/api/v1/studies/{slug}/schedule/next/").json()["item"]["ai"] is None

    # Answer the first item (posting display fields it never showed): its snapshot stays empty.
    first = built.items[0]
    response = client.post(reverse("reader:case", args=[slug]), post_data(
        first, str(uuid.uuid4()), ai_opened_at="1", opened_neighbour=[str(images[0].pk)]))
    assert response.status_code == 302
    assert m.Reading.objects.get(schedule_item=first).ai_snapshot is None

    # The AI item is current: its display is on the page, its images (and only those) are reachable.
    text = client.get(reverse("reader:case", args=[slug])).content.decode()
    assert f'data-ai-display="{display}"' in text
    ai = ai_display_for_item(_ai_item(built))
    shown = _shown_images(ai)
    hooks = {"malignancy": ['data-gauge-value="0.7345"', 'data-gauge-threshold="0.5"'],
             "similar_cases": [f'data-neighbour="{i}"' for i in shown] + ["data-neighbour-view"],
             "concepts": ['data-concept="c0"', "Zyxscale", "Zyxcrust"],
             "learned_concepts": ["Latzeta", "Latkappa", 'data-concept="10"']}[display]
    assert all(hook in text for hook in hooks), [h for h in hooks if h not in text]
    for image in images:
        page = client.get(reverse("reader:library_image", args=[slug, image.pk]))
        api = client.get(f"/api/v1/studies/{slug}/library/{image.pk}/")
        expected = 200 if image.pk in shown else 404
        assert (page.status_code, api.status_code) == (expected, expected), image.pk
    api_ai = client.get(f"/api/v1/studies/{slug}/schedule/next/").json()["item"]["ai"]
    assert api_ai["display"] == display and api_ai["payload"].keys() == ai["payload"].keys()
    if display == "similar_cases":
        assert api_ai["payload"]["neighbours"][0]["url"].endswith(f"/library/{shown[0]}/?size=full")
    if display == "learned_concepts":
        assert api_ai["payload"]["classes"][0]["latents"][0]["top_image_urls"][0].endswith(f"/library/{shown[0]}/")

    # Answer it, posting one shown image, one not shown and junk: only the shown one is kept.
    hidden = next(im.pk for im in images if im.pk not in shown)
    second = built.items[1]
    client.post(reverse("reader:case", args=[slug]), post_data(
        second, str(uuid.uuid4()), opened_neighbour=[str(hidden), "x", *(str(i) for i in shown[:1])]))
    snapshot = m.Reading.objects.get(schedule_item=second).ai_snapshot
    assert snapshot["display"] == display and snapshot["payload"] == ai["payload"]
    assert "opened_at" not in snapshot  # not an on-request arm
    if shown:
        assert snapshot["opened_neighbours"] == shown[:1]
    else:
        assert "opened_neighbours" not in snapshot
    # Answered: its images are no longer reachable.
    if shown:
        assert client.get(reverse("reader:library_image", args=[slug, shown[0]])).status_code == 404


def _shown_images(ai) -> list[int]:
    payload = ai["payload"]
    ids = [nb["image_id"] for nb in payload.get("neighbours", [])]
    ids += [i for c in payload.get("classes", []) for lat in c["latents"] for i in lat["top_images"]]
    return ids


# --- on request ----------------------------------------------------------------------------------


@pytest.mark.parametrize("design", [m.Design.SEQUENTIAL, m.Design.RANDOMISED_BLOCKS])
def test_on_request_hides_the_panel_until_asked_and_records_when(client, design):
    built = build_display_study(design=design, display="similar_cases", assist={"on_request": True})
    slug = built.study.slug
    client.force_login(built.user)
    first_page = client.get(reverse("reader:case", args=[slug])).content.decode()
    assert "data-show-ai" not in first_page and not _leaks(first_page, built)  # an unaided item / first look
    client.post(reverse("reader:case", args=[slug]), post_data(built.items[0], str(uuid.uuid4())))

    page = client.get(reverse("reader:case", args=[slug])).content.decode()
    assert "data-show-ai" in page and "data-ai-panel" not in page
    assert not [leak for leak in _leaks(page, built) if leak != "data-show-ai"]
    m.ScheduleItem.objects.filter(pk=built.items[1].pk).update(shown_at=dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC))
    second = m.ScheduleItem.objects.get(pk=built.items[1].pk)
    partial = client.get(reverse("reader:case_ai", args=[slug]), {"item_id": second.pk}, HTTP_HX_REQUEST="true")
    assert partial.status_code == 200
    body = partial.content.decode()
    assert 'data-ai-display="similar_cases"' in body and "data-neighbour-view" in body
    opened_ms = int(second.shown_at.timestamp() * 1000) + 1500  # 09:00:01.5, before the (later) submit
    client.post(reverse("reader:case", args=[slug]), post_data(second, str(uuid.uuid4()),
                                                               ai_opened_at=str(opened_ms)))
    snapshot = m.Reading.objects.get(schedule_item=second).ai_snapshot
    assert snapshot["on_request"] is True
    assert snapshot["opened_at"] == "2026-01-05T09:00:01.500000+00:00"


def test_on_request_never_opened_has_no_opened_at(client):
    built = build_display_study(design=m.Design.PARALLEL, display="malignancy", assist={"on_request": True})
    slug = built.study.slug
    client.force_login(built.user)
    client.post(reverse("reader:case", args=[slug]), post_data(built.items[0], str(uuid.uuid4())))
    client.get(reverse("reader:case", args=[slug]))
    second = m.ScheduleItem.objects.get(pk=built.items[1].pk)
    client.post(reverse("reader:case", args=[slug]), post_data(second, str(uuid.uuid4()), ai_opened_at=""))
    snapshot = m.Reading.objects.get(schedule_item=second).ai_snapshot
    assert snapshot["display"] == "malignancy" and "opened_at" not in snapshot


def test_the_ai_partial_refuses_an_item_not_shown_yet(client):
    built = build_display_study(design=m.Design.PARALLEL, display="malignancy", assist={"on_request": True},
                                settings_={"allow_back": True})
    client.force_login(built.user)
    url = reverse("reader:case_ai", args=[built.study.slug])
    # allow_back: the AI item is open but has not been put on screen, so its AI is not served.
    assert client.get(url, {"item_id": built.items[1].pk}).status_code == 404
    assert client.get(url, {"item_id": "9" * 30}).status_code == 404
