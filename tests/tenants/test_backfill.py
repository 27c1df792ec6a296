"""Backfill (SPEC §4) through the CLI and the HTTP endpoint, with the real kubernetes client."""

from __future__ import annotations

import json

import pytest

from pieced_admin.extensions import db
from pieced_admin.models import TenantLifecycle, TenantSkillEvent

from .conftest import csrf_token, lifecycles, skill_events, suspension_events, tenant, utc

pytestmark = pytest.mark.timeout(60)

KEYS = ["message", "tenantsExamined", "lifecycleInserted", "eventsInserted", "suspensionEventsInserted", "skipped"]


def _cluster(server):
    """Three good CRs and three malformed ones."""
    server.create(tenant("acme-main", "org-acme", ["searxng-local-search", "chat"], created=utc(2026, 10, 10, 7),
                         team_id="team-acme"))
    server.create(tenant("beta", "org-beta", ["chat"], suspend=True, suspended_at=utc(2026, 10, 20, 10),
                         created=utc(2026, 10, 1)))
    server.create(tenant("zeta", "org-zeta", [], created=utc(2026, 9, 30, 22), namespace="other"))
    server.create(tenant("no-org", None, ["chat"]))
    bad_packages = tenant("bad-packages", "org-acme")
    bad_packages["spec"]["packages"] = "chat"
    server.create(bad_packages)
    server.create(tenant("bad-time", "org-acme", suspend=True, suspended_at="last tuesday"))


def _backfill(runner) -> dict:
    result = runner.invoke(args=["tenants", "backfill", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_backfill_records_the_crs_once(kube, runner, session):
    _cluster(kube)

    first = _backfill(runner)

    assert list(first) == KEYS
    assert {k: first[k] for k in KEYS[:5]} == {
        "message": "Backfill complete.",
        "tenantsExamined": 6,
        "lifecycleInserted": 3,  # acme-main, beta, zeta
        "eventsInserted": 3,  # acme-main: 2 packages, beta: 1
        "suspensionEventsInserted": 1,  # beta
    }
    skipped = {s["tenant"]: s for s in first["skipped"]}
    assert set(skipped) == {"no-org", "bad-packages", "bad-time"}
    assert all(set(s) == {"tenant", "namespace", "reason"} and s["namespace"] == "tenants" for s in first["skipped"])
    assert "org label" in skipped["no-org"]["reason"]
    assert "spec.packages is not a list" in skipped["bad-packages"]["reason"]
    assert "status.suspendedAt" in skipped["bad-time"]["reason"]

    # The rows say what the CRs say.
    rows = lifecycles()
    assert set(rows) == {"acme-main", "beta", "zeta"}
    acme = rows["acme-main"]
    assert (acme.zitadel_org_id, acme.created_at, acme.deleted_at, acme.namespace, acme.litellm_team_id) == (
        "org-acme", utc(2026, 10, 10, 7), None, "tenants", "team-acme")
    assert (rows["zeta"].namespace, rows["zeta"].created_at, rows["zeta"].litellm_team_id) == (
        "other", utc(2026, 9, 30, 22), None)
    assert skill_events() == [
        ("acme-main", "searxng-local-search", "enabled", utc(2026, 10, 10, 7), "backfill"),
        ("acme-main", "chat", "enabled", utc(2026, 10, 10, 7), "backfill"),
        ("beta", "chat", "enabled", utc(2026, 10, 1), "backfill"),
    ]
    assert suspension_events() == [("beta", "suspended", utc(2026, 10, 20, 10), "backfill")]

    second = _backfill(runner)
    assert second == {**first, "lifecycleInserted": 0, "eventsInserted": 0, "suspensionEventsInserted": 0}
    assert len(skill_events()) == 3 and len(suspension_events()) == 1


def test_backfill_adds_only_what_the_log_lacks(kube, runner, session):
    # The log knows acme-main with chat, which was disabled after creation and enabled again in Kubernetes.
    session.add(TenantLifecycle(tenant_name="acme-main", zitadel_org_id="org-acme", created_at=utc(2026, 10, 10, 7)))
    session.flush()
    session.add_all([
        TenantSkillEvent(tenant_name="acme-main", skill_id="chat", event_kind="enabled",
                         occurred_at=utc(2026, 10, 10, 7), source="watch"),
        TenantSkillEvent(tenant_name="acme-main", skill_id="search", event_kind="enabled",
                         occurred_at=utc(2026, 10, 10, 7), source="watch"),
        TenantSkillEvent(tenant_name="acme-main", skill_id="search", event_kind="disabled",
                         occurred_at=utc(2026, 10, 15), source="watch"),
    ])
    session.flush()
    kube.create(tenant("acme-main", "org-acme", ["chat", "search", "voice"], created=utc(2026, 10, 10, 7)))

    first = _backfill(runner)
    assert (first["lifecycleInserted"], first["eventsInserted"]) == (0, 2)
    events = skill_events("acme-main")[3:]
    # voice: enabled at creation. search: the log shows it disabled on the 15th, so an event at
    # creation would change nothing; it is recorded when observed (now), after that.
    assert [(s, k, at) for _, s, k, at, _ in events if s == "voice"] == [("voice", "enabled", utc(2026, 10, 10, 7))]
    [search] = [e for e in events if e[1] == "search"]
    assert search[2] == "enabled" and search[3] > utc(2026, 10, 15)
    assert session.get(TenantLifecycle, session.query(TenantLifecycle.id).scalar()).namespace == "tenants"

    assert _backfill(runner)["eventsInserted"] == 0


def test_cli_backfill_names_kubernetes_when_it_fails(app, runner, session, kube_server, no_kube):
    not_configured = runner.invoke(args=["tenants", "backfill", "--json"])
    assert not_configured.exit_code == 1
    assert "Kubernetes is not configured" in not_configured.output

    url = app.config["KUBE_API_HOST"] = kube_server.url
    kube_server.stop()
    unreachable = runner.invoke(args=["tenants", "backfill", "--json"])
    assert unreachable.exit_code == 1
    assert f"Kubernetes API unreachable at {url}" in unreachable.output
    assert lifecycles() == {}


def test_http_backfill_admin_only_with_csrf(kube, client, login, session):
    _cluster(kube)
    url = "/api/admin/billing/backfill"

    anonymous = client.post(url)
    assert anonymous.status_code == 401

    login("finance")
    refused = client.post(url, headers={"X-CSRFToken": csrf_token(client)})
    assert refused.status_code == 403
    assert lifecycles() == {}

    login("admin")
    without_token = client.post(url)
    assert without_token.status_code == 400  # session-authenticated: CSRF-protected

    done = client.post(url, headers={"X-CSRFToken": csrf_token(client)})
    assert done.status_code == 200, done.data
    body = done.get_json()
    assert list(body) == KEYS
    assert (body["tenantsExamined"], body["lifecycleInserted"], body["eventsInserted"],
            body["suspensionEventsInserted"], len(body["skipped"])) == (6, 3, 3, 1, 3)

    again = client.post(url, headers={"X-CSRFToken": csrf_token(client)}).get_json()
    assert (again["lifecycleInserted"], again["eventsInserted"], again["suspensionEventsInserted"]) == (0, 0, 0)


def test_http_backfill_answers_502_naming_kubernetes(app, admin_client, kube_server, session):
    app.config["KUBE_API_HOST"] = kube_server.url
    kube_server.fail_next(500, method="GET", message="etcd is on fire")
    resp = admin_client.post("/api/admin/billing/backfill", headers={"X-CSRFToken": csrf_token(admin_client)})
    assert resp.status_code == 502
    assert resp.get_json()["error"].startswith("Kubernetes")
    assert "etcd is on fire" in resp.get_json()["error"]


def test_backfill_button_shows_counts_and_skipped(kube, admin_client, session):
    _cluster(kube)
    page = admin_client.get("/tenants").get_data(as_text=True)
    assert "Backfill from Kubernetes" in page

    resp = admin_client.post("/tenants/backfill", headers={"HX-Request": "true", "X-CSRFToken": csrf_token(admin_client)})
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert html.lstrip().startswith('<div id="backfill-result"')
    assert "6 tenants examined" in html
    assert '<span id="backfill-lifecycle">3</span>' in html
    assert '<span id="backfill-events">3</span>' in html
    assert '<span id="backfill-suspensions">1</span>' in html
    for name in ("no-org", "bad-packages", "bad-time"):
        assert f"<td>{name}</td>" in html

    again = admin_client.post("/tenants/backfill", headers={"HX-Request": "true",
                                                            "X-CSRFToken": csrf_token(admin_client)})
    assert "The log already matched Kubernetes." in again.get_data(as_text=True)
