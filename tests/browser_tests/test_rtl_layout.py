"""Right-to-left: the case page in a pseudo-Arabic catalogue, in Chromium.

No Arabic catalogue ships; the test builds one (every msgid of the shipped catalogues, its Latin
letters swapped for Arabic ones, placeholders and tags kept) into a temporary LOCALE_PATHS entry and
adds ``ar`` to LANGUAGES. The page must say dir="rtl", show the action bar and Submit inside the
viewport, and have no horizontal overflow, at desktop and phone width.
"""

from __future__ import annotations

import importlib.util
import re
import struct
import sys

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from readerstudy import models as m
from tests.browser_tests.reader_page import ARTIFACTS, reader_browser
from tests.readerstudy_tests.reader_setup import build_study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

LATIN = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
ARABIC = "ابتثجحخدذرزسشصضطظعغفقكلمنهوي" * 2
KEEP = re.compile(r"(%\(\w+\)s|%%|<[^>]*>|&\w+;)")


def pseudo_arabic(text: str) -> str:
    table = str.maketrans(LATIN, ARABIC[:len(LATIN)])
    return "".join(part if KEEP.fullmatch(part) else part.translate(table) for part in KEEP.split(text))


def _fill_po():
    spec = importlib.util.spec_from_file_location("fill_po", settings.BASE_DIR / "scripts" / "fill_po.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fill_po"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def arabic_locale(tmp_path):
    fill_po = _fill_po()
    folder = tmp_path / "ar" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    for domain in ("django", "djangojs"):
        entries = fill_po.read_po(settings.BASE_DIR / "locale" / "es" / "LC_MESSAGES" / f"{domain}.po")
        for entry in entries:
            if entry.msgid == "":
                entry.msgstr = ["Content-Type: text/plain; charset=UTF-8\nLanguage: ar\n"
                                "Plural-Forms: nplurals=2; plural=(n != 1);\n"]
            elif entry.msgid_plural is not None:
                entry.msgstr = [pseudo_arabic(entry.msgid), pseudo_arabic(entry.msgid_plural)]
            else:
                entry.msgstr = [pseudo_arabic(entry.msgid)]
            entry.clear_fuzzy()
        write_mo(folder / f"{domain}.mo", entries)
    with override_settings(LANGUAGES=[*settings.LANGUAGES, ("ar", "العربية")],
                           LOCALE_PATHS=[tmp_path, *settings.LOCALE_PATHS]):
        _reset_translations()
        yield "ar"
    _reset_translations()


def write_mo(path, entries) -> None:
    """A GNU .mo catalogue (the format msgfmt writes, without its optional hash table), so the test
    needs no gettext tools."""
    catalogue = {}
    for entry in entries:
        key = entry.msgid if entry.msgid_plural is None else f"{entry.msgid}\0{entry.msgid_plural}"
        catalogue[key.encode()] = "\0".join(entry.msgstr).encode()
    keys = sorted(catalogue)
    ids = b"".join(k + b"\0" for k in keys)
    strs = b"".join(catalogue[k] + b"\0" for k in keys)
    start = 7 * 4 + 16 * len(keys)  # header, then both offset tables
    id_table, str_table, at = [], [], 0
    for k in keys:
        id_table += [len(k), start + at]
        at += len(k) + 1
    at = 0
    for k in keys:
        str_table += [len(catalogue[k]), start + len(ids) + at]
        at += len(catalogue[k]) + 1
    header = struct.pack("<7I", 0x950412DE, 0, len(keys), 28, 28 + 8 * len(keys), 0, 0)
    path.write_bytes(header + struct.pack(f"<{len(id_table)}I", *id_table)
                     + struct.pack(f"<{len(str_table)}I", *str_table) + ids + strs)


def _reset_translations() -> None:
    from django.utils.translation import trans_real

    trans_real._translations = {}
    for name in ("get_languages", "check_for_language", "get_supported_language_variant"):
        cached = getattr(trans_real, name)
        if hasattr(cached, "cache_clear"):
            cached.cache_clear()


def test_pseudo_arabic_keeps_placeholders_and_tags():
    text = pseudo_arabic('Case %(n)s <span class="muted">of %(total)s</span> 5%%')
    assert "%(n)s" in text and "%(total)s" in text and '<span class="muted">' in text and text.endswith("5%%")
    assert not re.search(r"[A-Za-z]", KEEP.sub("", text))


def _inside_viewport(page, locator) -> bool:
    box = locator.bounding_box()
    viewport = page.viewport_size
    return bool(box) and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= viewport["width"] + 1 \
        and box["y"] + box["height"] <= viewport["height"] + 1


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_case_page_right_to_left_layout_holds(live_server, chromium_path, arabic_locale, width, height):
    from playwright.sync_api import expect

    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=2, arm_order=["ai", "unaided"], images=True)
    with translation.override("ar"):
        submit_label = translation.gettext("Submit answer")
    assert submit_label != "Submit answer"  # the pseudo catalogue is in use
    with reader_browser(chromium_path, live_server, built.user, width=width, height=height) as (page, errors):
        page.context.add_cookies([{"name": settings.LANGUAGE_COOKIE_NAME, "value": "ar", "url": live_server.url}])
        page.goto(f"{live_server.url}/s/{built.study.slug}/read/")
        html = page.locator("html")
        expect(html).to_have_attribute("dir", "rtl")
        expect(html).to_have_attribute("lang", "ar")
        submit = page.locator("[data-submit]")
        expect(submit).to_have_text(submit_label)
        if width < 700:  # phone: the page scrolls; the bar is reached by scrolling, never cut off
            submit.scroll_into_view_if_needed()
        assert _inside_viewport(page, page.locator("[data-action-bar]")), "action bar outside the viewport"
        assert _inside_viewport(page, submit), "Submit outside the viewport"
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        wide = page.evaluate("""() => Array.from(document.querySelectorAll('body *')).filter(el => {
            const r = el.getBoundingClientRect(); return r.width && (r.left < -1 || r.right > innerWidth + 1); })
            .slice(0, 5).map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().left)
            + '..' + Math.round(el.getBoundingClientRect().right))""")
        assert overflow <= 1, f"horizontal overflow of {overflow}px in right-to-left layout: {wide}"
        # The AI panel's accent border is on the reading side's start: the right in RTL.
        panel = page.locator(".ai-panel")
        if panel.count():
            right = panel.evaluate("el => getComputedStyle(el).borderRightWidth")
            assert right == "4px", f"AI panel border not mirrored: border-right {right}"
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"case-rtl-{width}.png"))
        assert not errors, errors
