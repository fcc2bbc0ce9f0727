"""Shared by the reader-page browser tests: Chromium with a logged-in reader, console errors collected."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from django.conf import settings
from django.test import Client

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextlib.contextmanager
def reader_browser(chromium_path: str, live_server, user, *, width: int = 1280, height: int = 800):
    """A page logged in as `user` at the given viewport; yields (page, errors)."""
    from playwright.sync_api import sync_playwright

    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": width, "height": height})
        context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": live_server.url}])
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text)
                if msg.type == "error" and "favicon" not in (msg.location or {}).get("url", "")
                and not _expected_http_error(msg.text) else None)
        page.on("dialog", lambda dialog: dialog.accept())  # "leave with unsaved edits?" and the like
        try:
            yield page, errors
        finally:
            browser.close()


def _expected_http_error(text: str) -> bool:
    """The browser's and htmx's console lines for the 4xx/5xx answers a test provokes on purpose."""
    return "the server responded with a status of" in text or text.startswith("Response Status Error Code")


def wait_until(page, predicate, *, what: str, timeout_ms: int = 10_000) -> None:
    """Poll from Python (the page's CSP forbids the eval that wait_for_function needs)."""
    for _ in range(timeout_ms // 100):
        if predicate():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"timed out waiting for {what}")
