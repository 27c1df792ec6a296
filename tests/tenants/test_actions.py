"""Tenant actions from the page: the PiecedTenant is merge-patched first, then events are recorded from what
the API server returned; recording failing never fails the action, and the watcher repairs the log."""

from __future__ import annotations

import sqlalchemy as sa

import pytest

from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, BillingEntity, TenantLifecycle
from pieced_admin.models.types import utcnow
from pieced_admin.tenants.backfill import run_backfill
from pieced_admin.tenants.watch import TenantWatcher
from tests.peers.kube_api import MERGE_PATCH

from .conftest import csrf_token, skill_events, suspension_events, tenant, utc

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def acme(kube, session):
    """acme-main in Kubernetes and in the log (chat enabled), committed before any request."""
    kube.create(tenant("acme-main", "org-acme", ["chat"], created=utc(2026, 10, 10, 7)))
    run_backfill()
    session.commit()
    return kube


def _post(client, url, **data):
    return client.post(url, data=data, headers={"X-CSRFToken": csrf_token(client)})


def _flashes(client, url="/tenants/acme-main") -> str:
    return client.get(url).get_data(as_text=True)


def _audit(action: str) -> list[AuditLog]:
    return db.session.execute(sa.select(AuditLog).filter_by(action=action)).scalars().all()


def test_enable_and_disable_a_package(acme, admin_client):
    before = utcnow()
    resp = _post(admin_client, "/tenants/acme-main/packages", skill_id="searxng-local-search", action="enable")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/tenants/acme-main")

    patch = acme.patches[-1]
    assert (patch.content_type, patch.namespace, patch.name) == (MERGE_PATCH, "tenants", "acme-main")
    assert patch.body == {"spec": {"packages": ["chat", "searxng-local-search"]}}
    *_, (tenant_name, skill, kind, at, source) = skill_events("acme-main")
    assert (tenant_name, skill, kind, source) == ("acme-main", "searxng-local-search", "enabled", "app")
    assert before <= at <= utcnow()
    [entry] = _audit("tenant.package_enabled")
    assert entry.actor == "admin@pieced.local" and entry.object_id == "acme-main"
    assert entry.after == {"packages": ["chat", "searxng-local-search"]}
    assert "searxng-local-search enabled on acme-main in Kubernetes." in _flashes(admin_client)

    _post(admin_client, "/tenants/acme-main/packages", skill_id="chat", action="disable")
    assert acme.patches[-1].body == {"spec": {"packages": ["searxng-local-search"]}}
    assert [(s, k, src) for _, s, k, _, src in skill_events("acme-main")] == [
        ("chat", "enabled", "backfill"), ("searxng-local-search", "enabled", "app"), ("chat", "disabled", "app"),
    ]
    assert acme.get("tenants", "acme-main")["spec"]["packages"] == ["searxng-local-search"]


def test_a_bad_skill_id_is_shown_next_to_the_field(acme, admin_client):
    resp = _post(admin_client, "/tenants/acme-main/packages", skill_id="Not A Skill!", action="enable")
    assert resp.status_code == 422
    html = resp.get_data(as_text=True)
    assert 'class="field-error"' in html and "lower-case letters" in html
    assert acme.patches == []


def test_suspend_and_resume_record_from_the_returned_object(acme, admin_client):
    # Someone enabled voice in Kubernetes and nobody recorded it yet: the object the
    # API returns after our patch shows it, so it is recorded along with the suspension.
    acme.modify("tenants", "acme-main", {"spec": {"packages": ["chat", "voice"]}})

    _post(admin_client, "/tenants/acme-main/suspension", suspend="true")
    assert acme.patches[-1].body == {"spec": {"suspend": True}}
    assert acme.patches[-1].content_type == MERGE_PATCH
    assert [(s, k) for _, s, k, _, _ in skill_events("acme-main")] == [("chat", "enabled"), ("voice", "enabled")]
    assert [(k, src) for _, k, _, src in suspension_events("acme-main")] == [("suspended", "app")]
    assert "acme-main suspended in Kubernetes." in _flashes(admin_client)

    _post(admin_client, "/tenants/acme-main/suspension", suspend="false")
    assert acme.patches[-1].body == {"spec": {"suspend": False}}
    assert [k for _, k, _, _ in suspension_events("acme-main")] == ["suspended", "resumed"]
    assert len(_audit("tenant.suspended")) == len(_audit("tenant.resumed")) == 1


def test_a_kubernetes_failure_shows_a_flash_and_records_nothing(acme, admin_client):
    acme.fail_next(500, method="PATCH", message="admission webhook timed out")
    _post(admin_client, "/tenants/acme-main/packages", skill_id="voice", action="enable")
    page = _flashes(admin_client)
    assert "Kubernetes API at" in page and "admission webhook timed out" in page
    assert len(skill_events("acme-main")) == 1
    assert _audit("tenant.package_enabled") == []

    acme.delete("tenants", "acme-main")
    _post(admin_client, "/tenants/acme-main/suspension", suspend="true")
    assert "Kubernetes has no PiecedTenant tenants/acme-main" in _flashes(admin_client)
    assert suspension_events("acme-main") == []


def _refuse_skill_events(session) -> None:
    """Make the database refuse new skill events, as a broken or read-only database would."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text(
            "CREATE FUNCTION test_refuse_event() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'event log refused by the test'; END $$ LANGUAGE plpgsql"
        ))
        session.execute(sa.text(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON tenant_skill_events "
            "FOR EACH ROW EXECUTE FUNCTION test_refuse_event()"
        ))
    else:
        session.execute(sa.text(
            "CREATE TRIGGER test_refuse BEFORE INSERT ON tenant_skill_events "
            "BEGIN SELECT RAISE(ABORT, 'event log refused by the test'); END"
        ))
    session.commit()


def _allow_skill_events(session) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("DROP TRIGGER test_refuse ON tenant_skill_events"))
    else:
        session.execute(sa.text("DROP TRIGGER test_refuse"))
    session.commit()


def test_recording_failure_never_fails_the_action_and_the_watcher_repairs_it(acme, app, admin_client, session):
    _refuse_skill_events(session)

    resp = _post(admin_client, "/tenants/acme-main/packages", skill_id="voice", action="enable")

    assert resp.status_code == 302
    assert acme.get("tenants", "acme-main")["spec"]["packages"] == ["chat", "voice"]  # the action happened
    page = _flashes(admin_client)
    assert "voice enabled on acme-main in Kubernetes." in page
    assert "the watcher records it at its next reconcile" in page
    assert [s for _, s, *_ in skill_events("acme-main")] == ["chat"]  # not recorded
    [entry] = _audit("tenant.package_enabled")
    assert "recording failed" in entry.note

    _allow_skill_events(session)
    recorded = TenantWatcher(app).reconcile(acme.list())
    assert [r.describe()[0].split(" at ")[0] for r in recorded] == ["enabled voice"]
    assert [(s, k, src) for _, s, k, _, src in skill_events("acme-main")] == [
        ("chat", "enabled", "backfill"), ("voice", "enabled", "watch"),
    ]
    assert TenantWatcher(app).reconcile(acme.list()) == []


def test_move_to_another_billing_entity_and_back(acme, admin_client, session):
    other = BillingEntity(code="pieced-li", name="PieCed Liechtenstein", invoice_prefix="PL", country="LI")
    session.add(other)
    session.commit()

    _post(admin_client, "/tenants/acme-main/entity", entity_id=str(other.id))
    lifecycle = session.execute(sa.select(TenantLifecycle).filter_by(tenant_name="acme-main")).scalar_one()
    assert lifecycle.billing_entity_id == other.id
    assert "now billed by PieCed Liechtenstein (pieced-li); invoices already issued do not change" in _flashes(admin_client)

    _post(admin_client, "/tenants/acme-main/entity", entity_id="")
    session.refresh(lifecycle)
    assert lifecycle.billing_entity_id is None
    changes = [(e.before, e.after) for e in _audit("tenant.billing_entity_changed")]
    assert changes == [({"billing_entity_id": None}, {"billing_entity_id": other.id}),
                       ({"billing_entity_id": other.id}, {"billing_entity_id": None})]


def test_finance_cannot_act(acme, finance_client):
    for url, data in [("/tenants/acme-main/packages", {"skill_id": "voice", "action": "enable"}),
                      ("/tenants/acme-main/suspension", {"suspend": "true"}),
                      ("/tenants/acme-main/entity", {"entity_id": ""}),
                      ("/tenants/backfill", {})]:
        assert _post(finance_client, url, **data).status_code == 403
    assert acme.patches == []
