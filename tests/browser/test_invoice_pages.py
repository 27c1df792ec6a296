"""The invoice pages and the dashboard in Chromium, logged in through the real OIDC provider, on the demo data.

One server with the demo loaded serves the whole module (loading it renders twenty PDFs); the tests
that change data run last and each takes an invoice of its own.
"""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal

import pytest


from ..conftest import TEST_OUTPUT, browser_login, screenshot, serve_demo

pytestmark = [pytest.mark.browser, pytest.mark.postgres, pytest.mark.xdist_group("invoice-pages"),
              pytest.mark.timeout(240)]


@pytest.fixture(scope="module")
def demo_server(backend, db_factory, oidc_provider):
    """The demo loaded as of today, served over HTTP."""
    with serve_demo(db_factory, oidc_provider) as server:
        yield server




def chf(text: str) -> Decimal:
    """1’678.92 → Decimal('1678.92')."""
    return Decimal(re.sub(r"[^0-9.\-]", "", text))


def login(page, server, who, console_errors):
    browser_login(page, server, who)
    console_errors.clear()  # the provider's own page is not ours to judge


def open_receivables(page, server) -> Decimal:
    page.goto(f"{server.url}/")
    return chf(page.locator("#figure-open .value").inner_text())


@pytest.mark.parametrize("who", ["admin", "finance"])
def test_pages_look_finished_for_both_roles(page, demo_server, who, console_errors):
    page.set_viewport_size({"width": 1400, "height": 900})
    login(page, demo_server, who, console_errors)

    page.goto(f"{demo_server.url}/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator("#revenue-chart svg rect").count() >= 3
    assert page.locator("#attention-overdue li").count() >= 1
    screenshot(page, f"invoices-dashboard-{who}")

    page.goto(f"{demo_server.url}/invoices")
    rows = page.locator("#invoice-table tbody tr")
    assert rows.count() >= 18
    screenshot(page, f"invoices-list-{who}")

    # an overdue invoice, with its PDF shown in the page
    page.goto(f"{demo_server.url}/invoices?status=overdue")
    page.locator("#invoice-table tbody tr a").first.click()
    page.wait_for_url(re.compile(r".*/invoices/P[CS]-\d{4}-\d{4}$"))
    assert page.locator("#invoice-state .badge-overdue").count() == 1
    assert page.locator("#mark-paid-title").count() == 1  # both roles may record a payment
    screenshot(page, f"invoices-detail-{who}")
    # The stored PDF is shown in the page (Chromium paints its viewer only inside the viewport).
    pdf_url = page.locator("object.pdf-frame").get_attribute("data")
    pdf = page.request.get(f"{demo_server.url}{pdf_url}")
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf" and pdf.body().startswith(b"%PDF")
    page.locator("object.pdf-frame").scroll_into_view_if_needed()
    page.wait_for_timeout(2500)  # let the viewer draw the first page
    page.screenshot(path=str(TEST_OUTPUT / "screenshots" / f"invoices-detail-pdf-{who}.png"))
    assert console_errors == []


def test_filters_swap_the_table_and_the_csv_has_the_filtered_rows(page, demo_server, console_errors, tmp_path):
    login(page, demo_server, "finance", console_errors)
    page.goto(f"{demo_server.url}/invoices")
    page.select_option("#status", "paid")
    page.wait_for_url("**/invoices?status=paid")
    numbers = page.locator("#invoice-table tbody tr td:first-child").all_inner_texts()
    assert numbers and all(b == "paid" for b in page.locator("#invoice-table tbody .badge").all_inner_texts())
    page.locator(".export-menu summary").click()  # XLSX, CSV for Excel, CSV for machines
    with page.expect_download() as info:
        page.get_by_role("link", name=re.compile(r"CSV for machines \(RFC 4180, comma\): invoices")).click()
    download = info.value
    assert download.suggested_filename == "invoices-paid.csv"
    rows = list(csv.DictReader(io.StringIO(download.path().read_text(encoding="utf-8"), newline="")))
    assert sorted(r["number"] for r in rows) == sorted(n.strip() for n in numbers)
    assert {r["status"] for r in rows} == {"paid"}
    assert console_errors == []


def test_finance_marks_an_invoice_paid_and_receivables_drop_by_its_total(page, demo_server, console_errors):
    login(page, demo_server, "finance", console_errors)
    before = open_receivables(page, demo_server)
    page.goto(f"{demo_server.url}/invoices?status=overdue&sort=due&dir=asc")
    first = page.locator("#invoice-table tbody tr").first
    number = first.locator("td.card-main").inner_text().strip()  # the overdue list starts with a tick box
    total = chf(first.locator("td").last.inner_text())
    first.locator("td.card-main a").click()
    page.wait_for_url(f"**/invoices/{number}")

    page.fill("#reference", "ZKB 2026-11-0815")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=re.compile("^Mark paid")).click()
    page.wait_for_selector(f"text=Invoice {number} is marked paid")
    assert page.locator("#invoice-state .badge-paid").count() == 1
    assert page.locator("#mark-paid-title").count() == 0
    assert "ZKB 2026-11-0815" in page.locator("#invoice-state").inner_text()

    after = open_receivables(page, demo_server)
    assert after == before - total, (before, total, after)
    assert console_errors == []


def test_void_with_a_reason_after_confirming(page, demo_server, console_errors):
    login(page, demo_server, "finance", console_errors)
    page.goto(f"{demo_server.url}/invoices?status=not_due&sort=number&dir=asc")
    link = page.locator("#invoice-table tbody tr a").first
    number = link.inner_text().strip()
    link.click()
    page.wait_for_url(f"**/invoices/{number}")

    page.get_by_text("Void this invoice…").click()
    page.fill("#reason", "Customer cancelled before the service started; credit agreed by phone.")
    dialogs: list[str] = []

    def accept(dialog):
        dialogs.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name=f"Void invoice {number}").click()
    page.wait_for_selector(f"text=Invoice {number} is void")
    assert dialogs and number in dialogs[0]
    assert page.locator("#invoice-state .badge-void").count() == 1
    assert "Customer cancelled before the service started" in page.locator("#invoice-state").inner_text()
    assert page.get_by_text("Void this invoice…").count() == 0
    screenshot(page, "invoices-detail-void")
    assert console_errors == []
