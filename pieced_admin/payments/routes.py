"""Card payments on the web: the Stripe webhook and the org and invoice payment partials.

Thin routes: parse, call one service, render the partial of the swap target
(`#org-payments`, `#invoice-charges`). A request without htmx is redirected
back to the page it came from, with the outcome as a flash message.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, flash, jsonify, redirect, render_template, request, url_for
from werkzeug.routing import BuildError

from ..auth.access import roles, token_auth
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing.issuing import BillingInputError
from ..extensions import csrf, db
from ..models import Invoice, OrgBillingConfig
from ..web.htmx import is_htmx
from . import services
from .webhooks import handle_webhook

bp = Blueprint("payments", __name__)


@bp.record_once
def _register_template_helpers(state) -> None:
    state.app.jinja_env.globals.update(services.template_helpers())


@bp.post("/stripe/webhook")
@csrf.exempt
@token_auth
def stripe_webhook():
    """Stripe's deliveries: verified by signature, stored once, handled in one transaction."""
    result = handle_webhook(request.get_data(), request.headers.get("Stripe-Signature"))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # The same event delivered twice at once: the other delivery stored and handled it.
        db.session.rollback()
        return jsonify(outcome="duplicate: already handled"), 200
    return jsonify(result.body), result.status


def _org_or_404(org_id: str) -> OrgBillingConfig:
    return db.first_or_404(sa.select(OrgBillingConfig).filter_by(zitadel_org_id=org_id),
                           description=f"No org {org_id!r} has a billing configuration.")


def _invoice_or_404(number: str) -> Invoice:
    return db.first_or_404(sa.select(Invoice).filter_by(number=number),
                           description=f"No invoice has the number {number!r}.")


def _back(endpoints: tuple[str, ...], message: str, category: str, **values):
    """Without htmx: flash the outcome and go back to the page the button sits on."""
    flash(message, category)
    for endpoint in endpoints:
        try:
            return redirect(url_for(endpoint, **values))
        except BuildError:
            continue
    return redirect(request.referrer or url_for("dashboard.index"))


def _public_base() -> str:
    return current_app.config.get("PUBLIC_URL") or request.host_url.rstrip("/")


def _org_partial(org: OrgBillingConfig, *, notice: str | None = None, error: str | None = None,
                 setup_url: str | None = None):
    if not is_htmx():
        return _back(("orgs.detail", "orgs.show", "orgs.edit"), error or notice or "", "error" if error else "success",
                     org_id=org.zitadel_org_id)
    return render_template("payments/_org_payments.html", org=org, payments_notice=notice,
                           payments_error=error, setup_url=setup_url)


@bp.post("/orgs/<org_id>/stripe/sync")
def sync_org(org_id: str):
    """Mirror the org's cards from Stripe now."""
    org = _org_or_404(org_id)
    try:
        rows = services.sync_payment_methods(org)
        db.session.commit()
    except services.PaymentProviderError as exc:
        db.session.rollback()
        return _org_partial(org, error=str(exc))
    return _org_partial(org, notice=f"Synced from Stripe: {len(rows)} card(s).")


@bp.post("/orgs/<org_id>/stripe/setup-link")
def setup_link(org_id: str):
    """A Stripe Checkout link (mode=setup) to send to the org's card holder."""
    org = _org_or_404(org_id)
    try:
        url = services.create_setup_link(org, _public_base())
        db.session.commit()
    except services.PaymentProviderError as exc:
        db.session.rollback()
        return _org_partial(org, error=str(exc))
    return _org_partial(org, notice="Card setup link created: copy it and send it to the org's card holder.",
                        setup_url=url)


@bp.post("/invoices/<number>/charge")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def charge_invoice(number: str):
    """Charge the invoice's card now (at most once); "retry=1" makes a new attempt after a decline."""
    invoice = _invoice_or_404(number)
    notice = error = None
    try:
        outcome = services.charge_invoice(number, retry=request.form.get("retry") == "1")
        (notice, error) = (outcome.message, None) if outcome.ok else (None, outcome.message)
    except (BillingInputError, services.PaymentProviderError) as exc:
        db.session.rollback()
        error = str(exc)
    db.session.commit()
    invoice = _invoice_or_404(number)
    if not is_htmx():
        return _back(("invoices.detail", "invoices.show"), error or notice or "", "error" if error else "success",
                     number=number)
    return render_template("payments/_invoice_charges.html", invoice=invoice, charge_notice=notice,
                           charge_error=error)
