"""`/payments`: finance imports bank files (camt.054/053) and settles the payments nobody's yet.

Thin routes: parse, call one service, render. The upload page shows what the
CLI's `bank import` says, as a table; a refused file is one line, nothing recorded.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing.issuing import BillingInputError, InvoiceNotFoundError
from ..extensions import db
from ..web.messages import as_sentence
from . import unmatched as unmatched_service
from .bank_import import BankFileError, import_bank_file

bp = Blueprint("bank", __name__)

MAX_UPLOAD = 20 * 1024 * 1024


def _page(result=None, error: str | None = None, status: int = 200):
    count, amount = unmatched_service.unmatched_summary()
    return render_template("payments/bank.html", result=result, error=error, unmatched_count=count,
                           unmatched_amount=amount), status


@bp.get("/payments")
def index():
    """Upload a bank file; how many payments wait to be matched."""
    return _page()


@bp.post("/payments/import")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def import_file():
    """Import (or, with dry_run, only check) an uploaded camt.054/camt.053 file."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(error="Choose a camt.054 or camt.053 file to import.", status=422)
    data = upload.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        return _page(error=f"{upload.filename}: larger than {MAX_UPLOAD // (1024 * 1024)} MB; nothing was recorded.",
                     status=422)
    try:
        result = import_bank_file(data, upload.filename, dry_run=request.form.get("dry_run") == "1")
    except BankFileError as exc:
        db.session.rollback()
        return _page(error=f"{upload.filename}: {exc}; nothing was recorded.", status=422)
    db.session.commit()
    return _page(result=result)


@bp.get("/payments/unmatched")
def unmatched():
    """Bank payments no reference of ours names, oldest first."""
    return render_template("payments/unmatched.html", payments=unmatched_service.unmatched_payments())


@bp.post("/payments/unmatched/<int:payment_id>/assign")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def assign(payment_id: int):
    """Put an unmatched payment on an invoice (number) or an org's credit (org id)."""
    invoice = (request.form.get("invoice") or "").strip() or None
    org = (request.form.get("org") or "").strip() or None
    try:
        unmatched_service.assign_payment(payment_id, invoice_number=invoice, org_id=org,
                                         note=(request.form.get("note") or "").strip() or None)
    except InvoiceNotFoundError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for(".unmatched")), 303
    except BillingInputError as exc:
        db.session.rollback()
        flash(as_sentence(exc), "error")
        return redirect(url_for(".unmatched")), 303
    db.session.commit()
    flash(f"Payment {payment_id} assigned to {'invoice ' + invoice if invoice else 'org ' + org}.", "success")
    return redirect(url_for(".unmatched")), 303


@bp.post("/payments/unmatched/<int:payment_id>/not-ours")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def not_ours(payment_id: int):
    """Mark an unmatched payment as not ours (the bank sends it back), with a note."""
    try:
        unmatched_service.mark_not_ours(payment_id, request.form.get("note") or "")
    except (InvoiceNotFoundError, BillingInputError) as exc:
        db.session.rollback()
        flash(as_sentence(exc), "error")
        return redirect(url_for(".unmatched")), 303
    db.session.commit()
    flash(f"Payment {payment_id} marked not ours.", "success")
    return redirect(url_for(".unmatched")), 303


@bp.post("/orgs/<org_id>/refund-credit")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def refund_credit(org_id: str):
    """Refund (part of) the org's credit balance: to the card (Stripe Refund) or as a recorded bank transfer."""
    from decimal import Decimal, InvalidOperation

    from .refunds import refund_credit as refund
    from .services import PaymentProviderError

    back = redirect(url_for("orgs.detail", org_id=org_id)), 303
    try:
        amount = Decimal((request.form.get("amount") or "").strip().replace("\u2019", "").replace("'", ""))
    except InvalidOperation:
        flash("Enter the amount to refund, like 41.90.", "error")
        return back
    try:
        refund(org_id, amount, method=request.form.get("method") or "card",
               reference=(request.form.get("reference") or "").strip() or None)
    except (BillingInputError, PaymentProviderError) as exc:
        db.session.rollback()
        flash(as_sentence(exc), "error")
        return back
    db.session.commit()
    flash(f"CHF {amount} of the credit balance refunded.", "success")
    return back
