"""`POST /api/usage/threema`: bearer token, one record or a list, idempotent, bad records named."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pieced_admin.models import TenantUsage

from ..factories import make_org, make_tenant, zurich

TOKEN = {"Authorization": "Bearer test-ingest-token"}


@pytest.fixture
def tenant(session):
    make_org("org-t")
    make_tenant("bridge-tenant", "org-t", zurich(2026, 9, 1))
    session.commit()


def _rows(session):
    return session.execute(
        sa.select(TenantUsage.external_id, TenantUsage.occurred_at, TenantUsage.quantity).order_by(TenantUsage.external_id)
    ).all()


def test_a_single_record_is_stored(client, session, tenant):
    resp = client.post("/api/usage/threema", headers=TOKEN,
                       json={"tenant": "bridge-tenant", "message_id": "m-1", "sent_at": "2026-10-12T08:15:00+02:00"})
    assert resp.status_code == 200
    assert resp.get_json() == {"accepted": 1, "duplicates": 0, "rejected": 0}
    ((mid, at, qty),) = _rows(session)
    assert (mid, qty) == ("m-1", 1)
    assert at == zurich(2026, 10, 12, 8, 15)


def test_a_list_is_stored_and_a_resend_changes_nothing(client, session, tenant):
    batch = [{"tenant": "bridge-tenant", "message_id": f"m-{i}", "sent_at": "2026-10-12T06:00:00Z"} for i in range(3)]
    assert client.post("/api/usage/threema", headers=TOKEN, json=batch).get_json()["accepted"] == 3
    again = client.post("/api/usage/threema", headers=TOKEN, json=batch)
    assert again.status_code == 200
    assert again.get_json() == {"accepted": 0, "duplicates": 3, "rejected": 0}
    assert len(_rows(session)) == 3


def test_bad_records_are_named_and_good_ones_kept(client, session, tenant):
    batch = [
        {"tenant": "bridge-tenant", "message_id": "ok-1", "sent_at": "2026-10-12T06:00:00Z"},
        {"tenant": "bridge-tenant", "message_id": "no-zone", "sent_at": "2026-10-12T06:00:00"},
        {"tenant": "ghost", "message_id": "ghost-1", "sent_at": "2026-10-12T06:00:00Z"},
        {"tenant": "bridge-tenant", "sent_at": "2026-10-12T06:00:00Z"},
        "not an object",
        {"tenant": "bridge-tenant", "message_id": "ok-2", "sent_at": "yesterday"},
        {"tenant": "bridge-tenant", "message_id": "ok-3", "sent_at": "2026-10-12T07:00:00Z"},
    ]
    resp = client.post("/api/usage/threema", headers=TOKEN, json=batch)
    assert resp.status_code == 400
    body = resp.get_json()
    assert (body["accepted"], body["rejected"]) == (2, 5)
    errors = {e["index"]: e for e in body["errors"]}
    assert set(errors) == {1, 2, 3, 4, 5}
    assert "no time zone" in errors[1]["error"] and errors[1]["message_id"] == "no-zone"
    assert "unknown tenant 'ghost'" in errors[2]["error"]
    assert "message_id is required" in errors[3]["error"]
    assert "object" in errors[4]["error"]
    assert "not an ISO-8601" in errors[5]["error"]
    assert [r[0] for r in _rows(session)] == ["ok-1", "ok-3"]


def test_the_same_message_twice_in_one_batch_counts_once(client, session, tenant):
    rec = {"tenant": "bridge-tenant", "message_id": "dup", "sent_at": "2026-10-12T06:00:00Z"}
    body = client.post("/api/usage/threema", headers=TOKEN, json=[rec, rec]).get_json()
    assert (body["accepted"], body["duplicates"]) == (1, 1)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdA=="}])
def test_without_the_token_nothing_is_stored(client, session, tenant, headers):
    resp = client.post("/api/usage/threema", headers=headers,
                       json={"tenant": "bridge-tenant", "message_id": "m", "sent_at": "2026-10-12T06:00:00Z"})
    assert resp.status_code == 401
    assert "USAGE_INGEST_TOKEN" in resp.get_json()["error"]
    assert _rows(session) == []


def test_no_token_configured_means_nobody_gets_in(app, client, session, tenant):
    app.config["USAGE_INGEST_TOKEN"] = ""
    resp = client.post("/api/usage/threema", headers={"Authorization": "Bearer "},
                       json={"tenant": "bridge-tenant", "message_id": "m", "sent_at": "2026-10-12T06:00:00Z"})
    assert resp.status_code == 401


def test_a_body_that_is_not_json_is_refused(client, tenant):
    resp = client.post("/api/usage/threema", headers=TOKEN, data="tenant=x")
    assert resp.status_code == 400
    assert "JSON" in resp.get_json()["error"]
