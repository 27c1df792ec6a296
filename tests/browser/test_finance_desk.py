"""The finance desk's daily work in Chromium, at a desktop width (1400 px) and a phone (390 px).

Each test pins the app's clock to 10.12.2026 (noon in Zurich), so it passes on any day: October's
invoices (issued 01.11.2026, due 01.12.2026) are nine days overdue and level 1 of the reminders is due
(due + 7). axe-core runs on every page a test opens: no serious or critical violation. Screenshots
land in test-output/screenshots/finance-desk/.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, Invoice

from ..conftest import TEST_OUTPUT, browser_login
from ..factories import make_org, make_tenant, set_pricing, zurich
from ..peers.bexio_fake import BexioFake
from ..peers.smtp import SmtpSink
from ..reminders.data import issued_invoice, ready_default_entity
from .axe import assert_no_serious_axe

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

WIDTHS = [1400, 390]
WIDER_THAN_SCREEN = """() => [...document.querySelectorAll('main *')]
  .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1).slice(0, 5)
  .map(el => el.tagName + '.' + el.className)"""
ISO_OR_US_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b|\b\d{1,2}/\d{1,2}/\d{4}\b")


@pytest.fixture(autouse=True)
def tenth_of_december():
    with clock.pinned("2026-12-10"):
        yield


@pytest.fixture(params=WIDTHS, ids=lambda w: f"{w}px")
def width(request, page):
    page.set_viewport_size({"width": request.param, "height": 900})
    return request.param


@pytest.fixture
def dialogs(page):
    """Every confirm() the page asks, accepted."""
    seen: list[str] = []
    page.on("dialog", lambda d: (seen.append(d.message), d.accept()))
    return seen


def shot(page, name: str, width: int) -> None:
    folder = TEST_OUTPUT / "screenshots" / "finance-desk"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)


def check_page(page, name: str, width: int) -> None:
    """What every page must hold: axe clean, dates as dd.mm.yyyy, nothing off-screen at phone width."""
    page.wait_for_load_state("networkidle")
    assert_no_serious_axe(page, name)
    text = page.locator("main").inner_text()
    assert ISO_OR_US_DATE.findall(text) == [], (name, ISO_OR_US_DATE.findall(text))
    overflow = page.evaluate("() => document.documentElement.scrollWidth")
    assert overflow <= width + 1, (name, overflow, page.evaluate(WIDER_THAN_SCREEN))
    shot(page, name, width)


def _seed(app, *, orgs=(), no_email=(), overdue=()) -> None:
    with app.app_context():
        ready_default_entity()
        set_pricing(tenant_monthly_fee_chf="49.00", vat_rate_chli="8.10")
        for org_id in orgs:
            make_org(org_id, auto_invoice_enabled=True, billing_email=None if org_id in no_email else f"billing@{org_id}.example")
            make_tenant(f"{org_id}-main", org_id, zurich(2026, 9, 1))
        db.session.commit()
        for org_id in overdue:
            issued_invoice(org_id)
        db.session.remove()


# --------------------------------------------------------------------------- the shell


def test_skip_link_menu_and_invoice_cards(page, live_server, fresh_db, width):
    _seed(fresh_db.app, overdue=("org-acme", "org-bern"))
    browser_login(page, live_server, "finance")
    page.goto(f"{live_server.url}/invoices")
    check_page(page, "invoices", width)

    # The first Tab lands on the skip link; following it puts the focus in the main content.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    assert page.locator(".skip-link").is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"

    toggle = page.locator(".nav-toggle")
    logout = page.locator("text=Log out")
    if width < 600:
        # The nav folds behind Menu; opened, every item and Log out are on screen.
        assert toggle.is_visible() and not logout.is_visible()
        toggle.click()
        assert toggle.get_attribute("aria-expanded") == "true"
        assert logout.is_visible() and page.locator(".main-nav a", has_text="Runs").is_visible()
        box = logout.bounding_box()
        assert box["x"] + box["width"] <= width
        assert_no_serious_axe(page, "menu open")
        shot(page, "menu-open", width)
        # Invoice rows are cards: the number on one line, status and total on screen.
        number = page.locator("table.invoice-list tbody tr").first.locator("td.card-main")
        assert number.bounding_box()["height"] < 30
        total = page.locator("table.invoice-list tbody tr").first.locator("td[data-label=Total]")
        assert total.bounding_box()["x"] + total.bounding_box()["width"] <= width
    else:
        assert not toggle.is_visible() and logout.is_visible()


def test_the_dashboard_chart_links_bars_without_nesting_them_in_an_image(page, live_server, fresh_db, width):
    _seed(fresh_db.app, overdue=("org-acme",))
    browser_login(page, live_server, "admin")
    page.goto(f"{live_server.url}/")
    assert page.locator("#revenue-chart svg[role=img]").count() == 0
    check_page(page, "dashboard", width)


# --------------------------------------------------------------------------- billing runs


def test_a_run_dry_first_then_for_real_one_confirm_per_click_and_a_missing_address_is_a_warning(
        page, live_server, fresh_db, width, dialogs):
    _seed(fresh_db.app, orgs=("org-alpen", "org-nomail"), no_email=("org-nomail",))
    with SmtpSink() as sink:
        fresh_db.app.config.update(sink.config())
        browser_login(page, live_server, "finance")
        page.goto(f"{live_server.url}/runs")
        check_page(page, "runs-index", width)
        page.fill("#month", "2026-11")
        page.dblclick("#start-dry-run")  # a double click: one question, one run
        page.wait_for_url(f"{live_server.url}/runs/*")
        assert len(dialogs) == 1, dialogs
        assert dialogs[0].startswith("Dry run for 2026-11:") and "Nothing is issued" in dialogs[0]
        page.locator("#run-progress >> text=Summary per org").wait_for(timeout=60_000)
        assert page.locator("#run-progress .badge", has_text="would issue").count() == 2
        real = page.locator("#run-for-real")
        assert real.inner_text() == "Run November 2026 for real"
        check_page(page, "run-dry", width)

        real.dblclick()
        page.wait_for_url(re.compile(r".*/runs/\d+$"))
        page.locator("#run-progress >> text=Summary per org").wait_for(timeout=60_000)
        assert len(dialogs) == 2, dialogs
        # Two orgs, one tenant each for all of November: 49.00 + 3.97 VAT = 52.97 each, 105.94 in all.
        assert dialogs[1].startswith("Run for real for November 2026 (2026-11): issue the invoices of every org "
                                     "with auto-invoicing (2 found by this dry run, total CHF 105.94)")
        with fresh_db.app.app_context():
            numbers = dict(db.session.execute(sa.select(Invoice.zitadel_org_id, Invoice.number)).all())
            db.session.remove()
        assert sorted(numbers) == ["org-alpen", "org-nomail"]  # issued once each, despite the double click
        progress = page.locator("#run-progress")
        # The org without an address: issued, not e-mailed, a warning with its invoice linked; not failed.
        assert progress.locator("[data-testid=orgs-failed]").inner_text() == "0"
        assert progress.locator("[data-testid=not-emailed]").inner_text() == "1"
        row = progress.locator("tr", has=page.locator("code", has_text="org-nomail"))
        assert row.locator(".badge").inner_text() == "issued, not e-mailed"
        assert "badge-warn" in row.locator(".badge").get_attribute("class")
        link = row.locator(".not-emailed a")
        assert link.inner_text() == numbers["org-nomail"]
        assert link.get_attribute("href") == f"/invoices/{numbers['org-nomail']}"
        assert row.locator("a", has=page.locator("code")).get_attribute("href") == "/orgs/org-nomail"
        assert page.locator("#run-for-real").count() == 0
        check_page(page, "run-real", width)
        assert len(sink.messages) == 1

        page.goto(f"{live_server.url}/")
        body = page.locator("main").inner_text()
        assert "could not invoice" not in body
        assert "issued 1 invoice it could not e-mail" in body
        check_page(page, "dashboard-after-run", width)


# --------------------------------------------------------------------------- issuing by hand


def test_issue_by_hand_states_the_amount_and_e_mails_the_invoice(page, live_server, fresh_db, width, dialogs):
    _seed(fresh_db.app, orgs=("org-alpen",))
    with SmtpSink() as sink:
        fresh_db.app.config.update(sink.config())
        browser_login(page, live_server, "admin")
        page.goto(f"{live_server.url}/orgs/org-alpen")
        # December is not over: billed to today, as the tenant page does (10 of 31 days).
        page.fill("#month", "2026-12")
        page.click("#invoice-preview button:has-text('Preview')")
        warning = page.locator(".month-so-far")
        warning.wait_for()
        assert "bills it so far, to today (10.12.2026 12:00), as the tenant page does" in warning.inner_text()
        check_page(page, "org-preview-december", width)
        preview_net = page.locator(".draft-lines tfoot tr").first.locator("td").inner_text()
        preview_days = page.locator(".draft-lines tbody tr").first.locator("td").nth(2).inner_text()
        page.goto(f"{live_server.url}/tenants/org-alpen-main")
        assert "10.12.2026" in page.locator("#tenant-charges").inner_text()
        # The same days and the same amount on both pages: 10 of 31 days of 49.00 = 15.81.
        assert page.locator("#charges-net").inner_text() == preview_net == "15.81"
        assert page.locator("#tenant-charges tbody tr").first.locator("td").nth(1).inner_text() == preview_days
        page.goto(f"{live_server.url}/orgs/org-alpen")
        # November: 49.00 + VAT 8.1 % 3.97 = 52.97.
        page.fill("#month", "2026-11")
        page.click("#invoice-preview button:has-text('Preview')")
        issue = page.locator(".issue-form button[type=submit]")
        issue.wait_for()
        assert issue.inner_text() == "Issue 1 invoice for November 2026 · CHF 52.97"
        email = page.locator(".email-choice")
        assert email.inner_text().strip() == "E-mail the invoice to billing@org-alpen.example"
        assert email.locator("input").is_checked()
        check_page(page, "org-before-issue", width)
        issue.click()
        result = page.locator(".email-result")
        result.wait_for()
        assert dialogs == ["Issue 1 invoice for November 2026, total CHF 52.97? An issued invoice cannot be changed, "
                           "only voided."]
        assert re.fullmatch(r"PC-2026-\d{4} e-mailed to billing@org-alpen\.example\.", result.inner_text().strip())
        assert len(sink.messages) == 1
        check_page(page, "org-issued-emailed", width)


# --------------------------------------------------------------------------- reminders


def test_reminders_name_their_level_refresh_the_timeline_and_go_out_for_several(
        page, live_server, fresh_db, width, dialogs):
    _seed(fresh_db.app, overdue=("org-acme", "org-bern", "org-chur"))
    with fresh_db.app.app_context():
        numbers = db.session.execute(sa.select(Invoice.number).order_by(Invoice.number)).scalars().all()
        db.session.remove()
    with SmtpSink() as sink:
        fresh_db.app.config.update(sink.config())
        browser_login(page, live_server, "finance")
        page.goto(f"{live_server.url}/invoices/{numbers[0]}")
        button = page.locator("#send-reminder")
        assert button.inner_text() == "Send level 1 (payment reminder) now"
        assert "level 1 (payment reminder) is due" in page.locator("#invoice-reminders").inner_text()
        check_page(page, "invoice-reminder-due", width)
        before = page.locator("#invoice-timeline li").count()
        button.click()
        page.locator("#invoice-reminders .flash-success").wait_for()
        # The timeline gains the reminder without a reload.
        page.wait_for_function(f"() => document.querySelectorAll('#invoice-timeline li').length > {before}")
        assert "reminder" in page.locator("#invoice-timeline li").last.inner_text().lower()
        assert page.locator("#send-reminder").inner_text() == "Send level 2 (second reminder) now"
        assert dialogs[0] == f"Send the payment reminder (level 1) for {numbers[0]} of CHF 52.97 by e-mail now?"
        check_page(page, "invoice-reminder-sent", width)

        page.goto(f"{live_server.url}/invoices?status=overdue")
        rows = page.locator("table.invoice-list tbody tr")
        assert rows.count() == 3
        first = rows.filter(has=page.locator(f"a:has-text('{numbers[0]}')"))
        assert first.locator(".last-reminder").inner_text() == "level 1 · 10.12.2026"
        check_page(page, "overdue-list", width)
        for number in numbers[1:]:
            page.check(f"input[name=number][value='{number}']")
        page.click("#send-reminders")
        page.locator(".flash-success").wait_for()
        flash = page.locator(".flash-success").inner_text()
        assert all(f"{n} level 1 (payment reminder)" in flash for n in numbers[1:]), flash
        assert len(sink.messages) == 3
        assert [r.locator(".last-reminder").inner_text() for r in page.locator("table.invoice-list tbody tr").all()] == [
            "level 1 · 10.12.2026"] * 3
        check_page(page, "overdue-list-reminded", width)


# --------------------------------------------------------------------------- org config and history


def test_switching_to_card_warns_and_the_change_shows_in_the_history(page, live_server, fresh_db, width):
    _seed(fresh_db.app, orgs=("org-alpen",))
    browser_login(page, live_server, "admin")
    page.goto(f"{live_server.url}/orgs/org-alpen")
    warning = page.locator(".card-warning")
    assert not warning.is_visible()
    page.uncheck("#pay_by_invoice")
    assert warning.is_visible()
    assert "Stripe is not set up here (STRIPE_API_KEY)" in warning.inner_text()
    assert "no usable card" in warning.inner_text()
    check_page(page, "org-card-warning", width)
    page.fill("#display_name", "Alpen Treuhand AG")
    page.click("text=Save billing config")
    page.wait_for_load_state("networkidle")
    history = page.locator("#change-history")
    assert "org.update by admin@pieced.local" in history.inner_text()
    assert "display_name: Alpen AG → Alpen Treuhand AG" in history.inner_text()
    assert "pay_by_invoice: True → False" in history.inner_text()
    # Card orgs keep seeing the warning until a card is on file.
    assert page.locator(".card-warning").is_visible()
    check_page(page, "org-history", width)


def test_tenant_page_names_the_person_and_shows_its_history(page, live_server, fresh_db, width):
    from ..factories import suspension_event

    _seed(fresh_db.app, orgs=("org-alpen",))
    with fresh_db.app.app_context():
        at = zurich(2026, 12, 3, 9, 30)
        suspension_event("org-alpen-main", "suspended", at, source="app")
        db.session.add(AuditLog(occurred_at=at, actor="Erika Muster <erika@pieced.ch>", action="tenant.suspended",
                                object_type="tenant", object_id="org-alpen-main", after={"suspend": True}))
        db.session.commit()
        db.session.remove()
    browser_login(page, live_server, "admin")
    page.goto(f"{live_server.url}/tenants/org-alpen-main")
    row = page.locator("#tenant-timeline tr.timeline-suspended")
    assert row.locator("td").last.inner_text() == "Erika Muster <erika@pieced.ch>"
    assert "tenant.suspended by Erika Muster" in page.locator("#change-history").inner_text()
    check_page(page, "tenant-history", width)


# --------------------------------------------------------------------------- VAT return and exports


def test_the_vat_return_page_and_the_export_menu(page, live_server, fresh_db, width):
    _seed(fresh_db.app, overdue=("org-acme", "org-bern"))
    browser_login(page, live_server, "finance")
    page.goto(f"{live_server.url}/reports/vat?quarter=2026-Q4")
    # Two October invoices issued 01.11.2026: 49.00 each, 200 = 299 = 98.00, VAT 3.97 × 2 = 7.94.
    assert page.locator("[data-testid=figure-299]").inner_text() == "98.00"
    assert page.locator("[data-testid=vat-total]").inner_text() == "7.94"
    page.locator("#figure-200 summary").click()
    assert page.locator("#figure-200 a").count() == 2
    check_page(page, "vat-return", width)
    page.goto(f"{live_server.url}/invoices?status=overdue")
    page.locator(".export-menu summary").click()
    # The workbook, and CSV for Excel or machines: invoices, lines, payments, credit notes, unmatched entries.
    assert page.locator(".export-menu a").count() == 8
    with page.expect_download() as info:
        page.click("text=Excel workbook (.xlsx): invoices, lines, payments, credit notes, unmatched bank entries")
    assert info.value.suggested_filename == "invoices-overdue.xlsx"
    check_page(page, "export-menu", width)


def test_the_journal_page_balances_and_matches_the_vat_return(page, live_server, fresh_db, width):
    _seed(fresh_db.app, overdue=("org-acme", "org-bern"))
    browser_login(page, live_server, "finance")
    page.goto(f"{live_server.url}/reports/journal?quarter=2026-Q4")
    # Two invoices of 49.00 + 3.97: debtors 105.94 = revenue 98.00 + VAT 7.94; all accounts sum to 0.00.
    assert page.locator("[data-testid=journal-balance]").inner_text() == "0.00"
    assert page.locator("[data-testid=journal-total]").inner_text() == "105.94"
    assert "matches" in page.locator("[data-testid=journal-revenue]").inner_text()
    assert "matches" in page.locator("[data-testid=journal-vat]").inner_text()
    with page.expect_download() as info:
        page.click("text=Banana (.txt)")
    assert info.value.suggested_filename == "journal-pieced-2026-Q4-banana.txt"
    for label, name in (("Abacus (.xml)", "journal-pieced-2026-Q4-abacus.xml"),
                        ("bexio API (.json)", "journal-pieced-2026-Q4-bexio.json")):
        with page.expect_download() as info:
            page.click(f"text={label}")
        assert info.value.suggested_filename == name
    check_page(page, "journal", width)


def test_finance_posts_the_journal_to_bexio_twice_and_it_is_booked_once(page, live_server, fresh_db, width, dialogs):
    _seed(fresh_db.app, overdue=("org-acme", "org-bern"))
    with BexioFake() as bexio:
        fresh_db.app.config.update(BEXIO_API_URL=bexio.url, BEXIO_TOKEN=bexio.token, BEXIO_RETRY_DELAY=0.001)
        browser_login(page, live_server, "finance")
        page.goto(f"{live_server.url}/reports/journal?quarter=2026-Q4")
        with page.expect_navigation():  # each button posts the form: wait for the page it answers with
            page.click("#check-bexio")  # the check asks nothing and books nothing
        assert page.locator("#bexio-result").inner_text() == ("4 bookings would be posted, 0 already in bexio "
                                                             "(dry run: nothing was posted)")
        assert (dialogs, len(bexio.entries)) == ([], 0)
        with page.expect_navigation():
            page.click("#post-to-bexio")
        # two invoices: fees and VAT each, 49.00 + 3.97 twice = 105.94
        assert dialogs == ["Book the 4 rows of 2026-Q4 (CHF 105.94 debit = credit) in bexio? "
                           "Rows bexio already holds are skipped."]
        assert page.locator("#bexio-result").inner_text() == "4 bookings posted, 0 already in bexio"
        assert page.locator("tr.bexio-posted").count() == 4
        check_page(page, "journal-posted-to-bexio", width)
        with page.expect_navigation():
            page.click("#post-to-bexio")
        assert page.locator("#bexio-result").inner_text() == "0 bookings posted, 4 already in bexio"
        assert len(bexio.entries) == 4
