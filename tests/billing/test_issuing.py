"""Issuing: the worked example end to end, idempotency, numbering, void, mark paid, audit."""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import (
    BillingInputError,
    InvoiceNotFoundError,
    issue_invoices,
    mark_paid,
    preview_invoices,
    void_invoice,
)
from pieced_admin.integrations.litellm import LiteLLMError
from pieced_admin.models import AuditLog, Invoice, InvoiceNumberCounter

from ..factories import (
    make_entity,
    make_org,
    make_tenant,
    set_pricing,
    spec_example,
    spec_pricing,
    suspension_event,
    threema_messages,
    zurich,
)
from ..peers.litellm_api import LiteLLMServer

OCT = Period(2026, 10)
NOV_3 = zurich(2026, 11, 3, 9, 30)  # the issue time used below


@pytest.fixture
def litellm(app):
    """A LiteLLM proxy with the worked example's spend (12.3456 USD in October for acme-main)."""
    with LiteLLMServer(api_key="sk-test") as server:
        server.set_spend("acme-main", "2026-10-12", "10.0000")
        server.set_spend("acme-main", "2026-10-28", "2.3456")
        server.set_spend("acme-main", "2026-11-01", "99")  # November: never billed in October
        app.config.update(LITELLM_URL=server.url, LITELLM_API_KEY="sk-test")
        yield server


def issue(org_id="org-acme", period=OCT, now=NOV_3):
    return issue_invoices(org_id, period, now=now, render_pdfs=None)


# --------------------------------------------------------------------------- the worked example

WORKED_EXAMPLE_LINES = [
    # Created 2026-10-10 09:00 local, in October: the setup fee once.
    ("setup_fee", None, "1", "99.00", "99.00"),
    # Oct 10–31 = 22 days, minus Oct 21–24 wholly suspended (suspended 20 Oct 12:00, resumed 25 Oct 08:00) = 18;
    # 49 × 18 / 31 = 28.4516… → 28.45
    ("monthly_fee", None, "18", "49.00", "28.45"),
    # searxng-local-search on since creation, live 18 days: 18 × 0.10 = 1.80
    ("skill", "searxng-local-search", "18", "0.10", "1.80"),
    # 12.3456 USD × 0.9 × (1 + 20/100) = 13.332… → 13.33 (shown rate 0.9 × 1.2 = 1.08 CHF/USD)
    ("llm", None, "12.3456", "1.08", "13.33"),
    # 1,234 messages × 0.005 = 6.17
    ("threema", None, "1234", "0.005", "6.17"),
]


def _check_worked_example(invoice_json):
    lines = [(l["kind"], l["skill_id"], l["quantity"], l["unit_price_chf"], l["amount_chf"])
             for l in invoice_json["lines"]]
    assert lines == WORKED_EXAMPLE_LINES
    assert all(l["tenant"] == "acme-main" for l in invoice_json["lines"])
    # net 99.00 + 28.45 + 1.80 + 13.33 + 6.17 = 148.75; VAT 148.75 × 8.10 % = 12.049… → 12.05; total 160.80
    assert (invoice_json["net_chf"], invoice_json["vat_rate"], invoice_json["vat_chf"], invoice_json["total_chf"]) == (
        "148.75", "8.10", "12.05", "160.80")
    assert invoice_json["currency"] == "CHF"
    assert invoice_json["org"] == "org-acme"
    assert invoice_json["period"] == "2026-10"


def test_worked_example_through_the_cli_json(session, runner, litellm):
    spec_example()
    session.commit()
    result = runner.invoke(args=["billing", "preview", "--org", "org-acme", "--month", "2026-10", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert list(payload) == ["invoices"]
    (invoice,) = payload["invoices"]
    assert list(invoice) == ["number", "org", "billing_entity", "period", "currency", "status", "lines", "net_chf",
                             "vat_rate", "vat_chf", "total_chf", "due_date", "warnings"]
    assert list(invoice["lines"][0]) == ["tenant", "kind", "skill_id", "description", "quantity",
                                         "unit_price_chf", "amount_chf"]
    assert invoice["number"] is None and invoice["status"] == "preview" and invoice["due_date"] is None
    assert invoice["billing_entity"] == "pieced"
    assert invoice["warnings"] == []
    _check_worked_example(invoice)
    # LiteLLM was asked for October's first to last day, for the tenant's team.
    (asked,) = litellm.asked("/team/daily/activity/aggregated")
    assert asked.params["team_ids"] == "acme-main"
    assert (asked.params["start_date"], asked.params["end_date"]) == ("2026-10-01", "2026-10-31")
    assert asked.authorization == "Bearer sk-test"


def test_worked_example_issued(session, litellm):
    spec_example()
    result = issue()
    (invoice,) = result.issued
    from pieced_admin.billing.serialize import invoice_json

    payload = invoice_json(invoice)
    _check_worked_example(payload)
    assert payload["number"] == "PC-2026-0001"
    assert payload["status"] == "issued"
    # issued 3 Nov 2026 + 30 days' platform terms = 3 Dec 2026
    assert payload["due_date"] == "2026-12-03"
    assert invoice.period_start == date(2026, 10, 1) and invoice.period_end == date(2026, 10, 31)
    assert invoice.issued_at == NOV_3
    assert invoice.customer_snapshot["name"] == "Acme AG"


# --------------------------------------------------------------------------- idempotency and zero net


def test_issuing_twice_returns_the_existing_invoice(session):
    spec_example()
    first = issue()
    second = issue(now=zurich(2026, 11, 5, 10))
    assert [i.number for i in first.issued] == ["PC-2026-0001"]
    assert second.issued == [] and [i.number for i in second.existing] == ["PC-2026-0001"]
    assert session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar() == 1
    counter = session.execute(sa.select(InvoiceNumberCounter.last_number)).scalar()
    assert counter == 1  # no number used up by the second call


def test_zero_net_is_not_issued_but_previewed(session):
    make_org("org-free")
    make_tenant("free-one", "org-free", zurich(2026, 9, 1))  # all prices are zero
    (item,) = preview_invoices("org-free", OCT)
    assert item.draft.net_chf == 0 and not item.issuable
    result = issue("org-free")
    assert result.issued == [] and len(result.skipped) == 1
    assert session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar() == 0


def test_unknown_org_is_refused(session):
    with pytest.raises(LookupError, match="unknown org"):
        issue("org-nobody")


# --------------------------------------------------------------------------- numbering


def test_numbers_are_per_entity_and_year_without_gaps(session):
    spec_pricing()
    services = make_entity("services", prefix="PS")
    for n in range(3):
        make_org(f"org-{n}")
        make_tenant(f"t-{n}", f"org-{n}", zurich(2026, 9, 1))
    make_org("org-s", entity=services)
    make_tenant("t-s", "org-s", zurich(2026, 9, 1))
    numbers = [issue(org).issued[0].number for org in ("org-0", "org-1", "org-s", "org-2")]
    assert numbers == ["PC-2026-0001", "PC-2026-0002", "PS-2026-0001", "PC-2026-0003"]


def test_the_year_is_the_local_year_of_issue(session):
    spec_pricing()
    make_org("org-ny")
    make_tenant("t-ny", "org-ny", zurich(2026, 11, 1))
    # 31 Dec 2026 23:30 UTC is already 1 Jan 2027 00:30 in Zurich
    (invoice,) = issue("org-ny", Period(2026, 12), now=datetime(2026, 12, 31, 23, 30, tzinfo=timezone.utc)).issued
    assert invoice.number == "PC-2027-0001"


def test_a_tenant_of_another_entity_gets_its_own_invoice(session):
    spec_pricing()
    services = make_entity("services", prefix="PS")
    make_org("org-mixed")
    make_tenant("main", "org-mixed", zurich(2026, 9, 1))
    make_tenant("moved", "org-mixed", zurich(2026, 9, 1), entity=services)
    result = issue("org-mixed")
    assert sorted(i.number for i in result.issued) == ["PC-2026-0001", "PS-2026-0001"]
    by_number = {i.number: {l.tenant_name for l in i.lines} for i in result.issued}
    assert by_number == {"PC-2026-0001": {"main"}, "PS-2026-0001": {"moved"}}  # never mixed


def test_moving_a_tenant_changes_only_later_invoices(session):
    spec_pricing()
    services = make_entity("services", prefix="PS")
    make_org("org-move")
    tenant = make_tenant("mover", "org-move", zurich(2026, 9, 1))
    (september,) = issue("org-move", Period(2026, 9), now=zurich(2026, 10, 2)).issued
    tenant.billing_entity_id = services.id
    session.flush()
    (october,) = issue("org-move", OCT).issued
    assert september.number.startswith("PC-") and october.number.startswith("PS-")
    session.expire_all()
    assert session.get(Invoice, september.id).billing_entity_id != services.id


# --------------------------------------------------------------------------- void


def test_void_keeps_the_number_and_frees_the_month(session):
    spec_example()
    (first,) = issue().issued
    void_invoice(first.number, "Wrong address")
    assert first.status == "void" and first.void_reason == "Wrong address" and first.voided_at is not None
    (second,) = issue(now=zurich(2026, 11, 4)).issued
    assert second.number == "PC-2026-0002"  # 0001 stays used by the void invoice
    assert {i.status for i in session.execute(sa.select(Invoice)).scalars()} == {"void", "issued"}


def test_void_needs_a_reason_and_an_unpaid_invoice(session):
    spec_example()
    (invoice,) = issue().issued
    with pytest.raises(BillingInputError, match="reason is required"):
        void_invoice(invoice.number, "  ")
    mark_paid(invoice.number, paid_on=date(2026, 11, 10), now=zurich(2026, 11, 20))
    with pytest.raises(BillingInputError, match="paid and cannot be voided"):
        void_invoice(invoice.number, "late")


def test_unknown_number_is_refused(session):
    with pytest.raises(InvoiceNotFoundError, match="unknown invoice number"):
        void_invoice("PC-2026-9999", "x")


# --------------------------------------------------------------------------- mark paid


def test_mark_paid_records_date_reference_method_and_user(session):
    spec_example()
    (invoice,) = issue().issued
    mark_paid(invoice.number, paid_on=date(2026, 11, 18), reference="CAMT-4711", now=zurich(2026, 11, 20, 9))
    assert invoice.status == "paid"
    assert invoice.paid_at == zurich(2026, 11, 18, 12)  # a past day is recorded at local noon
    assert invoice.payment_reference == "CAMT-4711"
    assert invoice.payment_method == "bank_transfer"
    assert invoice.paid_by


@pytest.mark.parametrize("paid_on,message", [
    (date(2026, 12, 1), "in the future"),
    (date(2026, 11, 1), "before the invoice was issued"),
])
def test_mark_paid_refuses_impossible_dates(session, paid_on, message):
    spec_example()
    (invoice,) = issue().issued
    with pytest.raises(BillingInputError, match=message):
        mark_paid(invoice.number, paid_on=paid_on, now=zurich(2026, 11, 20))
    assert invoice.status == "issued"


def test_mark_paid_refuses_paid_and_void_invoices(session):
    spec_example()
    (invoice,) = issue().issued
    mark_paid(invoice.number, now=zurich(2026, 11, 20))
    with pytest.raises(BillingInputError, match="already paid"):
        mark_paid(invoice.number, now=zurich(2026, 11, 21))
    make_org("org-v")
    make_tenant("tv", "org-v", zurich(2026, 9, 1))
    (other,) = issue("org-v").issued
    void_invoice(other.number, "duplicate")
    with pytest.raises(BillingInputError, match="void and cannot be paid"):
        mark_paid(other.number, now=zurich(2026, 11, 21))


def test_every_action_is_audited(session):
    spec_example()
    (invoice,) = issue().issued
    mark_paid(invoice.number, reference="R1", now=zurich(2026, 11, 20))
    actions = session.execute(
        sa.select(AuditLog.action).where(AuditLog.object_id == invoice.number).order_by(AuditLog.id)
    ).scalars().all()
    assert actions == ["invoice.issue", "invoice.mark_paid"]
    entry = session.execute(sa.select(AuditLog).filter_by(action="invoice.issue")).scalar_one()
    assert entry.after["total_chf"] == "148.75" or entry.after["total_chf"] == str(invoice.total_chf)


# --------------------------------------------------------------------------- usage sources


def test_litellm_failure_stops_issuing_and_names_litellm(session, litellm):
    spec_example()
    litellm.fail_team("acme-main", 500)
    with pytest.raises(LiteLLMError, match="LiteLLM"):
        issue()
    assert session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar() == 0


def test_litellm_failure_in_a_preview_is_a_warning(session, litellm):
    spec_example()
    litellm.fail_team("acme-main", 500)
    (item,) = preview_invoices("org-acme", OCT)
    assert [l.kind for l in item.draft.lines] == ["setup_fee", "monthly_fee", "skill", "threema"]
    assert any("LiteLLM" in w for w in item.draft.warnings)


def test_litellm_not_configured_is_a_warning_and_no_llm_line(session):
    spec_example()
    (item,) = preview_invoices("org-acme", OCT)
    assert "llm" not in [l.kind for l in item.draft.lines]
    assert "LiteLLM is not configured: LLM usage is not billed." in item.draft.warnings


def test_the_litellm_team_label_overrides_the_tenant_name(session, litellm):
    spec_pricing()
    make_org("org-team")
    make_tenant("teamed", "org-team", zurich(2026, 9, 1), litellm_team_id="team-42")
    litellm.set_spend("team-42", "2026-10-05", "10")
    (item,) = preview_invoices("org-team", OCT)
    (llm,) = [l for l in item.draft.lines if l.kind == "llm"]
    # 10 USD × 0.9 × 1.2 = 10.80
    assert llm.amount_chf == Decimal("10.80")


def test_threema_usage_counts_by_local_month(session):
    spec_pricing()
    make_org("org-edge")
    make_tenant("edge", "org-edge", zurich(2026, 9, 1))
    threema_messages("edge", 3, zurich(2026, 9, 30, 23, 59, 59))  # September, local
    threema_messages("edge", 5, zurich(2026, 10, 1, 0, 0))        # October's first instant
    threema_messages("edge", 7, zurich(2026, 10, 31, 23, 59, 59))  # October's last second
    threema_messages("edge", 11, zurich(2026, 11, 1, 0, 0))       # November
    (item,) = preview_invoices("org-edge", OCT)
    (threema,) = [l for l in item.draft.lines if l.kind == "threema"]
    # 5 + 7 = 12 messages × 0.005 = 0.06
    assert threema.quantity == 12 and threema.amount_chf == Decimal("0.06")


def test_due_date_follows_the_org_terms(session):
    spec_pricing()
    set_pricing(payment_terms_days=45)
    make_org("org-terms", payment_terms_days=10)
    make_tenant("terms", "org-terms", zurich(2026, 9, 1))
    make_org("org-default-terms")
    make_tenant("default-terms", "org-default-terms", zurich(2026, 9, 1))
    (own,) = issue("org-terms").issued
    (platform,) = issue("org-default-terms").issued
    assert own.due_date == date(2026, 11, 13)       # 3 Nov + 10 days
    assert platform.due_date == date(2026, 12, 18)  # 3 Nov + 45 days


def test_suspension_reduces_the_amount(session):
    spec_pricing()
    make_org("org-s")
    make_tenant("s", "org-s", zurich(2026, 9, 1))
    suspension_event("s", "suspended", zurich(2026, 10, 11, 0, 0))
    (item,) = preview_invoices("org-s", OCT)
    (fee,) = [l for l in item.draft.lines if l.kind == "monthly_fee"]
    # live Oct 1–10 = 10 days: 49 × 10 / 31 = 15.806… → 15.81
    assert (fee.quantity, fee.amount_chf) == (10, Decimal("15.81"))


def test_an_entity_without_iban_or_address_cannot_issue_and_the_preview_says_so(session):
    spec_example()
    entity = make_entity("bare", prefix="BA", iban=None, street=None)
    from pieced_admin.models import OrgBillingConfig

    session.execute(sa.update(OrgBillingConfig).values(billing_entity_id=entity.id))
    (item,) = preview_invoices("org-acme", OCT)
    assert any("has no IBAN" in w and "Entities page" in w for w in item.draft.warnings)
    assert any("no complete address" in w for w in item.draft.warnings)
    with pytest.raises(BillingInputError, match="has no IBAN"):
        issue()
    assert session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar() == 0
    assert session.execute(sa.select(sa.func.count()).select_from(InvoiceNumberCounter)).scalar() == 0
