"""Tenant tests run the real kubernetes client against the fake API server of tests/peers/kube_api.py."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import TenantLifecycle, TenantSkillEvent, TenantSuspensionEvent
from tests.peers.kube_api import KubeAPIServer, tenant  # noqa: F401  (re-exported for the tests)

UTC = timezone.utc


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.fixture
def kube_server():
    with KubeAPIServer() as server:
        yield server


@pytest.fixture
def kube(app, kube_server):
    """The fake API server, configured as the app's Kubernetes (KUBE_API_HOST)."""
    app.config["KUBE_API_HOST"] = kube_server.url
    return kube_server


@pytest.fixture
def no_kube(app, monkeypatch, tmp_path):
    """Kubernetes not configured: no API host, no kubeconfig file, not in a pod."""
    app.config["KUBE_API_HOST"] = ""
    app.config["KUBECONFIG"] = str(tmp_path / "no-such-kubeconfig")
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return app


def csrf_token(client) -> str:
    """The CSRF token of the client's session, as the shell hands it to htmx."""
    from flask import g

    # The app fixture keeps one app context for the whole test, so Flask-WTF's per-context
    # cache (g.csrf_token) would outlive a second login's new session.
    g.pop("csrf_token", None)
    page = client.get("/").get_data(as_text=True)
    match = re.search(r'"X-CSRFToken": "([^"]+)"', page)
    assert match, "the shell carries the CSRF token"
    return match.group(1)


# --------------------------------------------------------------------------- the event log, read back


def skill_events(name: str | None = None) -> list[tuple]:
    """(tenant, skill, kind, occurred_at, source) in log order."""
    stmt = sa.select(TenantSkillEvent.tenant_name, TenantSkillEvent.skill_id, TenantSkillEvent.event_kind,
                     TenantSkillEvent.occurred_at, TenantSkillEvent.source).order_by(TenantSkillEvent.id)
    if name:
        stmt = stmt.where(TenantSkillEvent.tenant_name == name)
    return [tuple(r) for r in db.session.execute(stmt)]


def suspension_events(name: str | None = None) -> list[tuple]:
    """(tenant, kind, occurred_at, source) in log order."""
    stmt = sa.select(TenantSuspensionEvent.tenant_name, TenantSuspensionEvent.event_kind,
                     TenantSuspensionEvent.occurred_at, TenantSuspensionEvent.source).order_by(TenantSuspensionEvent.id)
    if name:
        stmt = stmt.where(TenantSuspensionEvent.tenant_name == name)
    return [tuple(r) for r in db.session.execute(stmt)]


def lifecycles() -> dict[str, TenantLifecycle]:
    return {t.tenant_name: t for t in db.session.execute(sa.select(TenantLifecycle)).scalars()}


def wait_for(condition, timeout: float = 5.0, interval: float = 0.05, message: str = "condition"):
    """Poll until `condition()` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}; last value {value!r}")
        time.sleep(interval)
