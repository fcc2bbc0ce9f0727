"""The documented layouts serve what a reader's browser needs, with DEBUG off.

- Production (`make serve` / deploy/Dockerfile): ``collectstatic`` with STATIC_HASHED=1, then gunicorn
  with PRODUCTION=1 (TLS settings off: this runs on plain loopback HTTP, as behind the TLS proxy).
  A reader logs in in Chromium and opens the case page: htmx, the reader script and the CSS load
  (hashed names, compressed, cached for a year) and the condition search answers.
- Demo (`make demo`): runserver with DEMO=1 answers an unknown URL with the project's 404 page (never
  Django's debug page), serves static files and the favicon.
Both run as real server processes on a seeded SQLite file, so nothing of the test process leaks in.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
from pathlib import Path

import pytest
import requests

from bench import _harness as harness
from bench.pilot import default_env, server

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SLUG = harness.study_slug("demo-sequential", 4, 7)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("production-layout")
    env = default_env(folder)
    harness.seed(env, 4, 1, 7)
    return folder, env


def production_env(folder: Path, env: dict[str, str]) -> dict[str, str]:
    return {**env, "PRODUCTION": "1", "STATIC_HASHED": "1", "STATIC_ROOT": str(folder / "static"),
            "SECRET_KEY": secrets.token_urlsafe(50),
            # plain HTTP on loopback, as the app sees it behind the TLS proxy
            "SECURE_SSL_REDIRECT": "0", "SECURE_HSTS_SECONDS": "0", "SECURE_COOKIES": "0"}


def test_case_page_loads_htmx_and_css_under_production_settings(seeded, chromium_path):
    from playwright.sync_api import expect, sync_playwright

    folder, env = seeded
    prod = production_env(folder, env)
    out = subprocess.run([harness.PYTHON, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=prod,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert (folder / "static" / "staticfiles.json").exists()
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with server("gunicorn", prod, harness.free_port(), folder / "gunicorn.log") as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        static: dict[str, int] = {}
        page.on("response", lambda r: static.__setitem__(r.url, r.status) if "/static/" in r.url else None)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        try:
            page.goto(base + "/accounts/login/")
            page.get_by_label("Username").fill("reader1")
            page.get_by_label("Password").fill(harness.DEMO_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.goto(f"{base}/s/{SLUG}/read/")
            expect(page.locator("form [name=item_id]")).to_have_count(1)
            page.wait_for_load_state("networkidle")
            assert page.evaluate("() => typeof window.htmx") == "object"
            # app.css sets the top bar as a flex row; without the stylesheet it is a block
            assert page.locator(".topbar").evaluate("el => getComputedStyle(el).display") == "flex"
            html = page.content()
        finally:
            browser.close()
        assert errors == [], errors
        loaded = {url.split("/static/", 1)[1]: status for url, status in static.items()}
        assert any(name.startswith("vendor/htmx.min.") for name in loaded), loaded
        assert all(status == 200 for status in loaded.values()), loaded
        # hashed names (collectstatic's manifest), compressed and cached for a year by WhiteNoise
        htmx = re.search(r'src="(/static/vendor/htmx\.min\.[0-9a-f]{12}\.js)"', html).group(1)
        response = requests.get(base + htmx, headers={"Accept-Encoding": "gzip, br"}, timeout=30)
        assert response.status_code == 200
        assert response.headers.get("Content-Encoding") in {"gzip", "br"}
        assert "max-age=315360000" in response.headers["Cache-Control"]


def test_demo_serves_its_own_error_pages_static_files_and_favicon(seeded):
    folder, env = seeded
    makefile = (ROOT / "Makefile").read_text()
    demo_recipe = makefile.split("\ndemo:", 1)[1].split("\n\n", 1)[0]
    assert "DEMO=1" in demo_recipe and "DEBUG=1" not in demo_recipe
    with server("runserver", {**env, "DEMO": "1"}, harness.free_port(), folder / "runserver.log") as base:
        missing = requests.get(base + "/no-such-page/", timeout=30)
        assert missing.status_code == 404
        assert "Page not found" in missing.text and "Readerstudy" in missing.text
        assert "URLconf" not in missing.text and "DEBUG = True" not in missing.text  # Django's debug page
        assert requests.get(base + "/static/vendor/htmx.min.js", timeout=30).status_code == 200
        icon = requests.get(base + "/favicon.ico", timeout=30)
        assert icon.status_code == 200 and icon.headers["Content-Type"].startswith("image/svg")
        api = requests.get(base + "/api/v1/", timeout=30)
        assert api.status_code == 200 and api.json()["schema"].endswith("/api/v1/schema/")
