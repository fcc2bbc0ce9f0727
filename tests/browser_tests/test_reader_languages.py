"""Issue 15's done-when in Chromium: a reader reads a case in Chinese and one in Spanish.

Each language: the page's labels are translated (the shipped catalogues), the AI panel names the
conditions in that language, the diagnosis search in that language picks the right code (Chinese
typed without spaces, Spanish without accents) and the management options are labelled in it; the
stored reading holds the codes, never the translated words.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from catalog.services.taxonomy import default_taxonomy
from readerstudy import models as m
from tests.browser_tests.reader_page import ARTIFACTS, reader_browser, wait_until
from tests.readerstudy_tests.reader_setup import build_study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

AI_TOP = (("PSO", 0.71), ("AD", 0.18), ("SK", 0.05))
CASES = {
    # language: (submit label, case counter, AI panel names, query, the option picked, code, management label)
    "zh-hans": ("提交答案", "第 1 例，共 1 例", ["银屑病", "特应性皮炎", "脂溢性角化病"],
                "色素瘤", "黑色素瘤", "MEL", "转诊"),
    "es": ("Enviar respuesta", "Caso 1 de 1", ["Psoriasis", "Dermatitis atópica", "Queratosis seborreica"],
           "queratosis actinica", "Queratosis actínica", "AK", "Derivar al especialista"),
}


@pytest.mark.parametrize("language", list(CASES))
def test_reader_reads_a_case_in_their_language(live_server, chromium_path, language):
    from playwright.sync_api import expect

    submit, counter, ai_names, query, option, code, management = CASES[language]
    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=1, arm_order=["ai"],
                        taxonomy=default_taxonomy(), ai_top=AI_TOP)
    url = f"{live_server.url}/s/{built.study.slug}/read/"
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": language,
                                   "url": live_server.url}])
        page.goto(url)
        # Labels from the catalogues.
        expect(page.locator(".case-count")).to_have_text(counter)
        expect(page.get_by_role("button", name=submit)).to_be_visible()
        # The AI panel in the reader's language.
        expect(page.locator("[data-ai-panel] .ai-name")).to_have_text(ai_names)
        # The search in that language picks the right condition, shown in that language.
        page.locator("#dx-1").type(query, delay=15)
        first = page.locator(".combo-list:not([hidden]) .combo-option .combo-name").first
        expect(first).to_have_text(option)
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        expect(page.locator("#dx-1")).to_have_value(option)
        # English still works on the same page (the other box).
        page.locator("#dx-2").type("psoriasis", delay=15)
        expect(page.locator(".combo-list:not([hidden]) .combo-option .combo-name").first).to_have_text(ai_names[0])
        page.keyboard.press("ArrowDown")
        page.keyboard.press("Enter")
        # Management labelled in the reader's language; its code is what is sent.
        pill = page.locator(".management .pill", has_text=management)
        expect(pill).to_have_count(1)
        expect(pill.locator('input[name="management"]')).to_have_attribute("value", "refer")
        pill.click()
        page.locator('input[name="confidence"][value="4"]').check(force=True)
        page.screenshot(path=str(ARTIFACTS / f"reader_case_{language}.png"))
        page.get_by_role("button", name=submit).click()
        wait_until(page, lambda: m.Reading.objects.filter(schedule_item=built.items[0]).exists(),
                   what="the reading to be stored")
    assert not errors, errors
    reading = m.Reading.objects.get(schedule_item=built.items[0])
    assert reading.differential == [code, "PSO"]
    assert (reading.confidence, reading.management) == (4, "refer")
