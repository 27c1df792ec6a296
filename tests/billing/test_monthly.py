"""`pieced-admin billing run-monthly`: every auto-invoiced org issued once, charged, e-mailed; failures isolated.

Prices in these tests: monthly fee 49.00 CHF, VAT 8.10 %. Every tenant exists
for the whole of October 2026, so each invoice is
  monthly_fee 49.00 (31 of 31 days), VAT round(49.00 × 8.1 %) = round(3.969) = 3.97, total 52.97.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.billing.monthly import Shard, previous_month, run_monthly, shard_of
from pieced_admin.extensions import db
from pieced_admin.models import (
    AuditLog,
    BillingEntity,
    BillingRun,
    Invoice,
    InvoiceDocument,
    InvoiceEmail,
    InvoiceNumberCounter,
    OrgBillingConfig,
)

from ..factories import make_entity, make_org, make_tenant, set_pricing, zurich
from ..peers.litellm_api import LiteLLMServer
from ..peers.smtp import SmtpSink
from ..reminders.data import ready_default_entity

OCTOBER = Period(2026, 10)
# Invoices are numbered in the year they are issued: the run issues now.
Y = clock.today("Europe/Zurich").year  # the suite's day (tests/conftest.py)
ROOT = Path(__file__).resolve().parents[2]


def seed(app, org_ids, *, split_org: str | None = None, manual_org: str | None = "org-manual") -> None:
    """Orgs with auto-invoicing, one tenant each for all of October; `split_org` has a second tenant billed by PS."""
    with app.app_context():
        set_pricing(tenant_monthly_fee_chf="49.00", vat_rate_chli="8.10")
        ready_default_entity()
        services = make_entity("pieced-services", prefix="PS", name="PieCed Services GmbH")
        for org_id in org_ids:
            make_org(org_id, auto_invoice_enabled=True)
            make_tenant(f"{org_id}-main", org_id, zurich(2026, 9, 15))
        if split_org:
            make_tenant(f"{split_org}-hr", split_org, zurich(2026, 9, 20), entity=services)
        if manual_org:  # no auto-invoicing: the run leaves it alone
            make_org(manual_org)
            make_tenant(f"{manual_org}-main", manual_org, zurich(2026, 9, 15))
        db.session.commit()


def invoices(app) -> list[tuple[str, str, str]]:
    """(org, entity code, number) of every non-void invoice of October."""
    with app.app_context():
        rows = db.session.execute(
            sa.select(Invoice.zitadel_org_id, Invoice.number, Invoice.billing_entity_id, Invoice.total_chf)
            .where(Invoice.period_start == OCTOBER.first_day, Invoice.status != "void")
            .order_by(Invoice.number)
        ).all()
        db.session.remove()
    return [(org, str(entity), number) for org, number, entity, _total in rows]


def assert_gapless(numbers: list[str]) -> None:
    by_prefix: dict[str, list[int]] = {}
    for n in numbers:
        prefix, year, seq = n.split("-")
        assert year == str(Y)
        by_prefix.setdefault(prefix, []).append(int(seq))
    for prefix, seqs in by_prefix.items():
        assert sorted(seqs) == list(range(1, len(seqs) + 1)), (prefix, sorted(seqs))


def run_cli(app, *args):
    return app.test_cli_runner().invoke(args=["billing", "run-monthly", "--month", "2026-10", *args])


# --------------------------------------------------------------------------- arguments


@pytest.mark.parametrize("value", ["2/2", "a/b", "1", "-1/2", "0/0", "1/2/3", ""])
def test_a_bad_shard_is_exit_2_with_one_line(session, runner, value):
    result = runner.invoke(args=["billing", "run-monthly", "--month", "2026-10", "--shard", value])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "--shard must be I/N" in lines[0], result.output
    assert session.execute(sa.select(sa.func.count()).select_from(BillingRun)).scalar_one() == 0


def test_a_bad_month_is_exit_2(session, runner):
    result = runner.invoke(args=["billing", "run-monthly", "--month", "2026-13"])
    assert result.exit_code == 2
    assert "Invalid month" in result.output


def test_shards_are_a_stable_partition():
    orgs = [f"org-{i}" for i in range(200)]
    # The same hash in every process: SHA-256 of the id, never Python's salted hash().
    assert shard_of("org-acme", 4) == int(hashlib.sha256(b"org-acme").hexdigest(), 16) % 4
    owners = [[o for o in orgs if Shard(i, 4).owns(o)] for i in range(4)]
    assert sorted(sum(owners, [])) == sorted(orgs)
    assert all(len(part) > 20 for part in owners)


def test_default_month_is_last_month_in_zurich():
    from datetime import date

    assert previous_month(date(2026, 11, 1)) == Period(2026, 10)
    assert previous_month(date(2026, 1, 15)) == Period(2025, 12)


# --------------------------------------------------------------------------- dry run


def test_dry_run_prints_what_would_be_issued_and_changes_nothing(app, session, runner):
    seed(app, ["org-a", "org-b"], split_org="org-b")

    def counts():
        return {m.__tablename__: session.execute(sa.select(sa.func.count()).select_from(m)).scalar_one()
                for m in (Invoice, InvoiceNumberCounter, InvoiceDocument, InvoiceEmail, AuditLog)}

    before = counts()
    result = runner.invoke(args=["billing", "run-monthly", "--month", "2026-10", "--dry-run"])
    assert result.exit_code == 0, result.output
    # Per org: entity, net, total and line count; org-b also has its PS tenant.
    assert "org-a: pieced: would issue net CHF 49.00, total CHF 52.97, 1 lines" in result.output
    assert "org-b: pieced: would issue net CHF 49.00, total CHF 52.97, 1 lines; " \
           "pieced-services: would issue net CHF 49.00, total CHF 52.97, 1 lines" in result.output
    assert "org-manual" not in result.output
    assert "3 invoice(s) to issue" in result.output and "Nothing was changed" in result.output
    assert counts() == before
    run = session.execute(sa.select(BillingRun)).scalar_one()
    assert run.dry_run and run.status == "done" and run.orgs_total == 2 and run.invoices_issued == 0


# --------------------------------------------------------------------------- PostgreSQL, real commits


@pytest.mark.postgres
def test_run_twice_issues_each_org_month_entity_once_and_emails_each_invoice_once(fresh_db):
    app = fresh_db.app
    seed(app, ["org-a", "org-b", "org-c"], split_org="org-b")
    with SmtpSink() as sink:
        app.config.update(sink.config())
        sink.fail_data(451)  # the first e-mail meets a busy server

        first = run_cli(app)
        assert first.exit_code == 1, first.output
        issued = invoices(app)
        # org-a → PC-0001, org-b → PC-0002 and PS-0001, org-c → PC-0003: the manual org is not billed.
        assert [n for _o, _e, n in issued] == [f"PC-{Y}-0001", f"PC-{Y}-0002", f"PC-{Y}-0003", f"PS-{Y}-0001"]
        assert {o for o, _e, _n in issued} == {"org-a", "org-b", "org-c"}
        assert f"org-a: issued PC-{Y}-0001 (CHF 52.97)" in first.output
        assert "Failed orgs:" in first.output and "451" in first.output and "127.0.0.1" in first.output
        assert len(sink.messages) == 3

        second = run_cli(app)
        assert second.exit_code == 0, second.output
        assert invoices(app) == issued  # nothing issued twice
        assert "already issued" in second.output
        assert len(sink.messages) == 4  # only the one that failed is sent, now

        third = run_cli(app)
        assert third.exit_code == 0 and len(sink.messages) == 4  # nothing is sent twice

    with app.app_context():
        emails = db.session.execute(sa.select(InvoiceEmail).order_by(InvoiceEmail.invoice_id)).scalars().all()
        assert [e.status for e in emails] == ["sent"] * 4
        assert sorted(e.attempts for e in emails) == [1, 1, 1, 2]
        assert all(e.message_id and e.message_id.startswith("<") for e in emails)
        # Each message carries the stored PDF, byte for byte.
        for message in sink.messages:
            number = message["Subject"].split()[1]
            invoice = db.session.execute(sa.select(Invoice).filter_by(number=number)).scalar_one()
            stored = db.session.get(InvoiceDocument, invoice.id).content
            pdfs = [p for p in message.iter_attachments() if p.get_content_type() == "application/pdf"]
            assert [p.get_content() for p in pdfs] == [stored]
            assert message["To"] == f"billing@{invoice.zitadel_org_id}.example"
        runs = db.session.execute(sa.select(BillingRun).order_by(BillingRun.id)).scalars().all()
        assert [(r.status, r.orgs_total, r.orgs_done, r.orgs_failed, r.invoices_issued) for r in runs] == [
            ("done_with_errors", 3, 3, 1, 4), ("done", 3, 3, 0, 0), ("done", 3, 3, 0, 0)]


@pytest.mark.postgres
def test_shards_and_an_overlapping_run_in_parallel_issue_the_same_set_as_one_run(fresh_db):
    app = fresh_db.app
    orgs = [f"org-{i:02d}" for i in range(16)]
    seed(app, orgs, split_org="org-03")
    errors: list[BaseException] = []

    def work(shard):
        try:
            with app.app_context():
                run_monthly(OCTOBER, shard=shard, render_pdfs=False, send_mail=False, batch_size=3)
                db.session.remove()
        except BaseException as exc:  # pragma: no cover - shown by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(s,)) for s in (Shard(0, 2), Shard(1, 2), None)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors

    issued = invoices(app)
    with app.app_context():
        pc, ps = (db.session.execute(sa.select(BillingEntity.id).filter_by(code=c)).scalar_one()
                  for c in ("pieced", "pieced-services"))
    # One run of the whole month issues one PC invoice per org and a PS one for org-03's second tenant.
    expected = sorted([(o, str(pc)) for o in orgs] + [("org-03", str(ps))])
    assert sorted((o, e) for o, e, _n in issued) == expected  # each exactly once
    assert_gapless([n for _o, _e, n in issued])
    with app.app_context():
        counters = dict(db.session.execute(
            sa.select(InvoiceNumberCounter.billing_entity_id, InvoiceNumberCounter.last_number)).all())
        assert sorted(counters.values()) == [1, 16]  # no number was taken and lost
        runs = db.session.execute(sa.select(BillingRun.shard, BillingRun.orgs_total)).all()
        assert sorted(runs, key=str) == sorted([("0/2", sum(Shard(0, 2).owns(o) for o in orgs)),
                                                ("1/2", sum(Shard(1, 2).owns(o) for o in orgs)),
                                                (None, 16)], key=str)
        db.session.remove()


@pytest.mark.postgres
def test_an_org_whose_litellm_fails_is_reported_the_others_issued_and_a_rerun_issues_only_it(fresh_db):
    app = fresh_db.app
    seed(app, ["org-a", "org-b", "org-c"])
    with LiteLLMServer() as litellm, SmtpSink() as sink:
        app.config.update(sink.config(), LITELLM_URL=litellm.url, LITELLM_API_KEY=litellm.api_key)
        litellm.set_spend("org-a-main", "2026-10-05", "10.00")
        litellm.fail_team("org-b-main")

        first = run_cli(app)
        assert first.exit_code == 1, first.output
        assert [(o, n) for o, _e, n in invoices(app)] == [("org-a", f"PC-{Y}-0001"), ("org-c", f"PC-{Y}-0002")]
        failed = [line for line in first.output.splitlines() if line.startswith("  org-b: ")]
        assert failed and "LiteLLM" in failed[0] and "org-b-main" in failed[0], first.output
        assert "1 of 3 org(s) failed" in first.output
        with app.app_context():
            run = db.session.execute(sa.select(BillingRun)).scalar_one()
            assert run.status == "done_with_errors" and run.orgs_failed == 1
            assert [e["org"] for e in run.summary if e["status"] == "failed"] == ["org-b"]
            # org-a's LLM line: 10 USD × 1 CHF/USD (the seeded rate, no markup) = 10.00.
            a = db.session.execute(sa.select(Invoice).filter_by(zitadel_org_id="org-a")).scalar_one()
            assert [(line.kind, str(line.amount_chf)) for line in a.lines] == [("monthly_fee", "49.00"), ("llm", "10.00")]
            db.session.remove()

        litellm.fail_team("org-b-main", None)  # LiteLLM is back
        second = run_cli(app)
        assert second.exit_code == 0, second.output
        assert [(o, n) for o, _e, n in invoices(app)] == [
            ("org-a", f"PC-{Y}-0001"), ("org-c", f"PC-{Y}-0002"), ("org-b", f"PC-{Y}-0003")]
        assert f"org-b: issued PC-{Y}-0003" in second.output
        assert len(sink.messages) == 3


@pytest.mark.postgres
def test_a_run_killed_in_the_middle_leaves_no_gap_and_no_duplicate(fresh_db):
    app = fresh_db.app
    orgs = [f"org-{i:02d}" for i in range(6)]
    seed(app, orgs)
    with SmtpSink() as sink:
        app.config.update(sink.config())
        env = {**os.environ, **sink.env(), "DATABASE_URL": fresh_db.url, "PIECED_ENV": "testing",
               "LITELLM_URL": "", "STRIPE_API_KEY": "", "PYTHONUNBUFFERED": "1"}
        cmd = [str(Path(sys.executable).with_name("pieced-admin")), "billing", "run-monthly", "--month", "2026-10",
               "--batch-size", "2"]  # three transactions of two orgs each
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not invoices(app):
                time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)  # the first batch is committed, the next one is in flight
        finally:
            proc.wait(30)
        partial = invoices(app)
        assert 0 < len(partial) < len(orgs), "kill landed outside the run; make the run longer"
        assert_gapless([n for _o, _e, n in partial])

        again = run_cli(app)
        assert again.exit_code == 0, again.output
        final = invoices(app)
        assert sorted(o for o, _e, _n in final) == orgs  # each org once
        assert_gapless([n for _o, _e, n in final])
        assert final[:len(partial)] == partial  # what was issued before the kill stays as it was
        with app.app_context():
            sent = db.session.execute(sa.select(InvoiceEmail.status)).scalars().all()
            assert sent == ["sent"] * len(orgs)
            killed = db.session.execute(sa.select(BillingRun).order_by(BillingRun.id)).scalars().first()
            assert killed.status == "interrupted"  # its lock died with it: the next run marked it
            db.session.remove()
        assert {m["Subject"].split()[1] for m in sink.messages} == {n for _o, _e, n in final}


# --------------------------------------------------------------------------- both databases


def test_the_run_stores_what_issuing_by_hand_would(app, session, runner):
    """The batch path (COPY on PostgreSQL, multi-row INSERTs on SQLite) stores complete, consistent invoices."""
    from pieced_admin.billing.issuing import preview_invoices
    from pieced_admin.billing.serialize import invoice_json

    seed(app, ["org-a", "org-b"], split_org="org-b")
    previews = {(p.draft.org_id, p.entity.code): p.draft for o in ("org-a", "org-b")
                for p in preview_invoices(o, OCTOBER)}
    session.rollback()
    with SmtpSink() as sink:
        app.config.update(sink.config())
        result = runner.invoke(args=["billing", "run-monthly", "--month", "2026-10"])
        assert result.exit_code == 0, result.output
        assert len(sink.messages) == 3
    session.expire_all()
    issued = session.execute(sa.select(Invoice).order_by(Invoice.number)).scalars().all()
    assert [(i.number, i.zitadel_org_id, i.entity.code) for i in issued] == [
        (f"PC-{Y}-0001", "org-a", "pieced"), (f"PC-{Y}-0002", "org-b", "pieced"),
        (f"PS-{Y}-0001", "org-b", "pieced-services")]
    for invoice in issued:
        draft = previews[(invoice.zitadel_org_id, invoice.entity.code)]
        # 49.00 net, VAT round(49.00 × 8.1 %) = 3.97, total 52.97
        assert (invoice.net_chf, invoice.vat_chf, invoice.total_chf) == (draft.net_chf, draft.vat_chf, draft.total_chf)
        assert [(line.kind, line.quantity, line.amount_chf, line.position) for line in invoice.lines] == [
            (line.kind, line.quantity, line.amount_chf, line.position) for line in draft.lines]
        assert invoice.customer_snapshot["billing_email"] == f"billing@{invoice.zitadel_org_id}.example"
        assert invoice.entity_snapshot["iban"] and invoice.issued_by and invoice.status == "issued"
        assert invoice.issued_at.tzinfo is not None and invoice.due_date > invoice.issued_at.date()
        document = session.get(InvoiceDocument, invoice.id)
        assert hashlib.sha256(document.content).hexdigest() == invoice.pdf_sha256
        assert invoice_json(invoice)["total_chf"] == "52.97"
    audit = session.execute(sa.select(AuditLog.object_id).filter_by(action="invoice.issue")).scalars().all()
    assert sorted(audit) == [i.number for i in issued]


@pytest.mark.postgres
def test_an_org_the_qr_bill_cannot_carry_is_refused_before_numbering_and_the_numbers_close_up(app, session, runner):
    from pieced_admin.models import OrgBillingConfig

    seed(app, ["org-a", "org-b", "org-c"])
    org_b = session.execute(sa.select(OrgBillingConfig).filter_by(zitadel_org_id="org-b")).scalar_one()
    org_b.display_name = "B" * 80  # a QR-bill allows 70 characters for the debtor's name: no invoice
    session.commit()
    with SmtpSink() as sink:
        app.config.update(sink.config())
        first = runner.invoke(args=["billing", "run-monthly", "--month", "2026-10"])
        assert first.exit_code == 1
        assert "org-b: FAILED: org org-b's name is longer than the 70 characters a QR-bill can carry" in first.output
        numbers = session.execute(sa.select(Invoice.zitadel_org_id, Invoice.number).order_by(Invoice.number)).all()
        assert numbers == [("org-a", f"PC-{Y}-0001"), ("org-c", f"PC-{Y}-0002")]  # no number taken for org-b
        stored = session.execute(sa.select(InvoiceNumberCounter.last_number).filter_by(year=Y)).scalar_one()
        assert stored == 2

        org_b.display_name = "B AG"
        session.commit()
        second = runner.invoke(args=["billing", "run-monthly", "--month", "2026-10"])
        assert second.exit_code == 0, second.output
        assert f"org-b: issued PC-{Y}-0003" in second.output
        assert len(sink.messages) == 3


@pytest.mark.postgres
def test_an_invoice_whose_pdf_fails_after_numbering_is_not_sent_until_a_run_renders_it(app, session, runner,
                                                                                        monkeypatch):
    from pieced_admin.billing import pdf as pdfmod

    seed(app, ["org-a", "org-b"])
    real = pdfmod.invoice_pdf_parts

    def broken_for_org_b(invoice):
        if invoice.zitadel_org_id == "org-b":
            raise RuntimeError("renderer down")
        return real(invoice)

    with SmtpSink() as sink:
        app.config.update(sink.config())
        monkeypatch.setattr(pdfmod, "invoice_pdf_parts", broken_for_org_b)
        first = runner.invoke(args=["billing", "run-monthly", "--month", "2026-10"])
        assert first.exit_code == 1
        assert f"the PDF of invoice PC-{Y}-0002 could not be rendered: renderer down" in first.output
        session.expire_all()
        b = session.execute(sa.select(Invoice).filter_by(zitadel_org_id="org-b")).scalar_one()
        assert (b.number, b.pdf_sha256) == (f"PC-{Y}-0002", None)  # numbered, no PDF yet
        assert [m["Subject"].split()[1] for m in sink.messages] == [f"PC-{Y}-0001"]  # not sent without its PDF

        monkeypatch.setattr(pdfmod, "invoice_pdf_parts", real)
        second = runner.invoke(args=["billing", "run-monthly", "--month", "2026-10"])
        assert second.exit_code == 0, second.output
        session.expire_all()
        b = session.execute(sa.select(Invoice).filter_by(zitadel_org_id="org-b")).scalar_one()
        document = session.get(InvoiceDocument, b.id)
        assert b.pdf_sha256 and hashlib.sha256(document.content).hexdigest() == b.pdf_sha256
        assert sorted(m["Subject"].split()[1] for m in sink.messages) == [f"PC-{Y}-0001", f"PC-{Y}-0002"]
        assert [n for _o, _e, n in invoices(app)] == [f"PC-{Y}-0001", f"PC-{Y}-0002"]  # no new number


def test_an_entity_not_ready_for_swiss_invoices_fails_its_orgs_only(app, session):
    from pieced_admin.models import OrgBillingConfig

    seed(app, ["org-a", "org-b"])
    bare = make_entity("bare", prefix="BA", iban=None)
    session.execute(sa.update(OrgBillingConfig).filter_by(zitadel_org_id="org-b").values(billing_entity_id=bare.id))
    session.commit()
    report = run_monthly(OCTOBER, render_pdfs=False, send_mail=False)
    (failed,) = report.failed
    assert failed.org_id == "org-b"
    assert failed.errors == ["billing entity Entity bare (bare) has no IBAN for the QR-bill: "
                             "set it on the Entities page before issuing"]
    assert session.execute(sa.select(Invoice.zitadel_org_id, Invoice.number)).all() == [("org-a", f"PC-{Y}-0001")]


@pytest.mark.postgres
def test_a_run_killed_between_numbering_and_rendering_is_completed_by_the_next_run(fresh_db):
    """SIGKILL after the numbers are committed and before the PDFs are stored: the re-run renders them, no gap."""
    app = fresh_db.app
    orgs = [f"org-{i:02d}" for i in range(4)]
    seed(app, orgs)

    def numbered_without_pdf() -> int:
        with app.app_context():
            try:
                return db.session.execute(sa.select(sa.func.count()).select_from(Invoice)
                                          .where(Invoice.pdf_sha256.is_(None))).scalar_one()
            finally:
                db.session.remove()

    with SmtpSink() as sink:
        app.config.update(sink.config())
        env = {**os.environ, **sink.env(), "DATABASE_URL": fresh_db.url, "PIECED_ENV": "testing",
               "LITELLM_URL": "", "STRIPE_API_KEY": "", "PYTHONUNBUFFERED": "1"}
        cmd = [str(Path(sys.executable).with_name("pieced-admin")), "billing", "run-monthly", "--month", "2026-10",
               "--batch-size", "4"]  # one batch: numbered in one transaction, then rendered
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not numbered_without_pdf():
                time.sleep(0.01)
            proc.send_signal(signal.SIGKILL)  # the numbers are committed; the PDFs (fonts loading first) are not
        finally:
            proc.wait(30)
        partial = invoices(app)
        assert len(partial) == len(orgs)
        assert numbered_without_pdf() > 0, "kill landed after rendering; make the run longer"
        assert_gapless([n for _o, _e, n in partial])
        assert not sink.messages  # nothing was sent without its PDF

        again = run_cli(app)
        assert again.exit_code == 0, again.output
        assert invoices(app) == partial  # no new number, none lost
        assert numbered_without_pdf() == 0
        with app.app_context():
            for invoice in db.session.execute(sa.select(Invoice)).scalars():
                document = db.session.get(InvoiceDocument, invoice.id)
                assert hashlib.sha256(document.content).hexdigest() == invoice.pdf_sha256
            db.session.remove()
        assert sorted(m["Subject"].split()[1] for m in sink.messages) == sorted(n for _o, _e, n in partial)


def test_an_org_without_a_billing_address_is_issued_and_reported_not_e_mailed_not_failed(fresh_db):
    app = fresh_db.app
    seed(app, ["org-a", "org-b"], manual_org=None)
    with app.app_context():
        db.session.execute(sa.update(OrgBillingConfig).where(OrgBillingConfig.zitadel_org_id == "org-b")
                           .values(billing_email=None))
        db.session.commit()
        db.session.remove()
    with SmtpSink() as sink:
        app.config.update(sink.config())
        result = run_cli(app)
        # The invoice exists: the run did its job; the missing address is a warning for a person to fix.
        assert result.exit_code == 0, result.output
        assert [o for o, _e, _n in invoices(app)] == ["org-a", "org-b"]
        line = next(x for x in result.output.splitlines() if x.strip().startswith("org-b: "))
        assert "NOT E-MAILED" in line and "no billing e-mail address" in line, result.output
        assert len(sink.messages) == 1
    number_b = invoices(app)[1][2]
    with app.app_context():
        run = db.session.execute(sa.select(BillingRun)).scalar_one()
        assert (run.status, run.orgs_failed) == ("done", 0)
        entry = next(e for e in run.summary if e["org"] == "org-b")
        assert entry["status"] == "issued, not e-mailed" and entry["errors"] == []
        assert entry["not_emailed"][0]["number"] == number_b
        db.session.remove()
