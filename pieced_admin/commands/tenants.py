"""`pieced-admin tenants …`: backfill the event log from Kubernetes, and watch it (SPEC §4, §5)."""

from __future__ import annotations

import logging
import signal
import threading

import click
from flask import current_app
from flask.cli import AppGroup

from ..cli import OutsideSystemError, echo_json
from ..extensions import db
from ..integrations.kube import KubeError

tenants_group = AppGroup("tenants", help="Mirror PiecedTenants from Kubernetes into the tenant event log.")

log = logging.getLogger("pieced_admin.tenants.watch")


@tenants_group.command("backfill")
@click.option("--json", "as_json", is_flag=True, help="Print SPEC §4's JSON answer (plus the skipped CRs).")
def backfill_cmd(as_json: bool) -> None:
    """Record every live PiecedTenant the event log does not know yet (safe to repeat)."""
    from ..tenants.backfill import run_backfill

    try:
        result = run_backfill()
    except KubeError as exc:
        db.session.rollback()
        raise OutsideSystemError(str(exc)) from None
    db.session.commit()
    if as_json:
        echo_json(result.as_json())
        return
    click.echo(
        f"Backfill complete: {result.tenants_examined} tenant(s) examined, "
        f"{result.lifecycle_inserted} lifecycle row(s), {result.events_inserted} skill event(s) and "
        f"{result.suspension_events_inserted} suspension event(s) inserted."
    )
    for skipped in result.skipped:
        click.echo(f"Skipped {skipped['namespace']}/{skipped['tenant']}: {skipped['reason']}")


@tenants_group.command("watch")
@click.option("--timeout-seconds", default=45, show_default=True, type=click.IntRange(1, 3600),
              help="Length of each watch request; the loop checks for SIGTERM between them.")
def watch_cmd(timeout_seconds: int) -> None:
    """Follow PiecedTenant changes into the event log until SIGTERM or Ctrl-C."""
    from ..tenants.watch import TenantWatcher

    app = current_app._get_current_object()
    watcher = TenantWatcher(app, timeout_seconds=timeout_seconds)
    stop = threading.Event()

    def _stop(signum, _frame):
        log.info("received %s: stopping", signal.Signals(signum).name)
        stop.set()
        watcher.stop_watch()  # ends the open watch request now instead of at its timeout

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        watcher.run(stop)
    except KubeError as exc:  # not configured, or the configuration cannot be loaded
        raise OutsideSystemError(str(exc)) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


COMMANDS = (tenants_group,)
