"""The watcher (`pieced-admin tenants watch`): follow PiecedTenant changes into the event log.

List, reconcile the list against the log, then watch from the list's
resourceVersion (with bookmarks). Each event is compared with the log's
current state and what differs is appended in one transaction, with
``source = 'watch'``. A 410 Gone lists and reconciles again; a dropped
connection reconnects from the last resourceVersion after a bounded
exponential backoff. Because every recording is a diff against the log, a
restart at any moment loses nothing (the relist reconciles) and records
nothing twice.
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..audit import acting_as, record_audit
from ..extensions import db
from ..integrations.kube import (
    KubeError,
    KubeGone,
    KubeNotConfigured,
    KubeSettings,
    MalformedTenant,
    TenantCR,
    TenantKube,
)
from ..models.types import utcnow
from .eventlog import (
    Recorded,
    TenantSkipped,
    TenantState,
    load_states,
    lock_event_log,
    record_cr,
    record_deletion,
)

__all__ = ["TenantWatcher", "SOURCE"]

log = logging.getLogger(__name__)

SOURCE = "watch"
ACTOR = "watch"


def _identity(obj: Any) -> tuple[str | None, str]:
    meta = obj.get("metadata") if isinstance(obj, Mapping) else None
    meta = meta if isinstance(meta, Mapping) else {}
    name = meta.get("name")
    return (name if isinstance(name, str) and name else None), str(meta.get("namespace") or "")


class TenantWatcher:
    """Mirrors PiecedTenant changes into the event log; drive it with `run(stop_event)`.

    `timeout_seconds` bounds each watch request (the loop checks the stop flag
    between them); reconnects wait `backoff_initial` seconds, doubling up to
    `backoff_max`.
    """

    def __init__(
        self,
        app: Flask,
        *,
        kube: TenantKube | None = None,
        timeout_seconds: int = 45,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        clock: Callable[[], datetime] = utcnow,
    ):
        self.app = app
        self.settings = KubeSettings.from_config(app.config)
        self._kube = kube
        self.timeout_seconds = timeout_seconds
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock
        self.resource_version: str | None = None
        self.relists = 0
        self.reconnects = 0

    @property
    def kube(self) -> TenantKube:
        if self._kube is None:
            self._kube = TenantKube(self.settings)
        return self._kube

    # -- recording --

    def _in_scope(self, state: TenantState) -> bool:
        """Whether the list covers this tenant (a namespaced watcher leaves other namespaces alone)."""
        if not self.settings.namespace:
            return True
        return state.lifecycle is not None and state.lifecycle.namespace == self.settings.namespace

    def _note(self, rec: Recorded) -> None:
        if rec.changed:
            record_audit("tenant.recorded", "tenant", rec.tenant, after=rec.audit())
            log.info("recorded %s: %s", rec.tenant, "; ".join(rec.describe()))

    def reconcile(self, items: Iterable[Mapping[str, Any]]) -> list[Recorded]:
        """Bring the log in line with a full list of CRs, in one transaction.

        Tenants the log shows as existing but absent from the list are deleted
        at the time observed. A CR that cannot be mirrored is logged and left out.
        """
        recorded: list[Recorded] = []
        with self.app.app_context(), acting_as(ACTOR):
            try:
                now = self.clock()
                lock_event_log()
                states = load_states()
                listed: set[str] = set()
                for obj in items:
                    name, namespace = _identity(obj)
                    if name:
                        listed.add(name)
                    try:
                        cr = TenantCR.parse(obj, self.settings.org_label)
                        state = states.setdefault(cr.name, TenantState(cr.name))
                        with db.session.begin_nested():
                            rec = record_cr(cr, state, source=SOURCE, now=now)
                    except (MalformedTenant, TenantSkipped) as exc:
                        log.warning("not recorded: PiecedTenant %s/%s: %s", namespace, name, exc)
                        continue
                    except SQLAlchemyError:
                        log.exception("not recorded: PiecedTenant %s/%s: the database refused it", namespace, name)
                        states.pop(name, None)
                        continue
                    self._note(rec)
                    recorded.append(rec)
                for name, state in sorted(states.items()):
                    if state.lifecycle is None or state.deleted or name in listed or not self._in_scope(state):
                        continue
                    rec = record_deletion(state, at=now, source=SOURCE)
                    self._note(rec)
                    recorded.append(rec)
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
        return [r for r in recorded if r.changed]

    def apply_event(self, event: Mapping[str, Any]) -> Recorded | None:
        """Record one watch event (ADDED, MODIFIED, DELETED; BOOKMARK records nothing), in one transaction."""
        kind = event.get("type")
        obj = event.get("raw_object") or event.get("object")
        if kind == "BOOKMARK":
            return None
        if kind not in ("ADDED", "MODIFIED", "DELETED"):
            log.warning("ignored watch event of type %r", kind)
            return None
        name, namespace = _identity(obj)
        if not name:
            log.warning("ignored %s event without metadata.name", kind)
            return None
        with self.app.app_context(), acting_as(ACTOR):
            try:
                now = self.clock()
                try:
                    cr = TenantCR.parse(obj, self.settings.org_label)
                except MalformedTenant as exc:
                    if kind != "DELETED":
                        log.warning("not recorded: %s PiecedTenant %s/%s: %s", kind, namespace, name, exc)
                        return None
                    cr = None
                lock_event_log()
                state = load_states([name]).get(name) or TenantState(name)
                try:
                    if kind == "DELETED":
                        rec = self._deleted(cr, state, namespace, now)
                    else:
                        rec = record_cr(cr, state, source=SOURCE, now=now)
                except TenantSkipped as exc:
                    log.warning("not recorded: %s PiecedTenant %s/%s: %s", kind, namespace, name, exc)
                    db.session.rollback()
                    return None
                self._note(rec)
                db.session.commit()
            except BaseException:
                db.session.rollback()
                raise
        return rec

    def _deleted(self, cr: TenantCR | None, state: TenantState, namespace: str, now: datetime) -> Recorded:
        lifecycle = state.lifecycle
        if lifecycle is not None and lifecycle.namespace and namespace and lifecycle.namespace != namespace:
            raise TenantSkipped(f"the log's {state.name} lives in namespace {lifecycle.namespace}")
        created = None
        if lifecycle is None:
            if cr is None:
                raise TenantSkipped("deleted before it could be read, and unknown to the log")
            # Created and deleted while nobody recorded it: its whole life is known from the last state.
            created = record_cr(cr, state, source=SOURCE, now=now)
        at = (cr.deletion_at if cr is not None else None) or now
        rec = record_deletion(state, at=at, source=SOURCE)
        if created is not None:
            created.deleted_at = rec.deleted_at
            return created
        return rec

    # -- the loop --

    def _backoff(self, failures: int) -> float:
        delay = min(self.backoff_max, self.backoff_initial * (2 ** max(0, failures - 1)))
        return delay * random.uniform(0.8, 1.0)

    def stop_watch(self) -> None:
        """End the current watch request now (from a signal handler or another thread)."""
        if self._kube is not None:
            self._kube.stop_watch()

    def run(self, stop_event: threading.Event) -> None:
        """List, reconcile, watch; relist on 410, reconnect on failures; return once `stop_event` is set."""
        failures = 0
        need_list = True
        log.info("watching PiecedTenants (%s, %s) at %s", self.settings.resource, self.settings.scope,
                 self.kube.host)
        while not stop_event.is_set():
            try:
                if need_list:
                    items, version = self.kube.list_tenants()
                    self.relists += 1
                    log.info("listed %d PiecedTenant(s) at resourceVersion %s; reconciling", len(items), version)
                    self.reconcile(items)
                    self.resource_version = version
                    need_list = False
                    failures = 0
                stream = self.kube.watch_tenants(self.resource_version, self.timeout_seconds)
                with contextlib.closing(stream):
                    for event in stream:
                        if stop_event.is_set():
                            break
                        self.apply_event(event)
                        self.resource_version = self.kube.watch_resource_version or self.resource_version
                        failures = 0
                # The server ended the watch (timeout_seconds): watch again from where it stopped.
            except KubeGone as exc:
                log.info("%s", exc)
                need_list = True
            except KubeNotConfigured:
                raise
            except KubeError as exc:
                if stop_event.is_set():
                    break
                failures += 1
                self.reconnects += 1
                delay = self._backoff(failures)
                log.warning("%s; reconnecting in %.1f s (attempt %d)", exc, delay, failures)
                stop_event.wait(delay)
            except SQLAlchemyError as exc:
                failures += 1
                need_list = True  # the event was not recorded: the relist will
                delay = self._backoff(failures)
                log.error("the database refused a recording (%s); listing again in %.1f s", exc, delay)
                stop_event.wait(delay)
        log.info("watcher stopped at resourceVersion %s", self.resource_version)
