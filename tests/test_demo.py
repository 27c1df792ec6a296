"""`pieced-admin demo` loads believable data once: orgs, tenants, events, usage, pricing, and three months
of invoices (most older ones paid, a few open or overdue, one voided and issued again)."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from datetime import date
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from pieced_admin.models import (
    AuditLog,
    BillingEntity,
    Invoice,
    InvoiceDocument,
    OrgBillingConfig,
    SkillPricing,
    TenantLifecycle,
    TenantSkillEvent,
    TenantSuspensionEvent,
    TenantUsage,
)

ZURICH = ZoneInfo("Europe/Zurich")


def _count(session, model, *where):
    return session.execute(sa.select(sa.func.count()).select_from(model).where(*where)).scalar_one()


def test_demo_loads_what_every_page_needs_once(runner, session):
    result = runner.invoke(args=["demo", "--today", "2026-11-21"])
    assert result.exit_code == 0, result.output
    assert "Loaded demo data" in result.output
    assert _count(session, BillingEntity) == 2
    assert _count(session, OrgBillingConfig) == 6
    assert _count(session, OrgBillingConfig, OrgBillingConfig.country.notin_(["CH", "LI"])) == 1
    assert _count(session, TenantLifecycle) == 15
    assert _count(session, SkillPricing, SkillPricing.daily_price_chf > 0) == 5
    assert _count(session, TenantSkillEvent, TenantSkillEvent.event_kind == "disabled") > 0
    assert _count(session, TenantSuspensionEvent) > 0
    assert _count(session, TenantUsage) > 100
    # history covers the last three months
    oldest = session.execute(sa.select(sa.func.min(TenantLifecycle.created_at))).scalar_one()
    assert oldest.date() < date(2026, 8, 21)
    # a tenant billed by an entity other than its org's
    assert _count(session, TenantLifecycle, TenantLifecycle.billing_entity_id.isnot(None)) >= 1

    _check_invoices(session)

    # A second run changes nothing.
    before = (_count(session, TenantSkillEvent), _count(session, Invoice))
    result = runner.invoke(args=["demo"])
    assert result.exit_code == 0
    assert "already loaded" in result.output
    assert (_count(session, TenantSkillEvent), _count(session, Invoice)) == before


def _check_invoices(session):
    invoices = list(session.execute(sa.select(Invoice).order_by(Invoice.id)).scalars())
    # August, September and October 2026 for every org (six, one org with a second entity from October)
    assert {i.period_key for i in invoices} == {"2026-08", "2026-09", "2026-10"}
    assert {i.zitadel_org_id for i in invoices} == {
        "org-acme", "org-bergbahn", "org-helvetia-legal", "org-alpenbank", "org-isar-robotics", "org-zuger-pflege"}
    # Issued by the monthly run on the 1st to 3rd of the following month (the reissue a few days later).
    for inv in invoices:
        issued = inv.issued_at.astimezone(ZURICH).date()
        assert issued.month == inv.period_start.month % 12 + 1 and 1 <= issued.day <= 7, inv.number
    statuses = Counter(i.status for i in invoices)
    assert statuses["void"] == 1 and statuses["paid"] >= 8 and statuses["issued"] >= 5, statuses
    void = next(i for i in invoices if i.status == "void")
    assert void.void_reason and void.voided_by
    reissue = [i for i in invoices if i.zitadel_org_id == void.zitadel_org_id and i.period_start == void.period_start
               and i.status != "void"]
    assert len(reissue) == 1 and reissue[0].number != void.number
    paid = [i for i in invoices if i.status == "paid"]
    assert all(i.payment_reference and i.paid_at.date() < date(2026, 11, 21) for i in paid)
    assert {i.payment_method for i in paid} >= {"bank_transfer"}
    # some open invoices are overdue on 21.11.2026, some are not yet due
    open_ = [i for i in invoices if i.status == "issued"]
    assert any(i.due_date < date(2026, 11, 21) for i in open_)
    assert any(i.due_date >= date(2026, 11, 21) for i in open_)
    # the card org's open invoice found no card
    assert any(i.charge_status == "no_payment_method" for i in open_)
    # numbers without gaps per entity and year
    by_prefix = defaultdict(list)
    for inv in invoices:
        prefix, year, seq = inv.number.rsplit("-", 2)
        by_prefix[(prefix, year)].append(int(seq))
    for seqs in by_prefix.values():
        assert sorted(seqs) == list(range(1, len(seqs) + 1))
    # every invoice has its PDF, and its hash is the one recorded
    docs = dict(session.execute(sa.select(InvoiceDocument.invoice_id, InvoiceDocument.content)).all())
    for inv in invoices:
        assert hashlib.sha256(docs[inv.id]).hexdigest() == inv.pdf_sha256
    # the audit log tells the story at the times it happened in it
    issue_times = dict(session.execute(
        sa.select(AuditLog.object_id, AuditLog.occurred_at).where(AuditLog.action == "invoice.issue")).all())
    assert all(issue_times[i.number] == i.issued_at for i in invoices)


def test_demo_rejects_a_bad_date(runner):
    result = runner.invoke(args=["demo", "--today", "21.11.2026"])
    assert result.exit_code == 2
    assert "--today must be a date" in result.output
