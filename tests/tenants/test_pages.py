"""The tenant list and tenant page, for both roles, from the event log (and Kubernetes when configured)."""

from __future__ import annotations

import calendar
import re
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from pieced_admin.billing.money import format_chf, q2
from pieced_admin.models import (
    BillingEntity,
    OrgBillingConfig,
    PlatformPricing,
    SkillPricing,
    TenantLifecycle,
    TenantSkillEvent,
    TenantSuspensionEvent,
)
from pieced_admin.models.types import utcnow

from ..sqlcount import count_statements
from .conftest import tenant, utc

pytestmark = pytest.mark.timeout(60)


def seed(session, name, org="org-acme", created=utc(2026, 10, 10, 7), packages=(), suspended_at=None,
         deleted_at=None, entity_id=None, namespace="tenants", toggles=0):
    session.add(TenantLifecycle(tenant_name=name, zitadel_org_id=org, created_at=created, deleted_at=deleted_at,
                                billing_entity_id=entity_id, namespace=namespace))
    session.flush()
    for skill in packages:
        session.add(TenantSkillEvent(tenant_name=name, skill_id=skill, event_kind="enabled", occurred_at=created,
                                     source="backfill"))
    for n in range(toggles):  # extra history: off and on again, ending on
        at = created + timedelta(hours=n + 1)
        session.add(TenantSkillEvent(tenant_name=name, skill_id="extra", event_kind="disabled" if n % 2 else "enabled",
                                     occurred_at=at, source="watch"))
    if suspended_at:
        session.add(TenantSuspensionEvent(tenant_name=name, event_kind="suspended", occurred_at=suspended_at,
                                          source="watch"))
    session.flush()


@pytest.fixture
def log(session):
    """Four tenants of two orgs: live, suspended, deleted, and one billed by another entity."""
    other = BillingEntity(code="pieced-li", name="PieCed Liechtenstein", invoice_prefix="PL", country="LI")
    session.add_all([other, OrgBillingConfig(zitadel_org_id="org-acme", display_name="Acme AG")])
    session.flush()
    seed(session, "acme-main", packages=["searxng-local-search", "chat"])
    seed(session, "acme-lab", packages=["chat"], suspended_at=utc(2026, 10, 20, 10))
    seed(session, "acme-old", deleted_at=utc(2026, 10, 15, 12))
    seed(session, "zurich-bot", org="org-zh", created=utc(2026, 10, 25, 23, 30), entity_id=other.id)
    session.commit()
    return other


def _rows(html: str) -> list[str]:
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in body.split("</tr>") if "<td" in row]


def test_list_shows_org_entity_state_packages_and_local_creation(log, admin_client):
    resp = admin_client.get("/tenants")
    assert resp.status_code == 200
    rows = _rows(resp.get_data(as_text=True))
    assert rows == [
        "acme-lab Acme AG pieced suspended chat 10.10.2026 09:00",
        "acme-main Acme AG pieced live chat, searxng-local-search 10.10.2026 09:00",
        "acme-old Acme AG pieced deleted none 10.10.2026 09:00",
        # 23:30 UTC on 25 October (after the switch to winter time) is 00:30 local on the 26th.
        "zurich-bot org-zh pieced-li (tenant) live none 26.10.2026 00:30",
    ]
    assert "Backfill from Kubernetes" in resp.get_data(as_text=True)


def test_list_filters_search_and_pages(log, admin_client, session):
    names = lambda **q: [r.split()[0] for r in _rows(admin_client.get("/tenants", query_string=q).get_data(as_text=True))]  # noqa: E731
    assert names(org="org-zh") == ["zurich-bot"]
    assert names(state="suspended") == ["acme-lab"]
    assert names(state="deleted") == ["acme-old"]
    assert names(state="live") == ["acme-main", "zurich-bot"]
    assert names(q="MAIN") == ["acme-main"]
    assert names(q="acme", state="live") == ["acme-main"]
    nothing = admin_client.get("/tenants", query_string={"q": "nope"}).get_data(as_text=True)
    assert "No tenant matches these filters." in nothing

    for n in range(30):
        seed(session, f"bulk-{n:02d}", org="org-bulk")
    session.commit()
    first = admin_client.get("/tenants", query_string={"org": "org-bulk"}).get_data(as_text=True)
    assert "30 tenants · page 1 of 2" in first and len(_rows(first)) == 25
    second = admin_client.get("/tenants", query_string={"org": "org-bulk", "page": 2}).get_data(as_text=True)
    assert [r.split()[0] for r in _rows(second)] == [f"bulk-{n:02d}" for n in range(25, 30)]

    partial = admin_client.get("/tenants", query_string={"state": "deleted"}, headers={"HX-Request": "true"})
    assert partial.get_data(as_text=True).lstrip().startswith('<div id="tenant-list">')


def test_list_statement_count_does_not_grow_with_rows(log, admin_client, session):
    admin_client.get("/tenants")  # warm up (first-request work)
    session.commit()  # both measured requests start from a committed session
    with count_statements() as few:
        admin_client.get("/tenants")
    for n in range(20):
        seed(session, f"more-{n:02d}", org=f"org-{n}", packages=["chat", "voice"], toggles=3,
             suspended_at=utc(2026, 10, 21) if n % 2 else None)
    session.commit()
    with count_statements() as many:
        resp = admin_client.get("/tenants")
    assert len(_rows(resp.get_data(as_text=True))) == 24
    assert many.count == few.count, (few.statements, many.statements)


def test_finance_sees_the_pages_without_actions(log, finance_client, app, kube):
    kube.create(tenant("acme-main", "org-acme", ["searxng-local-search", "chat"], created=utc(2026, 10, 10, 7)))
    listing = finance_client.get("/tenants").get_data(as_text=True)
    assert "acme-main" in listing and "Backfill from Kubernetes" not in listing

    page = finance_client.get("/tenants/acme-main")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Billing timeline" in html and "In Kubernetes" in html and "Month to date" in html
    for action in ("Enable package", "Disable", "Suspend tenant", "Resume tenant", "Save billing entity"):
        assert action not in html


def test_detail_timeline_in_local_time_and_the_cr(log, admin_client, kube, session):
    session.add(TenantSuspensionEvent(tenant_name="acme-main", event_kind="suspended",
                                      occurred_at=utc(2026, 10, 20, 10), source="app"))
    session.add(TenantSuspensionEvent(tenant_name="acme-main", event_kind="resumed",
                                      occurred_at=utc(2026, 10, 25, 7), source="watch"))
    session.commit()
    obj = kube.create(tenant("acme-main", "org-acme", ["searxng-local-search", "chat"], created=utc(2026, 10, 10, 7)))

    resp = admin_client.get("/tenants/acme-main")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200

    timeline = _rows(html.split('id="tenant-timeline"', 1)[1])
    assert timeline == [
        "10.10.2026 09:00:00 Created",
        "10.10.2026 09:00:00 Skill enabled searxng-local-search backfill",
        "10.10.2026 09:00:00 Skill enabled chat backfill",
        "20.10.2026 12:00:00 Suspended app",  # 10:00 UTC is 12:00 in Zurich (summer time)
        "25.10.2026 08:00:00 Resumed watch",  # 07:00 UTC is 08:00 (winter time from 25 October)
    ]
    cr = html.split('id="tenant-cr"', 1)[1].split("</div>", 1)[0]
    assert "searxng-local-search, chat" in cr  # spec.packages, in the CR's order
    assert obj["metadata"]["resourceVersion"] in cr
    for action in ("Enable package", "Suspend tenant", "Save billing entity"):
        assert action in html



def test_detail_month_to_date_charges(log, admin_client, session, no_kube):
    # Pricing: 49.00 a month, searxng-local-search 0.10 a day, VAT 8.10 % (org in CH).
    session.get(PlatformPricing, 1).tenant_monthly_fee_chf = Decimal("49.00")
    session.add(SkillPricing(skill_id="searxng-local-search", daily_price_chf=Decimal("0.10")))
    seed(session, "acme-now", created=utcnow() - timedelta(days=40), packages=["searxng-local-search", "chat"])
    session.commit()

    html = admin_client.get("/tenants/acme-now").get_data(as_text=True)

    # Created 40 days ago: live on every local day of this month so far, today included.
    today = utcnow().astimezone(ZoneInfo("Europe/Zurich")).date()
    days, month_days = today.day, calendar.monthrange(today.year, today.month)[1]
    monthly = q2(Decimal("49.00") * days / month_days)  # 49 × days so far / days in the month
    skill = q2(Decimal("0.10") * days)  # 0.10 × days; chat has no price, so no line
    net = monthly + skill
    vat = q2(net * Decimal("8.10") / 100)
    charges = html.split('id="tenant-charges"', 1)[1].split("</section>", 1)[0]
    assert f"Monthly fee ({days} of {month_days} days)" in charges
    assert f"Skill searxng-local-search ({days} day" in charges
    assert "Skill chat" not in charges
    assert f'<td class="num" id="charges-net">{format_chf(net)}</td>' in charges
    assert f'<td class="num" id="charges-total">{format_chf(net + vat)}</td>' in charges
    assert "LiteLLM is not configured" in charges


def test_detail_works_from_the_log_when_kubernetes_is_not_configured(log, admin_client, no_kube):
    html = admin_client.get("/tenants/acme-lab").get_data(as_text=True)
    assert "Kubernetes is not configured" in html
    assert "Suspended" in html and "Month to date" in html
    assert "Package and suspension changes need Kubernetes" in html


def test_detail_names_kubernetes_when_unreachable(log, admin_client, app, kube_server):
    app.config["KUBE_API_HOST"] = url = kube_server.url
    kube_server.stop()
    html = admin_client.get("/tenants/acme-main").get_data(as_text=True)
    assert f"Kubernetes API unreachable at {url}" in html
    assert "Billing timeline" in html


def test_detail_statement_count_does_not_grow_with_events(log, admin_client, session, no_kube):
    admin_client.get("/tenants/acme-main")
    session.commit()
    with count_statements() as few:
        admin_client.get("/tenants/acme-main")
    for n in range(40):
        session.add(TenantSkillEvent(tenant_name="acme-main", skill_id=f"skill-{n % 5}",
                                     event_kind="enabled" if n % 2 == 0 else "disabled",
                                     occurred_at=utc(2026, 10, 11) + timedelta(hours=n), source="watch"))
    session.commit()
    with count_statements() as many:
        admin_client.get("/tenants/acme-main")
    assert many.count == few.count


def test_unknown_tenant_is_404(admin_client, session):
    assert admin_client.get("/tenants/nobody-here").status_code == 404
