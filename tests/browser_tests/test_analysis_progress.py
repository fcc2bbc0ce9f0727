"""Statistician in Chromium on the zero-setup setup (no broker, eager Celery): "Run analysis" returns at
once, the results page shows the run's progress (no "Analysis started" beside "Done"), and the results
appear by themselves when the run ends."""

from __future__ import annotations

import threading
import time

import pytest

from readerstudy.models import AnalysisRun
from readerstudy.services import analysis_runs
from tests.browser_tests.reader_page import ARTIFACTS, reader_browser
from tests.readerstudy_tests.test_analysis_results_page import _study

pytestmark = [pytest.mark.browser, pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_run_analysis_returns_at_once_and_the_page_shows_progress(live_server, chromium_path, monkeypatch, settings):
    from playwright.sync_api import expect

    settings.ANALYSIS_EAGER_THREAD = True  # as in `make demo`
    study, coordinator = _study()
    release = threading.Event()
    real_perform = analysis_runs.analysis_run_perform

    def held_perform(*, run_id):  # the analysis waits until the test has looked at the page
        release.wait(30)
        real_perform(run_id=run_id)

    monkeypatch.setattr(analysis_runs, "analysis_run_perform", held_perform)
    with reader_browser(chromium_path, live_server, coordinator) as (page, errors):
        page.goto(f"{live_server.url}/studies/{study.slug}/analysis/")
        page.select_option("#id_kind", "compare")
        started = time.monotonic()
        page.get_by_role("button", name="Run analysis").click()
        page.wait_for_url("**/analysis/*/")
        assert time.monotonic() - started < 5  # the request did not wait for the analysis
        expect(page.locator("#run-status .badge")).to_have_text("Pending")
        expect(page.locator("#run-status")).to_contain_text("working")
        expect(page.get_by_role("progressbar")).to_be_visible()
        assert "Analysis started" not in page.content()
        page.screenshot(path=str(ARTIFACTS / "analysis_in_progress.png"))
        release.set()
        expect(page.get_by_role("heading", name="Headline results")).to_be_visible(timeout=60_000)
        expect(page.locator("#run-status .badge")).to_have_text("Done")
        assert "Analysis started" not in page.content() and "working" not in page.locator("#run-status").inner_text()
        page.screenshot(path=str(ARTIFACTS / "analysis_done.png"), full_page=True)
    assert not errors, errors
    assert AnalysisRun.objects.get(study=study).status == "done"
