"""`/tenants`: the tenant list and pages, their actions, and the backfill (HTML and `POST /api/admin/billing/backfill`)."""

from __future__ import annotations

import json
import logging

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy.exc import SQLAlchemyError

from ..extensions import db
from ..integrations.kube import KubeError, KubeNotConfigured
from ..web.htmx import is_htmx, render_page_or_partial
from ..web.messages import as_sentence
from . import services
from .backfill import run_backfill
from .forms import EntityForm, PackageForm, SuspensionForm

bp = Blueprint("tenants", __name__)
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- pages


@bp.get("/tenants")
def index():
    """Tenants with org, billing entity, state and packages; filter by org and state, search by name."""
    listing = services.list_tenants(
        org=request.args.get("org") or None,
        state=request.args.get("state") or None,
        q=request.args.get("q", ""),
        page=request.args.get("page", 1, type=int),
    )
    return render_page_or_partial("tenants/index.html", "tenants/_list.html", listing=listing, states=services.STATES)


def _render_detail(detail: services.TenantDetail, status: int = 200, **forms):
    forms.setdefault("package_form", PackageForm(formdata=None))
    forms.setdefault("suspension_form", SuspensionForm(formdata=None))
    entity_form = forms.pop("entity_form", None) or EntityForm(
        formdata=None, entity_id=str(detail.tenant.billing_entity_id or "")
    )
    entity_form.set_choices(detail.entities, detail.org_entity)
    return render_template("tenants/detail.html", d=detail, entity_form=entity_form, **forms), status


def _detail(name: str) -> services.TenantDetail:
    try:
        return services.tenant_detail(name)
    except services.TenantNotFound:
        abort(404, description=f"No tenant named {name} in the event log.")


@bp.get("/tenants/<name>")
def detail(name: str):
    """A tenant's billing timeline, its PiecedTenant in Kubernetes, and its month-to-date charges."""
    return _render_detail(_detail(name))


# --------------------------------------------------------------------------- actions


def _finish_action(name: str, result: services.ActionResult):
    """Commit the action's records; Kubernetes is already changed, so a failure here only warns."""
    try:
        db.session.commit()
    except SQLAlchemyError as exc:
        db.session.rollback()
        log.error("tenant %s: recording the action failed at commit (%s); the watcher records it", name, exc)
        result.tracking_error = str(exc).splitlines()[0]
    flash(result.message, "success" if result.changed else "info")
    if result.tracking_error:
        flash("The change is made in Kubernetes, but the event log could not record it now "
              f"({result.tracking_error}); the watcher records it at its next reconcile.", "warning")
    return redirect(url_for("tenants.detail", name=name))


def _action_failed(name: str, exc: Exception):
    db.session.rollback()
    flash(as_sentence(exc), "error")
    return redirect(url_for("tenants.detail", name=name))


@bp.post("/tenants/<name>/packages")
def toggle_package(name: str):
    """Enable or disable a package: the PiecedTenant is patched first, then the change is recorded."""
    form = PackageForm()
    if not form.validate_on_submit():
        return _render_detail(_detail(name), 422, package_form=form)
    try:
        result = services.set_package(name, form.skill_id.data, form.action.data == "enable")
    except services.TenantNotFound:
        abort(404)
    except (KubeError, services.TenantActionError) as exc:
        return _action_failed(name, exc)
    return _finish_action(name, result)


@bp.post("/tenants/<name>/suspension")
def set_suspension(name: str):
    """Suspend or resume: the PiecedTenant is patched first, then the change is recorded."""
    form = SuspensionForm()
    if not form.validate_on_submit():
        flash("Choose suspend or resume.", "error")
        return redirect(url_for("tenants.detail", name=name))
    try:
        result = services.set_suspension(name, form.suspend.data == "true")
    except services.TenantNotFound:
        abort(404)
    except (KubeError, services.TenantActionError) as exc:
        return _action_failed(name, exc)
    return _finish_action(name, result)


@bp.post("/tenants/<name>/entity")
def move_entity(name: str):
    """Bill the tenant by another entity, or by its org's again (affects invoices issued from now on)."""
    form = EntityForm()
    if not form.validate_on_submit():
        flash("Choose a billing entity.", "error")
        return redirect(url_for("tenants.detail", name=name))
    try:
        message = services.move_entity(name, form.chosen)
    except services.TenantNotFound:
        abort(404)
    except services.TenantActionError as exc:
        return _action_failed(name, exc)
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("tenants.detail", name=name))


# --------------------------------------------------------------------------- backfill


@bp.post("/tenants/backfill")
def backfill():
    """The "Backfill from Kubernetes" button: counts and skipped CRs (htmx partial), else a flash."""
    try:
        result, error = run_backfill(), None
        db.session.commit()
    except KubeError as exc:
        db.session.rollback()
        result, error = None, str(exc)
    if is_htmx():
        return render_template("tenants/_backfill.html", result=result, error=error)
    if error:
        flash(error, "error")
    else:
        flash(f"Backfill complete: {result.tenants_examined} tenants examined, {result.lifecycle_inserted} created, "
              f"{result.events_inserted} skill and {result.suspension_events_inserted} suspension events inserted, "
              f"{len(result.skipped)} skipped.", "success")
    return redirect(url_for("tenants.index"))


@bp.post("/api/admin/billing/backfill")
def api_backfill():
    """SPEC §4 backfill as JSON, for platform admins.

    The route is authenticated by the browser session like every admin page,
    so it stays CSRF-protected: callers send the token in the ``X-CSRFToken``
    header (the shell exposes it). Machines do not call it; they run
    ``pieced-admin tenants backfill --json`` instead (see docs/KUBERNETES.md).
    """
    try:
        result = run_backfill()
    except KubeNotConfigured as exc:
        db.session.rollback()
        return _json({"error": str(exc)}, 503)
    except KubeError as exc:
        db.session.rollback()
        return _json({"error": str(exc)}, 502)
    db.session.commit()
    return _json(result.as_json(), 200)


def _json(body: dict, status: int):
    # json.dumps keeps SPEC §4's key order (Flask's jsonify would sort the keys).
    return current_app.response_class(json.dumps(body, ensure_ascii=False), status=status,
                                      mimetype="application/json")
