"""The Billing runs page in Chromium: start a run, watch htmx poll its progress until the summary."""

from __future__ import annotations

import pytest

from ..conftest import browser_login, screenshot
from ..peers.smtp import SmtpSink
from .test_runs_page import seed

pytestmark = [pytest.mark.browser, pytest.mark.postgres]


def test_finance_starts_a_run_and_the_page_follows_it_to_the_summary(page, live_server, fresh_db):
    seed(fresh_db.app, orgs=("org-a", "org-b", "org-c"))
    with SmtpSink() as sink:
        fresh_db.app.config.update(sink.config())
        browser_login(page, live_server, "finance")
        page.goto(f"{live_server.url}/runs")
        screenshot(page, "runs-index-empty")
        page.fill("#month", "2026-10")
        dialogs: list[str] = []
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.accept()))
        page.click("#start-real-run")
        page.wait_for_url(f"{live_server.url}/runs/*")
        assert dialogs and "Run for real for 2026-10: issue the invoices of every org with auto-invoicing" in dialogs[0]
        progress = page.locator("#run-progress")
        # htmx swaps the partial every second until the run is done; then the summary appears.
        progress.locator("text=Summary per org").wait_for(timeout=60_000)
        assert "3 / 3" in progress.inner_text()
        assert progress.locator("[hx-trigger]").count() == 0 and page.locator("#run-progress[hx-trigger]").count() == 0
        assert page.locator("td code", has_text="org-c").count() == 1
        assert page.locator("#run-progress a", has_text="0003").get_attribute("href").startswith("/invoices/PC-")
        screenshot(page, "runs-detail-done")
        assert len(sink.messages) == 3
        page.goto(f"{live_server.url}/runs")
        assert page.locator("tbody tr").count() == 1
        screenshot(page, "runs-index")
