"""The watcher against the fake API server, in a thread, on a database that really commits.

Each test ends at a sync point (a BOOKMARK the watcher has seen, so it has
handled everything before it) and then checks the exact rows: every change
recorded, none twice.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest

from pieced_admin.models.types import utcnow
from pieced_admin.tenants.watch import TenantWatcher

from .conftest import lifecycles, skill_events, suspension_events, tenant, utc, wait_for

pytestmark = pytest.mark.timeout(60)


class Running:
    """A TenantWatcher running in a thread, as `pieced-admin tenants watch` runs it."""

    def __init__(self, app, server, **options):
        options = {"timeout_seconds": 5, "backoff_initial": 0.3, "backoff_max": 1.0, **options}
        self.server = server
        self.watcher = TenantWatcher(app, **options)
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="tenant-watcher")
        self.thread.start()

    def _run(self):
        try:
            self.watcher.run(self.stop)
        except BaseException as exc:  # noqa: BLE001 - the test reports it
            self.error = exc

    def settle(self, timeout: float = 5.0) -> str:
        """Wait until the watcher has handled everything the server sent before a fresh BOOKMARK."""
        def seen():
            self.server.wait_for_watches(timeout=timeout)
            rv = self.server.bookmark()
            try:
                wait_for(lambda: self.watcher.resource_version == rv, timeout=0.5)
            except AssertionError:
                return None
            return rv
        return wait_for(seen, timeout=timeout, message="the watcher to see a bookmark")

    def halt(self):
        self.stop.set()
        self.watcher.stop_watch()
        self.thread.join(5)
        assert not self.thread.is_alive(), "the watcher did not stop"
        assert self.error is None, self.error


@pytest.fixture
def env(fresh_db, kube_server):
    """The committing app pointed at the fake API server, and a way to read its log."""
    app = fresh_db.app
    app.config["KUBE_API_HOST"] = kube_server.url
    running: list[Running] = []

    class Env:
        server = kube_server

        def start(self, **options) -> Running:
            r = Running(app, kube_server, **options)
            running.append(r)
            return r

        def read(self, fn, *args):
            with app.app_context():
                return fn(*args)

        def wait_events(self, count: int, name: str | None = None, timeout: float = 5.0):
            return wait_for(lambda: len(self.read(skill_events, name)) >= count, timeout=timeout,
                            message=f"{count} skill event(s)")

    yield Env()
    for r in running:
        if r.thread.is_alive():
            r.stop.set()
            r.watcher.stop_watch()
            r.thread.join(5)


def _kinds(rows):
    return [(r[1], r[2]) if len(r) == 5 else (r[1],) for r in rows]


def test_packages_and_suspension_are_recorded_once(env):
    server = env.server
    server.create(tenant("acme", "org-acme", ["chat"], created=utc(2026, 10, 10, 7)))
    w = env.start()
    server.wait_for_watches()
    # The first list recorded the tenant as a backfill would: chat enabled at creation.
    assert env.read(skill_events) == [("acme", "chat", "enabled", utc(2026, 10, 10, 7), "watch")]
    assert env.read(lifecycles)["acme"].created_at == utc(2026, 10, 10, 7)

    before = utcnow().replace(microsecond=0)
    server.modify("tenants", "acme", {"spec": {"packages": ["chat", "search"]}})
    server.modify("tenants", "acme", {"spec": {"packages": ["search"]}})
    server.modify("tenants", "acme", {"spec": {"suspend": True}, "status": {"suspendedAt": "2026-10-20T10:00:00Z"}})
    server.modify("tenants", "acme", {"status": {"suspendedAt": "2026-10-20T10:00:05Z"}})  # no change for billing
    server.modify("tenants", "acme", {"spec": {"suspend": False}, "status": None})
    w.settle()
    after = utcnow()

    skills = env.read(skill_events)
    assert [(s, k, src) for _, s, k, _, src in skills] == [
        ("chat", "enabled", "watch"), ("search", "enabled", "watch"), ("chat", "disabled", "watch"),
    ]
    assert all(before <= at <= after for *_, at, _ in skills[1:])  # toggles: when observed
    suspensions = env.read(suspension_events)
    assert [(k, src) for _, k, _, src in suspensions] == [("suspended", "watch"), ("resumed", "watch")]
    assert suspensions[0][2] == utc(2026, 10, 20, 10)  # status.suspendedAt
    assert before <= suspensions[1][2] <= after  # resume: when observed
    w.halt()


def test_new_and_deleted_tenants(env):
    server = env.server
    w = env.start()
    server.wait_for_watches()

    server.create(tenant("beta", "org-beta", ["voice"], created=utc(2026, 11, 2, 8, 30), team_id="team-b"))
    server.create(tenant("orphan", None, ["voice"]))  # no org label: cannot be billed, logged
    w.settle()
    beta = env.read(lifecycles)["beta"]
    assert (beta.zitadel_org_id, beta.created_at, beta.namespace, beta.litellm_team_id, beta.deleted_at) == (
        "org-beta", utc(2026, 11, 2, 8, 30), "tenants", "team-b", None)
    assert env.read(skill_events) == [("beta", "voice", "enabled", utc(2026, 11, 2, 8, 30), "watch")]
    assert "orphan" not in env.read(lifecycles)

    last = server.delete("tenants", "beta")
    w.settle()
    deleted_at = env.read(lifecycles)["beta"].deleted_at
    assert deleted_at.strftime("%Y-%m-%dT%H:%M:%SZ") == last["metadata"]["deletionTimestamp"]
    assert len(env.read(skill_events)) == 1
    w.halt()


def test_bookmark_moves_the_resume_point(env):
    server = env.server
    server.create(tenant("acme", "org-acme", ["chat"]))
    w = env.start()
    server.wait_for_watches()
    rv = w.settle()
    watches_before = [r for r in server.requests if r.query.get("watch") == "true"]
    assert watches_before[-1].query["allowWatchBookmarks"] == "true"

    server.drop_watches()
    server.wait_for_watches()
    wait_for(lambda: len([r for r in server.requests if r.query.get("watch") == "true"]) > len(watches_before))
    reconnect = [r for r in server.requests if r.query.get("watch") == "true"][-1]
    assert reconnect.query["resourceVersion"] == rv  # from the bookmark, not from the list
    assert len(env.read(skill_events)) == 1
    w.halt()


def test_410_gone_relists_and_reconciles_what_changed_meanwhile(env):
    server = env.server
    server.create(tenant("acme", "org-acme", ["chat"], created=utc(2026, 10, 1)))
    server.create(tenant("beta", "org-beta", [], created=utc(2026, 10, 2)))
    w = env.start(backoff_initial=0.5)
    server.wait_for_watches()
    w.settle()
    assert w.watcher.relists == 1

    # The connection drops; while the watcher waits to reconnect, things change and the
    # server compacts its history, so the watcher's resourceVersion is gone (410).
    server.drop_watches()
    observed = utcnow().replace(microsecond=0)
    server.modify("tenants", "acme", {"spec": {"packages": ["chat", "search"], "suspend": True}})
    server.create(tenant("gamma", "org-acme", ["chat"], created=utc(2026, 10, 25, 12)))
    server.delete("tenants", "beta")
    server.compact()

    wait_for(lambda: w.watcher.relists == 2, message="a relist after 410")
    w.settle()
    rows = env.read(lifecycles)
    assert observed <= rows["beta"].deleted_at <= utcnow()  # absent from the relist: deleted when observed
    assert rows["gamma"].created_at == utc(2026, 10, 25, 12)
    assert [(t, s, k) for t, s, k, _, _ in env.read(skill_events)] == [
        ("acme", "chat", "enabled"), ("acme", "search", "enabled"), ("gamma", "chat", "enabled"),
    ]
    assert [(t, k) for t, k, _, _ in env.read(suspension_events)] == [("acme", "suspended")]
    w.halt()


def test_dropped_connection_reconnects_and_misses_nothing(env, caplog, monkeypatch):
    # migrations/env.py's fileConfig() disables the loggers that exist when the test
    # databases are migrated (in this process); the watcher's must speak here.
    monkeypatch.setattr(logging.getLogger("pieced_admin.tenants.watch"), "disabled", False)
    server = env.server
    server.create(tenant("acme", "org-acme", []))
    w = env.start()
    server.wait_for_watches()
    w.settle()

    with caplog.at_level(logging.WARNING, logger="pieced_admin.tenants.watch"):
        server.drop_watches()
        server.modify("tenants", "acme", {"spec": {"packages": ["chat"]}})  # while disconnected
        server.wait_for_watches()
        server.modify("tenants", "acme", {"spec": {"packages": ["chat", "search"]}})
        w.settle()
    assert w.watcher.reconnects == 1 and w.watcher.relists == 1  # resumed from its resourceVersion
    assert any("reconnecting in" in r.getMessage() for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert [(s, k) for _, s, k, _, _ in env.read(skill_events)] == [("chat", "enabled"), ("search", "enabled")]
    w.halt()


def test_restart_at_any_moment_loses_and_repeats_nothing(env):
    server = env.server
    server.create(tenant("acme", "org-acme", ["chat"], created=utc(2026, 10, 1)))
    server.create(tenant("beta", "org-beta", ["chat"], created=utc(2026, 10, 2)))
    first = env.start()
    server.wait_for_watches()
    server.modify("tenants", "acme", {"spec": {"packages": ["chat", "search"]}})
    first.settle()
    # A change, and the watcher stops at once: it may or may not have recorded it.
    server.modify("tenants", "acme", {"spec": {"packages": ["search"]}})
    first.halt()
    # While nobody watches:
    server.delete("tenants", "beta")
    server.create(tenant("gamma", "org-acme", ["voice"], created=utc(2026, 11, 3)))
    server.modify("tenants", "acme", {"spec": {"suspend": True}, "status": {"suspendedAt": "2026-11-04T09:00:00Z"}})
    down_until = utcnow()

    second = env.start()
    server.wait_for_watches()
    second.settle()

    assert [(t, s, k) for t, s, k, _, _ in env.read(skill_events)] == [
        ("acme", "chat", "enabled"), ("beta", "chat", "enabled"),
        ("acme", "search", "enabled"), ("acme", "chat", "disabled"),
        ("gamma", "voice", "enabled"),
    ]
    assert env.read(suspension_events)[0][1:3] == ("suspended", utc(2026, 11, 4, 9))
    assert len(env.read(suspension_events)) == 1
    rows = env.read(lifecycles)
    assert rows["beta"].deleted_at >= down_until - timedelta(seconds=1)
    assert rows["acme"].deleted_at is None and rows["gamma"].deleted_at is None

    # A third start changes nothing.
    second.halt()
    third = env.start()
    server.wait_for_watches()
    third.settle()
    assert len(env.read(skill_events)) == 5 and len(env.read(suspension_events)) == 1
    third.halt()
