"""The case page at 1280 x 800 and with the keyboard, in Chromium, on the shipped taxonomy.

One reader, a randomised-blocks study (case 1 unaided, cases 2-3 with AI) asking for a malignancy
score: the layout (Submit always in view, no empty AI box, images as wide as the stage allows), the
search (a typo, own-name ranking, the first match on ArrowDown, "Other / not listed" with its text),
the shortcuts (?, digits, management letters, slider steps of 5, Enter to Submit), errors that
disappear as soon as their field is fixed, the notices between cases, a draft restored after
"Save and exit", the instructions reopened from the case page, and the AI panel at phone width.
"""

from __future__ import annotations

import pytest

from catalog.services.taxonomy import default_taxonomy
from readerstudy import models as m
from tests.browser_tests.reader_page import ARTIFACTS, reader_browser
from tests.readerstudy_tests.reader_setup import build_study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

AI_TOP = (("PSO", 0.71), ("AD", 0.18), ("SK", 0.05))


@pytest.fixture
def blocks_study(db):
    return build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=3, arm_order=["unaided", "ai", "ai"],
                       settings_={"ask_malignancy": True}, images=True, taxonomy=default_taxonomy(), ai_top=AI_TOP)


def _options(page):
    page.locator(".combo-list:not([hidden]) .combo-option").first.wait_for()
    return page.locator(".combo-list:not([hidden]) .combo-option .combo-name").all_text_contents()


def _visible_at(page, locator) -> bool:
    """The element is inside the viewport and nothing covers its centre."""
    box = locator.bounding_box()
    viewport = page.viewport_size
    if not box or box["y"] < 0 or box["y"] + box["height"] > viewport["height"]:
        return False
    return locator.evaluate("""el => { const r = el.getBoundingClientRect();
        const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
        return hit === el || el.contains(hit); }""")


def test_case_page_layout_keyboard_search_and_notices(live_server, chromium_path, blocks_study):
    from playwright.sync_api import expect

    built = blocks_study
    url = f"{live_server.url}/s/{built.study.slug}/read/"
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        page.goto(url)
        expect(page.locator(".case-count")).to_have_text("Case 1 of 3")
        # Layout: focus in the first search; no AI box in an unaided arm; Submit in view; big images.
        expect(page.locator("#dx-1")).to_be_focused()
        expect(page.locator(".ai-panel")).to_have_count(0)
        submit = page.get_by_role("button", name="Submit answer")
        assert _visible_at(page, submit)
        widths = [page.locator(".viewer").nth(i).bounding_box()["width"] for i in range(2)]
        assert min(widths) >= 400, widths
        page.screenshot(path=str(ARTIFACTS / "reader_case_1280_unaided.png"))

        # Errors: submitting nothing marks each field and lists them at the action bar.
        page.keyboard.press("Control+Enter")
        expect(page.locator('[data-field="differential"] .error')).to_be_visible()
        bar = page.locator("[data-bar-errors]")
        expect(bar).to_contain_text("Diagnosis")
        expect(bar).to_contain_text("Confidence")
        assert _visible_at(page, page.get_by_role("button", name="Submit answer"))

        # Search: a typo finds eczema; own-name matches first; ArrowDown goes to the first match.
        page.locator("#dx-1").type("ekzema", delay=15)
        options = _options(page)
        assert options[0] == "Atopic dermatitis" and "Discoid eczema" in options, options
        assert options[-1] == "Other / not listed"
        page.locator("#dx-1").fill("")
        page.locator("#dx-1").type("naevus", delay=15)
        assert _options(page)[0] == "Melanocytic naevus"
        page.keyboard.press("ArrowDown")
        expect(page.locator("#dx-list-1 .combo-option").first).to_have_attribute("aria-selected", "true")
        page.keyboard.press("Enter")
        expect(page.locator("#dx-1")).to_have_value("Melanocytic naevus")
        # The diagnosis error goes as soon as the field is fixed, at the field and at the bar.
        expect(page.locator('[data-field="differential"] .error')).to_have_count(0)
        expect(bar).not_to_contain_text("Diagnosis")
        expect(bar).to_contain_text("Confidence")

        # "Other / not listed" with its own words, then Enter moves on.
        expect(page.locator("#dx-2")).to_be_focused()
        page.keyboard.type("lichen striatus variant", delay=10)
        options = _options(page)
        assert options == ["Other / not listed"], options
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        other = page.get_by_label("Diagnosis not in the list")
        expect(other).to_be_focused()
        other.type("Lichen striatus, atypical", delay=10)
        page.keyboard.press("Enter")
        expect(page.locator('input[name="confidence"]').first).to_be_focused()

        # ? shows the shortcuts; digits set confidence; a letter picks the management; the slider
        # moves in steps of 5; Enter on the last question goes to Submit.
        page.keyboard.press("?")
        expect(page.locator("#shortcuts-dialog")).to_be_visible()
        page.keyboard.press("Escape")
        expect(page.locator("#shortcuts-dialog")).to_be_hidden()
        page.keyboard.press("3")
        expect(page.locator('input[name="confidence"][value="3"]')).to_be_checked()
        expect(page.locator(".management .pill-key").nth(3)).to_have_text("B")
        page.keyboard.press("b")
        expect(page.locator('input[name="management"][value="biopsy_excise"]')).to_be_checked()
        expect(bar).to_have_text("Still to fix:Probability of malignancy")
        slider = page.locator("#malignancy-range")
        slider.focus()
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowRight")
        expect(page.locator('input[name="malignancy"]')).to_have_value("60")
        page.keyboard.press("ArrowLeft")
        expect(page.locator('input[name="malignancy"]')).to_have_value("55")
        expect(bar).to_be_hidden()
        page.keyboard.press("Enter")
        expect(page.get_by_role("button", name="Submit answer")).to_be_focused()
        page.keyboard.press("Enter")

        # Case 2: a notice for the saved case and for the AI switching on; focus back in the search.
        expect(page.locator(".case-count")).to_have_text("Case 2 of 3")
        expect(page.locator(".toast", has_text="Case 1 saved")).to_be_visible()
        expect(page.locator("[data-ai-change]")).to_contain_text("an AI suggestion is shown")
        expect(page.locator("#dx-1")).to_be_focused()
        expect(page.locator("[data-ai-panel]")).to_be_visible()
        assert _visible_at(page, page.get_by_role("button", name="Submit answer"))
        page.screenshot(path=str(ARTIFACTS / "reader_case_1280_ai.png"))

        # The instructions open again from the case page.
        page.get_by_role("button", name="Instructions").click()
        expect(page.locator("#instructions-dialog")).to_contain_text("in some blocks an AI suggestion is shown")
        page.keyboard.press("Escape")

        # Phone width: the AI panel keeps the condition names readable.
        page.set_viewport_size({"width": 390, "height": 844})
        name = page.locator("[data-ai-panel] .ai-name").first
        expect(name).to_have_text("Psoriasis")
        assert name.bounding_box()["width"] >= 100
        assert name.evaluate("el => el.scrollWidth <= el.clientWidth + 1")  # not cut off
        page.screenshot(path=str(ARTIFACTS / "reader_case_phone_ai.png"), full_page=True)
        page.set_viewport_size({"width": 1280, "height": 800})
    assert not errors, errors

    reading = m.Reading.objects.get(schedule_item=built.items[0])
    assert reading.differential == ["NEV", "OTHER"] and reading.other_text == "Lichen striatus, atypical"
    assert (reading.confidence, reading.management, reading.malignancy_score) == (3, "biopsy_excise", 55)


def test_save_and_exit_keeps_a_draft_that_comes_back(live_server, chromium_path, blocks_study):
    from playwright.sync_api import expect

    built = blocks_study
    url = f"{live_server.url}/s/{built.study.slug}/read/"
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        page.goto(url)
        page.locator("#dx-1").type("psoria", delay=15)
        _options(page)
        page.keyboard.press("Enter")
        page.keyboard.press("Escape")
        page.keyboard.press("4")
        page.get_by_role("link", name="Save and exit").click()
        page.wait_for_url(f"{live_server.url}/")
        assert not m.Reading.objects.exists()  # a draft is never a reading
        page.goto(url)
        expect(page.locator("#dx-1")).to_have_value("Psoriasis")
        expect(page.locator('input[name="confidence"][value="4"]')).to_be_checked()

        # Unsaved edits warn before leaving (the test accepts the dialog).
        warned = []
        page.on("dialog", lambda dialog: warned.append(dialog.type))
        page.locator('input[name="confidence"][value="2"]').check(force=True)
        page.goto(f"{live_server.url}/")
        assert warned == ["beforeunload"], warned
    assert not errors, errors
