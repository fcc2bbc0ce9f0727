"""Traps 1 and 2 in Chromium: a case whose time runs out with nothing entered is submitted exactly
once and the reader moves on; a submit answered 503 is retried by the page with the same
idempotency key and stored once."""

from __future__ import annotations

import datetime as dt
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from readerstudy import models as m
from tests.browser_tests.reader_page import ARTIFACTS, reader_browser, wait_until
from tests.readerstudy_tests.reader_setup import build_study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]

LIMIT_S = 10


def _posts(page, path: str) -> list[dict]:
    """Every form POST to `path` the page sends (their decoded bodies)."""
    sent: list[dict] = []
    page.on("request", lambda r: sent.append(parse_qs(r.post_data or "", keep_blank_values=True))
            if r.method == "POST" and r.url.endswith(path) else None)
    return sent


def test_time_running_out_on_an_empty_case_submits_once_and_moves_on(live_server, chromium_path):
    from playwright.sync_api import expect

    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=2, arm_order=["unaided", "unaided"],
                        settings_={"time_limit_s": LIMIT_S})
    url = f"{live_server.url}/s/{built.study.slug}/read/"
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        posts = _posts(page, "/read/")
        page.goto(url)
        expect(page.locator(".case-count")).to_have_text("Case 1 of 2")
        expect(page.locator("#dx-1")).to_be_focused()  # focus starts in the first diagnosis search
        page.keyboard.type("xq")  # typed, never picked: not a diagnosis
        _time_runs_out(page, built.items[0])
        expect(page.locator(".case-count")).to_have_text("Case 2 of 2", timeout=15_000)
        expect(page.locator(".toast", has_text="Time was up for case 1")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "reader_time_up_next_case.png"))
        page.wait_for_timeout(1500)  # a looping client would have posted again by now
        assert len(posts) == 1, posts
        assert posts[0]["client_timeout"] == ["1"] and posts[0]["item_id"] == [str(built.items[0].pk)]
        expect(page.locator("#dx-1")).to_be_focused()
        expect(page.locator("#dx-1")).to_have_value("")
    assert not errors, errors
    reading = m.Reading.objects.get(schedule_item=built.items[0])
    assert reading.timed_out and reading.differential == []
    assert not m.Reading.objects.filter(schedule_item=built.items[1]).exists()


def test_time_up_answer_refused_is_never_resubmitted_and_keeps_typed_text(live_server, chromium_path):
    """Whatever the server answers to the automatic submit (here a 422, as before the fix), the page
    sends it once and keeps what the reader typed."""
    from playwright.sync_api import expect

    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=2, arm_order=["unaided", "unaided"],
                        settings_={"time_limit_s": LIMIT_S})
    url = f"{live_server.url}/s/{built.study.slug}/read/"
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        posts = _posts(page, "/read/")

        def without_time_up_flag(route):
            # The server accepts every reported timeout; without the flag, an empty answer is a real 422.
            body = route.request.post_data or ""
            route.continue_(post_data=body.replace("client_timeout=1", "client_timeout=0"))

        page.route("**/read/", lambda route: without_time_up_flag(route) if route.request.method == "POST"
                   else route.continue_())
        page.goto(url)
        page.locator("#dx-1").type("melan", delay=20)
        page.locator(".combo-option").first.wait_for()
        page.keyboard.press("Escape")
        _time_runs_out(page, built.items[0])  # for the server too: the form comes back with 00:00
        wait_until(page, lambda: len(posts) >= 1, what="the automatic submit", timeout_ms=8000)
        expect(page.locator("[data-submit-status]")).to_contain_text("Time is up for this case")
        expect(page.locator("[data-time-up]")).to_be_visible()
        page.wait_for_timeout(1500)  # within the server's grace, so it would refuse a resubmit too
        assert len(posts) == 1, posts  # no automatic resubmit after a 4xx
        expect(page.locator("#dx-1")).to_have_value("melan")  # typed text survives the swap
    assert not errors, errors
    assert not m.Reading.objects.exists()


def test_a_503_is_retried_with_the_same_key_and_saved_once(live_server, chromium_path):
    from playwright.sync_api import expect

    built = build_study(design=m.Design.RANDOMISED_BLOCKS, n_cases=2, arm_order=["unaided", "unaided"])
    url = f"{live_server.url}/s/{built.study.slug}/read/"
    with reader_browser(chromium_path, live_server, built.user) as (page, errors):
        posts = _posts(page, "/read/")
        busy = []

        def busy_twice(route):
            if route.request.method != "POST":
                route.continue_()
            elif len(busy) < 2:
                busy.append(1)
                route.fulfill(status=503, headers={"Retry-After": "1"}, content_type="text/html",
                              body="<p>Please try again</p>")
            else:
                route.continue_()

        page.route("**/read/", busy_twice)
        page.goto(url)
        _answer_small_case(page)
        page.keyboard.press("Control+Enter")
        expect(page.locator(".case-count")).to_have_text("Case 2 of 2", timeout=15_000)
        assert len(posts) == 3, posts
        keys = {post["idempotency_key"][0] for post in posts}
        assert len(keys) == 1, keys
    assert not errors, errors
    reading = m.Reading.objects.get(schedule_item=built.items[0])
    assert str(reading.idempotency_key) in keys and m.Reading.objects.count() == 1


def _page_clock_runs_out(page):
    """Move the page's countdown to its end now (the page's own clock; the server's is untouched)."""
    page.evaluate("""() => { const el = document.querySelector('.countdown[data-deadline]');
        el.setAttribute('data-deadline', String(Date.now() + Number(el.getAttribute('data-offset') || 0))); }""")


def _time_runs_out(page, item):
    """The case's time is up for the server and then for the page: as after LIMIT_S seconds, without
    the test depending on how fast the page loads on a busy machine."""
    m.ScheduleItem.objects.filter(pk=item.pk).update(shown_at=timezone.now() - dt.timedelta(seconds=LIMIT_S))
    _page_clock_runs_out(page)


def _answer_small_case(page):
    """Diagnosis, confidence and management with the keyboard (the small test taxonomy)."""
    page.locator("#dx-1").type("melan", delay=20)
    page.locator(".combo-option").first.wait_for()
    page.keyboard.press("Enter")
    page.locator("#dx-2").press("Escape")
    page.keyboard.press("3")
    page.locator('input[name="management"]').first.check()
