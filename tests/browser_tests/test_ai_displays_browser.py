"""The AI displays in Chromium: an on-request similar-cases arm (the panel absent until "Show AI",
fetched by htmx; a thumbnail opens the enlarged view beside the study case; Escape closes it; the
form carries when AI was opened and which thumbnails), and the malignancy gauge's hooks, all
without console errors (CSP: the scripts are static files)."""

from __future__ import annotations

import pytest

from readerstudy import models as m
from tests.browser_tests.reader_page import reader_browser, wait_until
from tests.readerstudy_tests.display_setup import build_display_study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_on_request_gallery_opens_and_records(live_server, chromium_path):
    from playwright.sync_api import expect

    built = build_display_study(design=m.Design.RANDOMISED_BLOCKS, display="similar_cases",
                                assist={"on_request": True, "knn_vote": True}, arm_order=["ai", "unaided"])
    images = built.extra["library_images"]
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        page.goto(f"{live_server.url}/s/{built.study.slug}/read/")
        expect(page.locator("[data-ai-panel]")).to_have_count(0)
        page.locator("button[data-show-ai]").click()
        page.locator('[data-ai-display="similar_cases"]').wait_for()
        expect(page.locator("[data-neighbour]")).to_have_count(12)
        assert page.locator("#answer-form [name=ai_opened_at]").input_value().isdigit()
        first = page.locator("[data-neighbour]").first
        first.focus()
        page.keyboard.press("Enter")
        view = page.locator("[data-neighbour-view]")
        wait_until(page, lambda: view.get_attribute("open") is not None, what="the enlarged view")
        assert f"/library/{images[0].pk}/" in (view.locator("[data-view-neighbour]").get_attribute("src") or "")
        assert "/image/" in (view.locator("[data-view-case]").get_attribute("src") or "")
        page.keyboard.press("Escape")
        wait_until(page, lambda: view.get_attribute("open") is None, what="the view to close")
        opened = page.locator("#answer-form [name=opened_neighbour]")
        assert [opened.nth(i).input_value() for i in range(opened.count())] == [str(images[0].pk)]
        assert not errors, errors


def test_malignancy_gauge_hooks(live_server, chromium_path):
    from playwright.sync_api import expect

    built = build_display_study(design=m.Design.RANDOMISED_BLOCKS, display="malignancy", assist={"threshold": 0.8},
                                arm_order=["ai", "unaided"])
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        page.goto(f"{live_server.url}/s/{built.study.slug}/read/")
        expect(page.locator("[data-gauge-value]")).to_have_attribute("data-gauge-value", "0.7345")
        expect(page.locator("[data-gauge-threshold]")).to_have_attribute("data-gauge-threshold", "0.8")
        expect(page.locator("[data-gauge-flag]")).to_have_text("Benign")
        expect(page.locator(".ai-list")).to_have_count(0)  # the gauge replaces the differential
        assert not errors, errors
