"""A reader completes a small sequential study in Chromium, with the keyboard and the mouse.

Invitation -> sign-up -> consent -> demographics -> instructions -> 3 cases x (phase 1 unaided,
AI reveal, phase 2 revision) -> end page. Screenshots of the case page before and after the
reveal (and at tablet width) are written to tests/artifacts/.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from readerstudy import models as m
from tests.factories import CaseFactory, CaseSetFactory, UserFactory
from tests.readerstudy_tests.reader_setup import AI_NAMES, add_images, make_model

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
HISTORIES = [
    "Changing pigmented lesion noticed by partner; no bleeding.",
    "Slowly enlarging, asymptomatic. Father had skin cancer.",
    "Present for years, recently itchy after sun exposure.",
]


@pytest.fixture
def sequential_study(db):
    from readerstudy.services.studies import invitation_create, study_create, study_launch

    coordinator = UserFactory(username="coordinator")
    case_set = CaseSetFactory(name="Pigmented lesions")
    melanoma = case_set.taxonomy.conditions.get(code="MEL")
    cases = [
        CaseFactory(case_set=case_set, key=f"P{i}", reference=melanoma, age=age, sex=sex, body_site=site,
                    fitzpatrick=fitz, duration=duration, history=HISTORIES[i])
        for i, (age, sex, site, fitz, duration) in enumerate([
            (54, "F", "left forearm", 3, "6 months"), (67, "M", "upper back", 2, "1 year"),
            (38, "F", "right calf", 4, "3 months")])
    ]
    for case in cases:
        add_images(case, roles=("clinical", "dermoscopic"), size=720)
    model = make_model(case_set, calibrated=True, name="Simulated assistant v1")
    study = study_create(
        actor=coordinator, title="Pigmented lesions: sequential AI reader study", case_set=case_set,
        design=m.Design.SEQUENTIAL, model_version=model, seed=7,
        consent_text="You will read 3 cases. Taking part is voluntary; you may stop at any time.",
        instructions="Read each case as you would in clinic.",
    )
    study_launch(study=study, actor=coordinator)
    invitation = invitation_create(study=study, actor=coordinator)
    return study, invitation


def test_reader_completes_sequential_study(live_server, chromium_path, sequential_study):
    from playwright.sync_api import expect, sync_playwright

    study, invitation = sequential_study
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text)
                if msg.type == "error" and "favicon" not in (msg.location or {}).get("url", "") else None)
        try:
            _join_and_prepare(page, live_server.url, invitation.token, expect)
            for number in (1, 2, 3):
                _read_case(page, number, expect)
            expect(page.get_by_role("heading", name="Thank you — you have completed the study")).to_be_visible()
            page.screenshot(path=str(ARTIFACTS / "end_page.png"))
        finally:
            browser.close()
    assert not errors, errors

    membership = m.Membership.objects.get(study=study, role=m.Role.READER)
    readings = list(m.Reading.objects.filter(schedule_item__membership=membership)
                    .select_related("schedule_item").order_by("schedule_item__position"))
    assert len(readings) == 6 and membership.consented_at and membership.demographics_done
    for reading in readings:
        item = reading.schedule_item
        if item.phase == 1:
            assert reading.ai_snapshot is None
            assert reading.differential == ["NEV", "BCC", "SK"] and reading.confidence == 4
            assert reading.management == "monitor"
        else:
            assert [row["name"] for row in reading.ai_snapshot["items"]] == list(AI_NAMES)
            assert reading.differential[0] == "PSO" and reading.management == "biopsy_excise"
        assert reading.first_input_at is not None and reading.active_ms > 0
    membership.refresh_from_db()
    assert membership.completed_at is not None


def _join_and_prepare(page, base_url, token, expect):
    page.goto(f"{base_url}/join/{token}/")
    signup = page.get_by_role("region", name="New here? Create an account")
    signup.get_by_label("Username").fill("dr_reader")
    signup.get_by_label("Password", exact=True).fill("Derm-Reader-2024!")
    signup.get_by_label("Password confirmation").fill("Derm-Reader-2024!")
    page.screenshot(path=str(ARTIFACTS / "join_page.png"))
    signup.get_by_role("button", name="Create account and join").click()

    expect(page.get_by_role("heading", name="Taking part in Pigmented lesions: sequential AI reader study")).to_be_visible()
    page.get_by_label("I have read the information above and agree to take part.").check()
    page.get_by_role("button", name="I agree, continue").click()

    expect(page.get_by_role("heading", name="About you")).to_be_visible()
    page.get_by_text("General practitioner", exact=True).click()
    page.get_by_label("Years of clinical experience").fill("9")
    page.get_by_text("Sometimes", exact=True).click()
    page.get_by_label("Country where you practise").fill("Austria")
    page.get_by_text("40-49", exact=True).click()
    page.get_by_role("button", name="Continue").click()

    expect(page.get_by_role("heading", name="How this study works")).to_be_visible()
    page.get_by_role("button", name="Start reading").click()


def _pick_with_keyboard(page, text, how):
    page.keyboard.type(text, delay=25)
    page.wait_for_selector(".combo-list:not([hidden]) .combo-option")
    if how == "enter":
        page.keyboard.press("Enter")
    elif how == "digit":
        page.keyboard.press("1")
    else:
        page.keyboard.press("ArrowDown")
        page.keyboard.press("ArrowUp")
        page.keyboard.press("Enter")


def _wait_for_images(page):
    """Poll from Python: wait_for_function would need eval, which the page's CSP forbids."""
    images = page.locator(".viewer img")
    for _ in range(100):
        if images.evaluate_all("els => els.length > 0 && els.every(i => i.complete && i.naturalWidth > 0)"):
            return
        page.wait_for_timeout(100)
    raise AssertionError("case images did not load")


def _read_case(page, number, expect):
    title = page.locator("#case-title")
    expect(title).to_contain_text(f"Case {number}")
    expect(page.locator(".case-count")).to_have_text(f"Case {number} of 3")
    expect(page.locator("[data-ai-panel]")).to_have_count(0)
    for name in AI_NAMES:
        assert name not in page.content()
    _wait_for_images(page)
    form_top = page.locator("#answer-form").bounding_box()["y"]

    # Phase 1 with the keyboard: "/" jumps to the search, picks move on, digits set confidence.
    page.keyboard.press("/")
    _pick_with_keyboard(page, "naev", "enter")
    _pick_with_keyboard(page, "basal", "digit")
    _pick_with_keyboard(page, "kerat", "arrows")
    page.keyboard.press("4")
    expect(page.locator('input[name="confidence"][value="4"]')).to_be_checked()
    page.get_by_text("Monitor", exact=True).click()
    if number == 1:
        # Zoom the dermoscopic image with the keyboard and the wheel, then reset.
        viewer = page.locator("[data-viewer]").nth(1)
        viewer.focus()
        page.keyboard.press("+")
        page.keyboard.press("ArrowLeft")
        viewer.hover()
        page.mouse.wheel(0, -240)
        assert "zoomed" in (viewer.get_attribute("class") or "")
        page.keyboard.press("0")
        page.screenshot(path=str(ARTIFACTS / "case_phase1_before_reveal.png"))
    page.keyboard.press("Control+Enter")

    # The reveal: same case, AI panel in place, answer pre-filled for revision.
    expect(page.locator("[data-ai-panel]")).to_be_visible()
    expect(page.get_by_role("heading", name="Revise your answer")).to_be_visible()
    expect(page.locator(".badge.simulated")).to_have_text("Simulated AI")
    expect(page.locator(".ai-name").first).to_have_text(AI_NAMES[0])
    expect(page.locator("#dx-1")).to_have_value("Melanocytic naevus")
    expect(page.locator(".case-count")).to_have_text(f"Case {number} of 3")
    assert abs(page.locator("#answer-form").bounding_box()["y"] - form_top) < 1.5, "the AI panel shifted the form"
    if number == 1:
        page.screenshot(path=str(ARTIFACTS / "case_phase2_after_reveal.png"))
        page.locator("[data-viewer]").first.click()  # full screen, then close with Escape
        expect(page.locator("dialog.lightbox")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("dialog.lightbox")).to_be_hidden()
    if number == 2:
        page.set_viewport_size({"width": 820, "height": 1180})
        page.screenshot(path=str(ARTIFACTS / "case_phase2_tablet.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})

    # Phase 2 with the mouse: replace the first diagnosis by the AI's, change management, submit.
    page.get_by_role("button", name="Clear diagnosis 1").click()
    page.locator("#dx-1").type("psor", delay=25)
    page.locator(".combo-option", has_text="Psoriasis").click()
    page.get_by_text("Biopsy / excise", exact=True).click()
    page.get_by_role("button", name="Submit final answer").click()
    if number < 3:
        expect(page.locator(".case-count")).to_have_text(f"Case {number + 1} of 3")
    else:
        page.wait_for_url("**/done/")
