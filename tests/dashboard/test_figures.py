"""The dashboard's figures on fixed dates, with the arithmetic written out."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from pieced_admin.billing.days import Period
from pieced_admin.dashboard.chart import Series, nice_step, stacked_bars
from pieced_admin.dashboard.services import (
    issued_this_month,
    most_overdue,
    needs_attention,
    receivables,
    revenue_by_month,
)
from pieced_admin.models import OrgPaymentMethod

from ..factories import default_entity, make_entity, make_org, zurich
from ..invoices.support import make_invoice

TODAY = date(2026, 11, 21)
D = Decimal


def test_receivables_by_age_on_fixed_dates(session):
    org = make_org("org-acme")
    # Totals with 8.10 % VAT: net 100 → 108.10, 200 → 216.20, 300 → 324.30, 400 → 432.40, 500 → 540.50, 600 → 648.60
    cases = [
        ("PC-2026-0001", date(2026, 11, 21), "100.00"),  # due today: not yet due
        ("PC-2026-0002", date(2026, 12, 20), "200.00"),  # not yet due
        ("PC-2026-0003", date(2026, 11, 20), "300.00"),  # 1 day overdue
        ("PC-2026-0004", date(2026, 10, 22), "400.00"),  # 30 days (22.10. → 21.11.): 1–30
        ("PC-2026-0005", date(2026, 10, 21), "500.00"),  # 31 days: 31–60
        ("PC-2026-0006", date(2026, 9, 22), "600.00"),   # 60 days (8 in Sep + 31 + 21): 31–60
        ("PC-2026-0007", date(2026, 9, 21), "50.00"),    # 61 days: over 60 → 54.05
    ]
    for n, (number, due, net) in enumerate(cases):
        make_invoice(org, number=number, period=Period(2025, n + 1), due=due, net=net)
    make_invoice(org, number="PC-2026-0008", period=Period(2024, 1), due=date(2026, 1, 1), status="paid")  # not open
    make_invoice(org, number="PC-2026-0009", period=Period(2024, 2), due=date(2026, 1, 1), status="void")  # not open

    r = receivables(TODAY)
    got = {b.key: (b.count, b.amount) for b in r.buckets}
    assert got == {
        "not_due": (2, D("324.30")),   # 108.10 + 216.20
        "1-30": (2, D("756.70")),      # 324.30 + 432.40
        "31-60": (2, D("1189.10")),    # 540.50 + 648.60
        "61+": (1, D("54.05")),
    }
    # open = 324.30 + 756.70 + 1189.10 + 54.05 = 2324.15; overdue = open − not yet due = 1999.85
    assert (r.open_count, r.open_amount) == (7, D("2324.15"))
    assert (r.overdue_count, r.overdue_amount) == (5, D("1999.85"))
    assert [b.share for b in r.buckets] == [14, 33, 51, 2]  # 324.30 / 2324.15 = 13.95 % → 14, …
    assert [b.args for b in r.buckets] == [{"status": "not_due"}, {"status": "overdue", "aging": "1-30"},
                                           {"status": "overdue", "aging": "31-60"},
                                           {"status": "overdue", "aging": "61+"}]
    assert [(o.number, o.days_overdue) for o in most_overdue(TODAY, limit=3)] == [
        ("PC-2026-0007", 61), ("PC-2026-0006", 60), ("PC-2026-0005", 31)]


def test_revenue_per_month_and_entity(session):
    ch = default_entity()
    services = make_entity("pieced-services", prefix="PS", name="PieCed Services GmbH")
    org = make_org("org-acme")
    make_invoice(org, entity=ch, period=Period(2026, 9), issued=zurich(2026, 10, 1, 6), net="100.00")
    make_invoice(org, entity=ch, period=Period(2026, 8), issued=zurich(2026, 10, 2, 6), net="50.50", status="paid")
    make_invoice(org, entity=services, period=Period(2026, 9), issued=zurich(2026, 10, 3, 6), net="70.00")
    # 31.10. 23:30 local is still October (22:30 UTC, after the change back to CET on 25.10.)
    make_invoice(org, entity=services, period=Period(2026, 7), issued=zurich(2026, 10, 31, 23, 30), net="5.00")
    # 1.11. 00:30 local (31.10. 23:30 UTC) is November
    make_invoice(org, entity=ch, period=Period(2026, 10), issued=zurich(2026, 11, 1, 0, 30), net="200.00")
    make_invoice(org, entity=ch, period=Period(2026, 6), issued=zurich(2026, 11, 2), net="999.00", status="void")
    # December 2025 is the first of the 12 months; November 2025 is outside them
    make_invoice(org, entity=ch, period=Period(2025, 11), issued=zurich(2025, 12, 1, 0, 0), net="10.00")
    make_invoice(org, entity=ch, period=Period(2025, 10), issued=zurich(2025, 11, 30, 23, 59), net="20.00")

    rev = revenue_by_month(TODAY)
    assert [m.period.key for m in rev.months] == [Period(2025, 12).key] + [f"2026-{m:02d}" for m in range(1, 12)]
    by_month = {m.period.key: {e: v for e, v in m.by_entity.items()} for m in rev.months if m.by_entity}
    assert by_month == {
        "2025-12": {ch.id: D("10.00")},
        "2026-10": {ch.id: D("150.50"), services.id: D("75.00")},   # 100.00 + 50.50 (paid counts); 70.00 + 5.00
        "2026-11": {ch.id: D("200.00")},                            # the void 999.00 does not
    }
    assert rev.total == D("435.50")  # 10 + 150.50 + 75 + 200
    assert [e.code for e in rev.entities] == ["pieced", "pieced-services"]
    # The chart: one stacked bar per month with revenue; the tallest, October (225.50), under a 250 top tick.
    assert rev.chart.maximum == D("250")
    assert len(rev.chart.bars) == 4
    october = [b for b in rev.chart.bars if "October 2026" in b.title]
    assert [b.title for b in october] == ["October 2026 · PieCed: CHF 150.50 net",
                                          "October 2026 · PieCed Services GmbH: CHF 75.00 net"]
    assert october[0].link == {"issued": "2026-10", "entity": "pieced"}  # the invoice list behind it


def test_issued_this_month_leaves_void_out(session):
    org = make_org("org-acme")
    make_invoice(org, period=Period(2026, 10), issued=zurich(2026, 11, 1, 0, 30), net="100.00")
    make_invoice(org, period=Period(2026, 9), issued=zurich(2026, 11, 20), net="200.00", status="paid")
    make_invoice(org, period=Period(2026, 8), issued=zurich(2026, 11, 5), net="300.00", status="void")
    make_invoice(org, period=Period(2026, 7), issued=zurich(2026, 10, 31, 23, 59), net="400.00")  # October
    month = issued_this_month(TODAY)
    # 108.10 + 216.20 = 324.30 total; net 300.00; one void apart
    assert (month.count, month.total, month.net, month.void_count) == (2, D("324.30"), D("300.00"), 1)


def test_needs_attention(app, session):
    app.config.update(LITELLM_URL="", USAGE_INGEST_TOKEN="")
    make_org("org-complete")
    make_org("org-no-mail", display_name="No Mail AG", billing_email=None)
    make_org("org-no-address", display_name="No Address AG", street=" ", city=None)
    make_org("org-card", display_name="Card AG", pay_by_invoice=False)
    with_card = make_org("org-card-ok", display_name="Card OK AG", pay_by_invoice=False)
    session.add(OrgPaymentMethod(zitadel_org_id=with_card.zitadel_org_id, stripe_payment_method_id="pm_1",
                                 brand="visa", last4="4242", exp_month=12, exp_year=2030, is_default=True))
    make_invoice("org-card", number="PS-2026-0001", charge_status="no_payment_method",
                 charge_message="No card on file", net="10.00")
    make_invoice("org-card", number="PS-2026-0002", period=Period(2026, 9), charge_status="no_payment_method",
                 status="paid")  # settled since: nothing to do
    session.flush()

    a = needs_attention(TODAY)
    assert [(o.name, o.problems) for o in a.orgs_incomplete] == [
        ("No Address AG", ["no postal address"]), ("No Mail AG", ["no billing e-mail"])]
    assert a.orgs_incomplete_count == 2
    assert [o.org_id for o in a.card_orgs_without_card] == ["org-card"]
    assert [(c.number, c.charge_status) for c in a.charges] == [("PS-2026-0001", "no_payment_method")]
    sources = " ".join(s.message for s in a.sources)
    assert "LiteLLM is not configured" in sources
    assert "USAGE_INGEST_TOKEN is not set" in sources
    assert not a.empty


def test_nothing_needs_attention_when_all_is_configured(app, session):
    app.config.update(LITELLM_URL="http://litellm.example", USAGE_INGEST_TOKEN="x")
    make_org("org-complete")
    a = needs_attention(TODAY)
    assert a.empty


@pytest.mark.parametrize("maximum,step", [("0", "1"), ("9", "2"), ("225.50", "50"), ("1000", "200"),
                                          ("1001", "500"), ("98765", "20000")])
def test_nice_steps(maximum, step):
    assert nice_step(D(maximum)) == D(step)


def test_stacked_bars_are_proportional():
    chart = stacked_bars([("Oct", ""), ("Nov", "")],
                         [Series("a", "A", (D("100"), D("0"))), Series("b", "B", (D("50"), D("200")))],
                         width=400, height=244)
    # plot height 244 − 26 − 44 = 174 px for 0…200 (step 50): 0.87 px per franc
    a_oct, b_oct, b_nov = chart.bars
    assert (a_oct.height, b_oct.height, b_nov.height) == (D("87.0"), D("43.5"), D("174.0"))
    assert b_oct.y + b_oct.height == a_oct.y          # B sits on A
    assert a_oct.y + a_oct.height == chart.bottom     # A sits on the axis
    assert [t.label for t in chart.ticks] == ["0", "50", "100", "150", "200"]
    assert [(i.label, i.total) for i in chart.legend] == [("A", D("100")), ("B", D("250"))]
