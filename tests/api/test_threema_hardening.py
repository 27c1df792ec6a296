"""`POST /api/usage/threema` against hostile or mistaken input: per-record 400s with good records kept,
late usage kept and flagged, bounded JSON depth, a malformed Authorization header is a 401."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pieced_admin import clock
from pieced_admin.billing.days import Period
from pieced_admin.billing.issuing import issue_invoices
from pieced_admin.models import TenantUsage

from ..factories import make_org, make_tenant, spec_example, zurich

TOKEN = {"Authorization": "Bearer test-ingest-token"}
NOW = "2026-11-15T10:00:00+01:00"


def fake_pdf(invoices):
    """A stand-in PDF renderer (the PDF itself is tested elsewhere)."""
    return [f"%PDF-1.4 {inv.number}".encode() for inv in invoices]


@pytest.fixture(autouse=True)
def _now():
    with clock.pinned(NOW):
        yield


@pytest.fixture
def tenant(session):
    make_org("org-t")
    make_tenant("bridge-tenant", "org-t", zurich(2026, 9, 1))
    session.commit()


def _ids(session):
    return sorted(session.execute(sa.select(TenantUsage.external_id)).scalars())


def _rec(mid, sent_at, tenant="bridge-tenant"):
    return {"tenant": tenant, "message_id": mid, "sent_at": sent_at}


@pytest.mark.parametrize("sent_at, says", [
    ("0001-01-01T00:00:00+05:00", "outside the range"),
    ("9999-12-31T23:59:59-05:00", "outside the range"),
    ("9999-12-31T23:59:59Z", "outside the range"),
    ("2099-01-01T00:00:00Z", "in the future"),
    ("2026-11-15T09:11:00Z", "in the future"),  # 11 minutes ahead of 10:00 +01:00
    ("1970-01-01T00:00:00Z", "before tenant 'bridge-tenant' was created"),
    ("2026-08-30T21:59:59Z", "before tenant 'bridge-tenant' was created"),  # a day and a second before
])
def test_an_impossible_sent_at_is_refused_by_record_and_the_good_ones_kept(client, session, tenant, sent_at, says):
    batch = [_rec("good-1", "2026-11-10T08:00:00Z"), _rec("bad", sent_at), _rec("good-2", "2026-11-15T09:09:00Z")]
    resp = client.post("/api/usage/threema", headers=TOKEN, json=batch)
    assert resp.status_code == 400
    body = resp.get_json()
    assert (body["accepted"], body["rejected"]) == (2, 1)
    (error,) = body["errors"]
    assert error["index"] == 1 and error["message_id"] == "bad"
    assert says in error["error"]
    assert _ids(session) == ["good-1", "good-2"]


def test_usage_within_a_day_before_creation_is_kept(client, session, tenant):
    # SPEC §3: usage is billed in its month even outside the tenant's life (UTC buckets, clock skew).
    resp = client.post("/api/usage/threema", headers=TOKEN, json=_rec("early", "2026-08-31T12:00:00Z"))
    assert resp.status_code == 200
    assert _ids(session) == ["early"]


def test_usage_for_a_month_already_invoiced_is_kept_and_flagged(client, session, runner):
    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=fake_pdf).issued
    session.commit()
    batch = [_rec("late-1", "2026-10-31T12:00:00Z", "acme-main"), _rec("on-time", "2026-11-02T12:00:00Z", "acme-main")]
    resp = client.post("/api/usage/threema", headers=TOKEN, json=batch)
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["accepted"] == 2
    assert [(l["message_id"], l["invoice"]) for l in body["late"]] == [("late-1", invoice.number)]

    flagged = dict(session.execute(sa.select(TenantUsage.external_id, TenantUsage.late_invoice_id)
                                   .where(TenantUsage.external_id.in_(["late-1", "on-time"]))).all())
    assert flagged == {"late-1": invoice.id, "on-time": None}

    result = runner.invoke(args=["billing", "verify", "--month", "2026-10"])
    assert result.exit_code == 1
    assert (f"{invoice.number} (org-acme 2026-10): late usage: 1 Threema message(s) of acme-main "
            f"arrived after issue and are not billed") in result.output


def test_late_usage_needs_attention_on_the_dashboard(client, session, login):
    spec_example()
    (invoice,) = issue_invoices("org-acme", Period(2026, 10), now=zurich(2026, 11, 3), render_pdfs=fake_pdf).issued
    session.commit()
    client.post("/api/usage/threema", headers=TOKEN, json=_rec("late-1", "2026-10-31T12:00:00Z", "acme-main"))
    login("admin")
    page = client.get("/").get_data(as_text=True)
    assert "Late usage" in page
    assert f"1 Threema message for months already invoiced ({invoice.number})" in page


def test_deeply_nested_json_is_a_400_not_a_500(client, session, tenant):
    body = "[" * 100_000 + "]" * 100_000
    resp = client.post("/api/usage/threema", headers=TOKEN, data=body, content_type="application/json")
    assert resp.status_code == 400
    assert "deeper" in resp.get_json()["error"]
    nested = {"tenant": "bridge-tenant", "message_id": {"a": [[[[[[[[1]]]]]]]]}, "sent_at": "2026-11-10T08:00:00Z"}
    assert client.post("/api/usage/threema", headers=TOKEN, json=nested).status_code == 400
    # Brackets inside strings are text, not nesting.
    ok = _rec("[[[[[[[[[[[[", "2026-11-10T08:00:00Z")
    assert client.post("/api/usage/threema", headers=TOKEN, json=ok).status_code == 200


@pytest.mark.parametrize("header", [
    "Bearer tëst-ingest-token", "Bearer \u00ff\u00fe", "Bearer", "Bearer  ", "bearer", "Bearer test-ingest-token extra",
    "\u00e9\u00e9 test-ingest-token",
])
def test_a_malformed_authorization_header_is_a_401(client, session, tenant, header):
    resp = client.post("/api/usage/threema", headers={"Authorization": header},
                       json=_rec("m", "2026-11-10T08:00:00Z"))
    assert resp.status_code == 401
    assert _ids(session) == []
