"""Issue 14's done-when in Chromium: a reader reads one case in each arm of a four-arm study.

A randomised-blocks study with the arms of the demo's display study (unaided, top-3 differential,
similar cases, concept findings), one case per arm in that order. The displays are DisplayOutput rows
in the payload format of the precompute (built here from the inference cores' own result objects, so
the test does not depend on a precompute run); pictures come from the demo painter. Checked: no AI
display at all on the unaided case; the differential on top-3; on similar cases the first
``n_similar`` gallery images, each loading through the reader's library URL, the enlarged view with
the case beside it, and a library image outside the display answering 404; concept chips strongest
first next to the differential. Each reading's snapshot names the display it showed.

``SCREENSHOTS=docs/screenshots`` writes the README's screenshots there (default: tests/artifacts).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from django.conf import settings
from PIL import Image

from catalog import models as cm
from catalog.services.taxonomy import default_taxonomy
from inference.core.concepts import ConceptFinding, ConceptFindings
from inference.core.neighbours import Neighbour, gallery
from inference.models import DisplayKind, DisplayOutput
from readerstudy import models as m
from readerstudy.demo.images import draw_case_images
from tests.browser_tests.reader_page import ARTIFACTS, reader_browser, wait_until
from tests.factories import ArmFactory, CaseFactory, CaseSetFactory
from tests.readerstudy_tests.reader_setup import build_study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

AI_TOP = (("PSO", 0.71), ("AD", 0.18), ("SK", 0.05))
AI_NAMES = ["Psoriasis", "Atopic dermatitis", "Seborrhoeic keratosis"]
# The gallery by rank (the normal variant): the displayed ranking's diagnoses, top-1 first.
GALLERY_DX = ["PSO"] * 5 + ["AD"] * 3 + ["SK"] * 2
FAULTY_DX = ["AD"] * 6 + ["PSO"] * 2 + ["SK"] * 2
N_SIMILAR = 8  # the arm shows the first 8 of the 10 precomputed
# Concepts in vocabulary order with their strengths; the arm shows the 5 strongest.
FINDINGS = [("plaque", "plaque", "morphology", 0.88), ("scale", "scale", "morphology", 0.93),
            ("papule", "papule", "morphology", 0.21), ("erythema", "erythema", "colour", 0.81),
            ("border_irregularity", "irregular border", "morphology", 0.12), ("white", "white colour", "colour", 0.47),
            ("pigment_network", "pigment network", "dermoscopic", 0.05), ("dotted_vessels", "dotted vessels",
                                                                          "dermoscopic", 0.64)]
N_CONCEPTS = 5
ARMS = {
    "top3": {"display": "differential", "top_k": 3, "show_probabilities": True},
    "similar": {"display": "similar_cases", "n_similar": N_SIMILAR, "knn_vote": True},
    "concepts": {"display": "concepts", "n_concepts": N_CONCEPTS, "top_k": 3, "show_probabilities": True},
}


def _store_image(case: cm.Case, role: str, data: bytes, order: int) -> cm.CaseImage:
    """Write a drawn JPEG under MEDIA_ROOT as the import stores it (by content hash, with a thumbnail)."""
    media = Path(settings.MEDIA_ROOT)
    digest = hashlib.sha256(data).hexdigest()
    full, thumb = media / "cases" / f"{digest}.jpg", media / "thumbs" / f"{digest}.jpg"
    full.parent.mkdir(parents=True, exist_ok=True)
    thumb.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(data)
    picture = Image.open(io.BytesIO(data))
    width, height = picture.size
    picture.thumbnail((320, 320))
    picture.save(thumb)
    return cm.CaseImage.objects.create(case=case, role=role, order=order, file=str(full.relative_to(media)),
                                       thumbnail=str(thumb.relative_to(media)), sha256=digest, width=width,
                                       height=height, original_name=f"{case.key}-{role}.jpg")


def _draw(case: cm.Case, roles: tuple[str, ...], seed: int, size: int) -> list[cm.CaseImage]:
    condition = case.reference
    images = draw_case_images(condition_code=condition.code, group=condition.group, malignant=condition.malignant,
                              skin_tone=case.fitzpatrick or 3, seed=seed, size=size)
    return [_store_image(case, role, images[role], order) for order, role in enumerate(roles)]


def _display(*, model, case, kind: str, payload: dict, library=None) -> DisplayOutput:
    """A finished DisplayOutput as the precompute writes it: params hashed as sorted JSON."""
    params = {"kind": kind, "library": library.pk if library else None, "n": 16 if library else None}
    return DisplayOutput.objects.create(
        model_version=model, case=case, kind=kind, library=library, params=params,
        params_sha256=hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest(),
        status="done", payload=payload)


def _gallery_payload(case: cm.Case, images: list[cm.CaseImage], diagnoses: list[str]) -> dict:
    query = case.images.get(role="dermoscopic").sha256
    ranked = [Neighbour(rank, images[rank - 1].pk, images[rank - 1].sha256, images[rank - 1].case.key, code,
                        round(0.93 - 0.02 * rank, 4), query) for rank, code in enumerate(diagnoses, start=1)]
    return gallery(case.key, ranked, merge="max", near_duplicate=0.98, excluded={"same_lesion": 1}).as_dict()


def _concepts_payload(strengths: dict[str, float] | None = None) -> dict:
    findings = tuple(ConceptFinding(code, name, kind, score=(strengths or {}).get(code, s), strength=(strengths or {})
                                    .get(code, s), threshold=0.5, calibrated=False, present=None)
                     for code, name, kind, s in FINDINGS)
    return ConceptFindings(vocabulary_version="1", fingerprint="test", logit_scale=100.0, findings=findings).as_dict()


@pytest.fixture
def four_arm_study(db):
    """Cases 1-4 read in arms unaided, top3, similar, concepts; a library of 12 one-image cases."""
    taxonomy = default_taxonomy()
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=4, arm_order=["unaided", "ai", "ai", "ai"],
                        taxonomy=taxonomy, ai_top=AI_TOP)
    study, conditions = built.study, {c.code: c for c in taxonomy.conditions.all()}
    psoriasis = conditions["PSO"]
    for i, case in enumerate(built.cases):
        cm.Case.objects.filter(pk=case.pk).update(reference=psoriasis, fitzpatrick=2 + i % 3)
        case.refresh_from_db()
        _draw(case, ("clinical", "dermoscopic"), seed=100 + i, size=512)
    m.Arm.objects.filter(pk=built.ai.pk).update(name="top3", label="AI: top-3", assist=ARMS["top3"])
    arms = {"top3": built.ai}
    for order, name in enumerate(("similar", "concepts"), start=2):
        arms[name] = ArmFactory(study=study, name=name, label=f"AI: {name}", kind=m.ArmKind.AI, order=order,
                                assist=ARMS[name])
    for item, name in zip(built.items[2:], ("similar", "concepts"), strict=True):
        m.ScheduleItem.objects.filter(pk=item.pk).update(arm=arms[name])

    library = CaseSetFactory(taxonomy=taxonomy, reference_library=True, name="Reference library")
    library_images = []
    for j, code in enumerate([*GALLERY_DX, "NEV", "MEL"]):  # the last two are in no display
        case = CaseFactory(case_set=library, key=f"LIB-{j + 1:04d}", reference=conditions[code],
                           fitzpatrick=2 + j % 4, extra={"patient_id": f"LIB-PT-{j}", "lesion_id": f"LIB-LS-{j}"})
        library_images += _draw(case, ("dermoscopic",), seed=500 + j, size=384)
    m.Study.objects.filter(pk=study.pk).update(reference_library=library)
    similar_case, concepts_case = built.cases[2], built.cases[3]
    _display(model=built.model, case=similar_case, kind=DisplayKind.SIMILAR_CASES, library=library, payload={
        "normal": _gallery_payload(similar_case, library_images, GALLERY_DX),
        "faulty": _gallery_payload(similar_case, library_images, FAULTY_DX)})
    _display(model=built.model, case=concepts_case, kind=DisplayKind.CONCEPTS, payload={
        "normal": _concepts_payload(), "faulty": _concepts_payload({"scale": 0.1, "plaque": 0.2})})
    built.extra.update(library_images=library_images, arms=arms)
    return built


def _shoot(page, name: str, *, locator=None) -> None:
    """Save a screenshot, after checking no template source leaked into the page (a Django ``{# #}``
    comment spans one line only: a longer one is printed)."""
    from playwright.sync_api import expect

    for marker in ("{#", "#}", "{%", "{{"):
        expect(page.locator("body")).not_to_contain_text(marker)
    folder = Path(os.environ.get("SCREENSHOTS") or ARTIFACTS)
    folder.mkdir(parents=True, exist_ok=True)
    (locator or page).screenshot(path=str(folder / name))


def _answer_and_submit(page, expect, next_counter: str | None) -> None:
    page.locator("#dx-1").type("psoria", delay=10)
    page.locator(".combo-list:not([hidden]) .combo-option").first.wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")
    page.locator('input[name="confidence"][value="3"]').check(force=True)
    page.locator('input[name="management"][value="refer"]').check(force=True)
    page.get_by_role("button", name="Submit answer").click()
    if next_counter:
        expect(page.locator(".case-count")).to_have_text(next_counter)


def _loaded(image) -> bool:
    image.scroll_into_view_if_needed()
    return image.evaluate("el => el.complete && el.naturalWidth > 0")


def test_a_reader_reads_a_case_in_each_display_arm(live_server, chromium_path, four_arm_study):
    from playwright.sync_api import expect

    built = four_arm_study
    library_images = built.extra["library_images"]
    base = f"{live_server.url}/s/{built.study.slug}"
    with reader_browser(chromium_path, live_server, built.user, height=900) as (page, errors):
        page.goto(f"{base}/read/")

        # 1. Unaided: no AI display of any kind in the page.
        expect(page.locator(".case-count")).to_have_text("Case 1 of 4")
        expect(page.locator("[data-ai-display]")).to_have_count(0)
        expect(page.locator("[data-ai-panel], [data-neighbour], [data-concept], [data-show-ai]")).to_have_count(0)
        _shoot(page, "display_unaided.png")
        _answer_and_submit(page, expect, "Case 2 of 4")

        # 2. Top-3 differential with probabilities.
        panel = page.locator('[data-ai-display="differential"]')
        expect(panel).to_be_visible()
        expect(panel.locator(".ai-name")).to_have_text(AI_NAMES)
        expect(panel.locator(".ai-value")).to_have_text(["71%", "18%", "5%"])
        expect(page.locator("[data-neighbour], [data-concept]")).to_have_count(0)
        _shoot(page, "display_top3.png")
        _answer_and_submit(page, expect, "Case 3 of 4")

        # 3. Similar cases: the first N_SIMILAR of the gallery, each image served and loaded.
        panel = page.locator('[data-ai-display="similar_cases"]')
        expect(panel).to_be_visible()
        neighbours = panel.locator("[data-neighbour]")
        expect(neighbours).to_have_count(N_SIMILAR)
        shown = [int(neighbours.nth(i).get_attribute("data-neighbour")) for i in range(N_SIMILAR)]
        assert shown == [image.pk for image in library_images[:N_SIMILAR]]
        for i in range(N_SIMILAR):
            image = neighbours.nth(i).locator("img")
            wait_until(page, lambda image=image: _loaded(image), what=f"gallery image {i + 1} to load")
        # The vote over the 8 shown: 5 psoriasis, 3 atopic dermatitis (similarity-weighted shares).
        expect(panel.locator(".ai-vote li").first).to_contain_text("Psoriasis")
        expect(panel.locator(".ai-vote li")).to_have_count(2)
        panel.scroll_into_view_if_needed()
        _shoot(page, "display_similar_cases.png")
        # A library image in no display is not served; one in the gallery is.
        outside = library_images[-1].pk
        assert page.request.get(f"{base}/library/{outside}/").status == 404
        assert page.request.get(f"{base}/library/{shown[0]}/").status == 200
        # Enlarged, beside the case's own image.
        neighbours.first.click()
        view = panel.locator("[data-neighbour-view]")
        expect(view).to_be_visible()
        for selector in ("[data-view-neighbour]", "[data-view-case]"):
            wait_until(page, lambda s=selector: _loaded(view.locator(s)), what=f"{selector} to load")
        expect(view.locator("[data-view-label]")).to_have_text("Psoriasis")
        _shoot(page, "display_similar_enlarged.png")
        view.locator("[data-view-close]").click()
        expect(view).to_be_hidden()
        _answer_and_submit(page, expect, "Case 4 of 4")

        # 4. Concepts: chips strongest first, next to the differential.
        panel = page.locator('[data-ai-display="concepts"]')
        expect(panel).to_be_visible()
        chips = panel.locator("[data-concept]")
        expect(chips).to_have_count(N_CONCEPTS)
        strongest = [code for code, _, _, s in sorted(FINDINGS, key=lambda f: -f[3])][:N_CONCEPTS]
        assert [chips.nth(i).get_attribute("data-concept") for i in range(N_CONCEPTS)] == strongest
        expect(chips.first).to_contain_text("scale")
        expect(panel.locator(".ai-name")).to_have_text(AI_NAMES)
        expect(page.locator("[data-neighbour]")).to_have_count(0)
        _shoot(page, "display_concepts.png")
        _answer_and_submit(page, expect, None)
        wait_until(page, lambda: m.Reading.objects.filter(schedule_item__study=built.study).count() == 4,
                   what="four readings to be stored")
    assert not errors, errors

    readings = {r.schedule_item.arm.name: r for r in
                m.Reading.objects.filter(schedule_item__study=built.study).select_related("schedule_item__arm")}
    assert not readings["unaided"].ai_snapshot
    assert {name: readings[name].ai_snapshot["display"] for name in ARMS} == {
        "top3": "differential", "similar": "similar_cases", "concepts": "concepts"}
    assert readings["similar"].ai_snapshot["opened_neighbours"] == [shown[0]]
    assert all(readings[name].differential[0] == "PSO" for name in readings)
