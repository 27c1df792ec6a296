"""Posting the journal to bexio, through the real client against the bexio fake over HTTP (tests/peers/bexio_fake.py).

The quarter is test_journal_formats's (CH, LI, DE, a void, two credit notes, names that are not ASCII):
every row must reach bexio once, with bexio's ids for its accounts, its amount, date and document,
however often and however interrupted the push is. bexio itself cannot run here; the fake answers
with the shapes its API documents (see the fake's docstring for what is not confirmed).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.extensions import db
from pieced_admin.models import AuditLog
from pieced_admin.reports.bexio import (AUDIT_ACTION, BexioAccountsMissing, JournalNotFound, plan_push,
                                        post_journal_to_bexio)
from pieced_admin.reports.journal import JournalRow
from pieced_admin.reports.services import journal_view
from tests.peers.bexio_fake import MANUAL_ENTRIES_PATH, BexioFake

from ..factories import default_entity, make_org
from ..invoices.support import make_invoice
from .test_journal import _lines
from .test_journal_formats import quarter_with_names  # noqa: F401
from .test_vat_return import quarter_of_invoices  # noqa: F401

D = Decimal
Q = {"entity": "pieced", "quarter": "2026-Q4"}

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def bexio():
    with BexioFake() as fake:
        yield fake


@pytest.fixture
def configured(app, bexio):
    """The app pointed at the fake, with quick retries."""
    app.config.update(BEXIO_API_URL=bexio.url, BEXIO_TOKEN=bexio.token, BEXIO_RETRY_DELAY=0.001, BEXIO_TIMEOUT=5)
    return bexio


def _rows() -> list[JournalRow]:
    return journal_view("pieced", "2026-Q4").rows


def _as_booked(bexio: BexioFake) -> list[tuple]:
    """What bexio holds, as journal rows (account numbers from bexio's ids), oldest first."""
    numbers = {bexio.account_id(n): n for n in ("1020", "1100", "2200", "3400")}
    out = []
    for entry in bexio.entries:
        assert entry["type"] == "manual_single_entry"
        (line,) = entry["entries"]
        out.append((date.fromisoformat(entry["date"]), entry["reference_nr"], line["description"],
                    numbers[line["debit_account_id"]], numbers[line["credit_account_id"]], D(str(line["amount"]))))
    return out


def _journal(rows) -> list[tuple]:
    return [(r.booked_on, r.document, r.text, r.debit, r.credit, r.amount_chf) for r in rows]


def _audits() -> list[AuditLog]:
    return db.session.execute(sa.select(AuditLog).where(AuditLog.action == AUDIT_ACTION).order_by(AuditLog.id)) \
        .scalars().all()


# --------------------------------------------------------------------------- the service


@pytest.mark.now("2027-01-15")
def test_a_push_books_every_row_with_bexios_ids_amounts_dates_and_documents(configured, quarter_with_names):
    rows = _rows()
    assert len(rows) == 17
    result = post_journal_to_bexio("pieced", "2026-Q4")
    db.session.commit()

    assert (result.posted, result.skipped, result.ok) == (17, 0, True)
    assert result.summary() == "17 bookings posted, 0 already in bexio"
    assert _as_booked(configured) == _journal(rows)  # every row once, in journal order
    first = configured.entries[0]
    assert (first["date"], first["reference_nr"]) == ("2026-10-01", "PC-2026-0101")
    assert first["entries"][0]["debit_account_id"] == configured.account_id("1100") != 1100
    assert first["entries"][0]["credit_account_id"] == configured.account_id("3400")
    assert first["entries"][0]["amount"] == 900.0
    posts = configured.requests_to("POST", MANUAL_ENTRIES_PATH)
    assert len(posts) == 17 and all('"amount":' in p.raw and re.search(r'"amount":\d+\.\d{2}[,}]', p.raw)
                                   for p in posts)
    assert "Dvořák s.r.o." in posts[-1].raw or any("Dvořák" in p.raw for p in posts)  # UTF-8 text
    assert [o.bexio_id for o in result.rows] == [e["id"] for e in configured.entries]

    (audit,) = _audits()
    assert audit.object_type == "billing_entity" and audit.object_id == str(default_entity().id)
    assert {k: audit.after[k] for k in ("entity", "period", "posted", "skipped")} == {
        "entity": "pieced", "period": "2026-Q4", "posted": 17, "skipped": 0}


@pytest.mark.now("2027-01-15")
def test_a_second_push_books_nothing_and_reports_every_row_as_already_in_bexio(configured, quarter_with_names):
    post_journal_to_bexio("pieced", "2026-Q4")
    db.session.commit()
    again = post_journal_to_bexio("pieced", "2026-Q4")
    db.session.commit()

    assert (again.posted, again.skipped) == (0, 17)
    assert again.summary() == "0 bookings posted, 17 already in bexio"
    assert {o.outcome for o in again.rows} == {"already_in_bexio"}
    assert len(configured.entries) == 17 and len(configured.requests_to("POST", MANUAL_ENTRIES_PATH)) == 17
    assert [a.after["posted"] for a in _audits()] == [17, 0]
    # a month of the quarter is in bexio already too
    december = post_journal_to_bexio("pieced", "2026-12")
    assert (december.posted, december.skipped) == (0, 5)


@pytest.mark.now("2027-01-15")
def test_a_dry_run_says_what_would_be_posted_and_posts_nothing(configured, quarter_with_names):
    configured.book({"type": "manual_single_entry", "date": "2026-10-01", "reference_nr": "PC-2026-0101",
                     "entries": [{"debit_account_id": configured.account_id("1100"),
                                  "credit_account_id": configured.account_id("3400"), "amount": 900.0,
                                  "description": "typed in bexio by hand"}]})
    result = post_journal_to_bexio("pieced", "2026-Q4", dry_run=True)
    assert result.summary() == "16 bookings would be posted, 1 already in bexio (dry run: nothing was posted)"
    assert result.rows[0].outcome == "already_in_bexio" and result.rows[0].bexio_id == 1
    assert configured.requests_to("POST", MANUAL_ENTRIES_PATH) == [] and _audits() == []


@pytest.mark.now("2027-01-15")
def test_a_missing_account_refuses_the_push_naming_it_and_posts_nothing(configured, quarter_with_names):
    configured.remove_account("2200")
    configured.remove_account("3400")
    with pytest.raises(BexioAccountsMissing) as caught:
        post_journal_to_bexio("pieced", "2026-Q4")
    assert str(caught.value).startswith("bexio has no account 2200, 3400: create or activate it in bexio's chart")
    assert str(caught.value).endswith("nothing was posted")
    assert configured.requests_to("POST", MANUAL_ENTRIES_PATH) == [] and configured.entries == []


@pytest.mark.now("2027-01-15")
def test_an_inactive_account_refuses_the_push_too(configured, quarter_with_names):
    configured.remove_account("1100")
    configured.add_account("1100", "Debitoren (alt)", active=False)
    with pytest.raises(BexioAccountsMissing, match="account 1100 is inactive in bexio"):
        post_journal_to_bexio("pieced", "2026-Q4")
    assert configured.entries == []


@pytest.mark.now("2027-01-15")
@pytest.mark.parametrize("booked_anyway", [False, True], ids=["500-before-booking", "500-after-booking"])
def test_a_500_midway_reports_what_was_posted_and_a_rerun_books_every_row_exactly_once(
        configured, quarter_with_names, booked_anyway):
    rows = _rows()
    configured.fail("POST", MANUAL_ENTRIES_PATH, 500, after=6, book=booked_anyway)
    first = post_journal_to_bexio("pieced", "2026-Q4")
    db.session.commit()

    assert not first.ok
    assert [o.outcome for o in first.rows] == ["posted"] * 6 + ["failed"] + ["not_posted"] * 10
    assert first.error.startswith(f"bexio failed on {rows[6].document} ({rows[6].debit}/{rows[6].credit} "
                                  f"{rows[6].amount_chf}): bexio had an internal error while booking manual entry")
    assert first.summary().startswith("6 bookings posted, 0 already in bexio; then bexio failed on ")
    assert first.summary().endswith("; 1 booking may or may not be in bexio; 10 bookings not posted: "
                                    "post again to book the rest")
    assert len(configured.entries) == (7 if booked_anyway else 6)
    assert len(configured.requests_to("POST", MANUAL_ENTRIES_PATH)) == 7  # the 500 was not repeated blindly

    second = post_journal_to_bexio("pieced", "2026-Q4")
    db.session.commit()
    assert second.ok
    assert (second.posted, second.skipped) == ((10, 7) if booked_anyway else (11, 6))
    assert _as_booked(configured) == _journal(rows)  # every row exactly once
    assert [(a.after["posted"], a.after["uncertain"], a.after["not_posted"]) for a in _audits()] == [
        (6, 1, 10), (second.posted, 0, 0)]


@pytest.mark.now("2027-01-15")
def test_bexio_refusing_a_row_stops_the_push_there(configured, quarter_with_names):
    configured.fail("POST", MANUAL_ENTRIES_PATH, 422, after=2)
    result = post_journal_to_bexio("pieced", "2026-Q4")
    assert [o.outcome for o in result.rows[:4]] == ["posted", "posted", "refused", "not_posted"]
    assert "HTTP 422" in result.rows[2].message and len(configured.entries) == 2


@pytest.mark.now("2027-01-15")
def test_a_rate_limit_is_waited_out(configured, quarter_with_names):
    configured.fail("POST", MANUAL_ENTRIES_PATH, 429, after=3, retry_after="0")
    result = post_journal_to_bexio("pieced", "2026-Q4")
    assert (result.ok, result.posted) == (True, 17) and len(configured.entries) == 17


def test_bad_input_and_no_configuration_contact_nobody(app, bexio, session):
    with pytest.raises(JournalNotFound, match="no billing entity with code 'nope'"):
        post_journal_to_bexio("nope", "2026-Q4")
    with pytest.raises(JournalNotFound, match="YYYY-Qn"):
        post_journal_to_bexio("pieced", "2026-Q9")
    from pieced_admin.integrations.bexio import BexioNotConfigured

    with pytest.raises(BexioNotConfigured, match="set BEXIO_TOKEN"):
        post_journal_to_bexio("pieced", "2026-Q4")
    assert bexio.requests == []


DAY = date(2026, 11, 2)


def _booked(reference, debit, credit, amount, description="", entry_id=1):
    return {"id": entry_id, "type": "manual_single_entry", "date": DAY.isoformat(), "reference_nr": reference,
            "entries": [{"id": entry_id, "debit_account_id": debit, "credit_account_id": credit, "amount": amount,
                         "description": description}]}


IDS = {"1100": 83, "3400": 98, "2200": 92}


@pytest.mark.parametrize("booked, expected", [
    # nothing in bexio: nothing found
    ([], [None, None, None]),
    # the same booking (amount as bexio writes it, 100.0) is found, whatever its description
    ([_booked("PC-1", 83, 98, 100.0, "changed in bexio", 7)], [7, None, None]),
    # two equal rows (fees and skills, both 100.00 on 1100/3400) need two lines; the one with the same text is taken
    ([_booked("PC-1", 83, 98, "100.00", "Invoice PC-1, skills", 8)], [None, 8, None]),
    ([_booked("PC-1", 83, 98, 100, "", 7), _booked("PC-1", 83, 98, 100, "", 8)], [7, 8, None]),
    # another document, date, account or amount is another booking
    ([_booked("PC-2", 83, 98, 100.0), _booked("PC-1", 98, 83, 100.0), _booked("PC-1", 83, 98, 100.01),
      {**_booked("PC-1", 83, 98, 100.0), "date": "2026-11-03"}], [None, None, None]),
    # a compound entry's one-sided lines never match a single entry
    ([{"id": 9, "type": "manual_compound_entry", "date": DAY.isoformat(), "reference_nr": "PC-1",
       "entries": [{"debit_account_id": 83, "credit_account_id": None, "amount": 8.1},
                   {"debit_account_id": None, "credit_account_id": 92, "amount": 8.1}]}], [None, None, None]),
])
def test_which_rows_bexio_holds_already(booked, expected):
    rows = [JournalRow(DAY, "PC-1", "Invoice PC-1, tenant fees", "1100", "3400", D("100.00")),
            JournalRow(DAY, "PC-1", "Invoice PC-1, skills", "1100", "3400", D("100.00")),
            JournalRow(DAY, "PC-1", "Invoice PC-1, VAT", "1100", "2200", D("8.10"))]
    plan = plan_push(rows, IDS, booked)
    assert [p.booked_as if p.already else None for p in plan] == expected
    assert [p.body["entries"][0]["debit_account_id"] for p in plan] == [83, 83, 83]


@pytest.mark.slow
@pytest.mark.now("2027-01-15")
def test_two_pushes_at_once_book_each_row_once(fresh_db, bexio):
    """Three pushes at once (the quarter twice, one of its months): the first books, the others wait, find it all."""
    app = fresh_db.app
    app.config.update(BEXIO_API_URL=bexio.url, BEXIO_TOKEN=bexio.token, BEXIO_RETRY_DELAY=0.001)
    with app.app_context():
        org = make_org("org-zuerich")
        for n in range(4):
            invoice = make_invoice(org, number=f"PC-2026-01{n:02d}", period=Period(2026, 6 + n),
                                   issued=date(2026, 10, 5 + n), net="100.00")
            _lines(invoice, ("monthly_fee", "100.00"))
        db.session.commit()
        db.session.remove()
    bexio.delay = 0.05  # each booking takes a while: the pushes overlap
    results, errors = [], []

    def push(period):
        try:
            with app.app_context():
                results.append(post_journal_to_bexio("pieced", period))
                db.session.commit()
                db.session.remove()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=push, args=(p,)) for p in ("2026-Q4", "2026-Q4", "2026-10")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert sorted(r.posted for r in results) == [0, 0, 8]  # 4 invoices × (fees + VAT), booked by one push only
    assert len(bexio.entries) == 8
    with app.app_context():
        assert sorted(a.after["posted"] for a in _audits()) == [0, 0, 8]
        db.session.remove()


# --------------------------------------------------------------------------- the CLI


@pytest.mark.now("2027-01-15")
def test_cli_posts_and_prints_json_then_finds_everything_in_bexio(configured, quarter_with_names, runner):
    args = ["reports", "journal", "--entity", "pieced", "--quarter", "2026-Q4", "--post-to-bexio", "--json"]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    body = json.loads(first.output)
    assert (body["ok"], body["posted"], body["already_in_bexio"], body["period"]) == (True, 17, 0, "2026-Q4")
    assert body["rows"][0] == {
        "date": "2026-10-01", "document": "PC-2026-0101", "reference_nr": "PC-2026-0101",
        "description": "Invoice PC-2026-0101 Zuerich AG, tenant fees", "debit_account_no": "1100",
        "credit_account_no": "3400", "debit_account_id": configured.account_id("1100"),
        "credit_account_id": configured.account_id("3400"), "amount_chf": "900.00", "outcome": "posted",
        "bexio_id": 1, "message": None}
    text = runner.invoke(args=args[:-1])
    assert text.exit_code == 0, text.output
    assert text.output.splitlines()[-1] == "bexio: 0 bookings posted, 17 already in bexio"
    assert "PC-2026-0101" in text.output and "already in bexio #1" in text.output
    assert len(configured.entries) == 17


@pytest.mark.now("2027-01-15")
def test_cli_exits_1_naming_bexio_when_it_is_down_or_fails_midway(app, configured, quarter_with_names, runner):
    db.session.commit()  # the data outlives the first command's rollback
    args = ["reports", "journal", "--entity", "pieced", "--quarter", "2026-Q4", "--post-to-bexio"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    app.config["BEXIO_API_URL"] = closed
    down = runner.invoke(args=args)
    assert down.exit_code == 1
    assert "bexio at 127.0.0.1:" in down.output and "did not answer listing the accounts" in down.output
    assert _audits() == []

    app.config["BEXIO_API_URL"] = configured.url
    configured.fail("POST", MANUAL_ENTRIES_PATH, 500, after=2)
    midway = runner.invoke(args=[*args, "--json"])
    assert midway.exit_code == 1
    body = json.loads(midway.output[:midway.output.rindex("}") + 1])
    assert (body["ok"], body["posted"], body["uncertain"], body["not_posted"]) == (False, 2, 1, 14)
    assert "Error: 2 bookings posted, 0 already in bexio; then bexio failed on" in midway.output
    assert len(_audits()) == 1  # the partial push is recorded


@pytest.mark.parametrize("extra, says", [
    (["--quarter", "2026-Q9", "--post-to-bexio"], "YYYY-Qn"),
    (["--quarter", "2026-Q4", "--entity", "nope", "--post-to-bexio"], "no billing entity with code 'nope'"),
    (["--quarter", "2026-Q4", "--dry-run"], "either --post-to-bexio or --format"),
    (["--quarter", "2026-Q4", "--format", "banana", "--dry-run"], "--dry-run goes with --post-to-bexio"),
    (["--quarter", "2026-Q4", "--post-to-bexio"], "bexio is not configured: set BEXIO_TOKEN"),
])
def test_cli_bad_input_exits_2_with_one_line_and_contacts_nobody(session, runner, bexio, extra, says):
    result = runner.invoke(args=["reports", "journal", "--entity", "pieced", *extra])
    assert result.exit_code == 2, result.output
    assert says in result.output and len(result.output.strip().splitlines()) == 1
    assert bexio.requests == []


@pytest.mark.now("2027-01-15")
def test_cli_writes_the_journal_files_without_posting(configured, quarter_with_names, runner):
    banana = runner.invoke(args=["reports", "journal", "--entity", "pieced", "--quarter", "2026-Q4",
                                 "--format", "banana"])
    assert banana.exit_code == 0 and banana.output.startswith("Date\tDoc\tDescription")
    assert len(banana.output.splitlines()) == 18
    bexio_file = runner.invoke(args=["reports", "journal", "--entity", "pieced", "--quarter", "2026-Q4",
                                     "--format", "bexio"])
    assert json.loads(bexio_file.output)["accounts"]["1100"] == configured.account_id("1100")
    assert configured.requests_to("POST", MANUAL_ENTRIES_PATH) == []


# --------------------------------------------------------------------------- the page and the JSON file


def _form_token(page: str) -> str:
    match = re.search(r'action="/reports/journal/bexio">\s*<input type="hidden" name="csrf_token" value="([^"]+)"',
                      page)
    assert match, "the journal page has the Post to bexio form"
    return match.group(1)


@pytest.mark.now("2027-01-15")
@pytest.mark.parametrize("who", ["finance", "admin"])
def test_the_page_posts_to_bexio_and_shows_the_result(client, login, configured, quarter_with_names, who):
    login(who)
    page = client.get("/reports/journal?entity=pieced&quarter=2026-Q4").get_data(as_text=True)
    assert 'id="post-to-bexio"' in page and "bexio-not-configured" not in page
    token = _form_token(page)
    response = client.post("/reports/journal/bexio", data={**Q, "csrf_token": token})
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert re.search(r'id="bexio-result">17 bookings posted, 0 already in bexio<', text)
    assert text.count('class="bexio-posted"') == 17
    assert 'data-testid="journal-balance">0.00<' in text  # the journal is shown as before
    again = client.post("/reports/journal/bexio", data={**Q, "csrf_token": token}).get_data(as_text=True)
    assert re.search(r'id="bexio-result">0 bookings posted, 17 already in bexio<', again)
    dry = client.post("/reports/journal/bexio", data={**Q, "csrf_token": token, "dry_run": "1"})
    assert "0 bookings would be posted, 17 already in bexio" in dry.get_data(as_text=True)
    assert len(configured.entries) == 17
    assert [a.actor for a in _audits()] == [f"{who}@pieced.local"] * 2


@pytest.mark.now("2027-01-15")
def test_a_long_post_from_the_page_pauses_within_the_request_and_continues_to_every_row_once(
        app, finance_client, configured, quarter_with_names):
    # The page stops starting bookings after its budget (0.15 s here, 20 s in production: a web request
    # has 60 s and one booking may take bexio's 30 s timeout). Each booking takes 0.05 s at the fake.
    app.config["BEXIO_PAGE_BUDGET_SECONDS"] = 0.15
    configured.delay = 0.05
    db.session.commit()
    token = _form_token(finance_client.get("/reports/journal?entity=pieced&quarter=2026-Q4").get_data(as_text=True))
    posted, pages = [], 0
    while True:
        pages += 1
        assert pages <= 17, "every push books at least one row"
        text = finance_client.post("/reports/journal/bexio", data={**Q, "csrf_token": token}).get_data(as_text=True)
        found = re.search(r'id="bexio-result">(\d+) bookings? posted, (\d+) already in bexio(; (\d+) bookings? still '
                          r'to post: continue to book them)?<', text)
        assert found, text[text.find("bexio-result") - 80:][:400]
        now, before, paused = int(found.group(1)), int(found.group(2)), found.group(3) is not None
        assert now >= 1 and before == sum(posted)          # each push goes on where the last one stopped
        posted.append(now)
        if not paused:
            break
        assert "flash-warning" in text and ">Continue posting to bexio</button>" in text
        assert now + before + int(found.group(4)) == 17    # posted + already there + still to post = every row
    assert pages >= 2 and sum(posted) == 17
    assert len(configured.entries) == 17                   # 17 rows, 17 bookings: none twice, none lost
    assert [a.after["paused"] for a in _audits()] == [True] * (pages - 1) + [False]


@pytest.mark.now("2027-01-15")
def test_the_page_names_bexio_when_it_fails_or_refuses(finance_client, configured, quarter_with_names):
    db.session.commit()  # the data outlives the refused requests' rollbacks
    token = _form_token(finance_client.get("/reports/journal?entity=pieced&quarter=2026-Q4").get_data(as_text=True))
    configured.fail("POST", MANUAL_ENTRIES_PATH, 500, after=12)
    failed = finance_client.post("/reports/journal/bexio", data={**Q, "csrf_token": token})
    text = failed.get_data(as_text=True)
    assert failed.status_code == 502
    assert re.search(r'id="bexio-result">12 bookings posted, 0 already in bexio; then bexio failed on ', text)
    assert text.count('class="bexio-not_posted"') == 4 and text.count('class="bexio-failed"') == 1
    configured.remove_account("2200")
    refused = finance_client.post("/reports/journal/bexio", data={**Q, "csrf_token": token})
    assert refused.status_code == 422
    assert re.search(r'id="bexio-error">bexio has no account 2200: create or activate it', refused.get_data(as_text=True))
    bad = finance_client.post("/reports/journal/bexio", data={"entity": "nope", "quarter": "2026-Q4",
                                                             "csrf_token": token})
    assert bad.status_code == 400 and "No billing entity with code" in bad.get_data(as_text=True)
    assert len(configured.entries) == 12


def test_the_page_says_how_to_configure_bexio_and_refuses_to_post_without_it(finance_client, session, bexio):
    page = finance_client.get("/reports/journal?entity=pieced&quarter=2026-Q4").get_data(as_text=True)
    assert 'id="bexio-not-configured"' in page and "BEXIO_TOKEN" in page and 'id="post-to-bexio"' not in page
    token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    response = finance_client.post("/reports/journal/bexio", data={**Q, "csrf_token": token})
    assert response.status_code == 503 and "bexio is not configured: set BEXIO_TOKEN" in response.get_data(as_text=True)
    assert bexio.requests == []


def test_posting_without_a_csrf_token_is_refused(finance_client, configured, session):
    assert finance_client.post("/reports/journal/bexio", data=Q).status_code == 400
    assert configured.requests == []


@pytest.mark.now("2027-01-15")
def test_the_json_file_carries_bexios_ids_when_bexio_is_configured(finance_client, app, configured,
                                                                   quarter_with_names):
    doc = json.loads(finance_client.get("/reports/journal.bexio.json?entity=pieced&quarter=2026-Q4").data)
    ids = {n: configured.account_id(n) for n in ("1100", "2200", "3400")}
    assert doc["accounts"] == ids
    for item in doc["manual_entries"]:
        (line,) = item["body"]["entries"]
        assert (line["debit_account_id"], line["credit_account_id"]) == (ids[item["debit_account_no"]],
                                                                           ids[item["credit_account_no"]])
    assert "note" not in doc and "read from GET /2.0/accounts" in doc["how"]
    # each body is a request bexio takes as it is
    for item in doc["manual_entries"]:
        configured.book(item["body"])
    assert _as_booked(configured) == _journal(_rows())

    configured.remove_account("2200")
    partial = json.loads(finance_client.get("/reports/journal.bexio.json?entity=pieced&quarter=2026-Q4").data)
    assert partial["accounts"]["2200"] is None and "bexio has no account 2200" in partial["how"]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        app.config["BEXIO_API_URL"] = f"http://127.0.0.1:{s.getsockname()[1]}"
    down = json.loads(finance_client.get("/reports/journal.bexio.json?entity=pieced&quarter=2026-Q4").data)
    assert set(down["accounts"].values()) == {None}
    assert down["note"].startswith("bexio's account ids could not be read, so they are left to fill in: bexio at ")
