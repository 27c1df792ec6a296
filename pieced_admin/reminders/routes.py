"""Reminders on the invoice page: the panel (`#invoice-reminders`) and "Send reminder now"."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, url_for

from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing.issuing import InvoiceNotFoundError, get_invoice
from ..web.htmx import is_htmx
from .services import LEVEL_TITLES, ReminderError, reminder_panel, send_next_reminder

bp = Blueprint("reminders", __name__)


@bp.record_once
def _register_template_helpers(state) -> None:
    # The invoice page includes templates/reminders/_invoice_reminders.html with only `invoice`.
    state.app.jinja_env.globals["reminder_panel"] = reminder_panel
    state.app.jinja_env.globals["REMINDER_TITLES"] = LEVEL_TITLES


def _invoice_or_404(number: str):
    try:
        return get_invoice(number)
    except InvoiceNotFoundError:
        abort(404)


@bp.get("/invoices/<number>/reminders")
def panel(number: str):
    """The reminders panel of an invoice (for htmx)."""
    return render_template("reminders/_invoice_reminders.html", invoice=_invoice_or_404(number))


@bp.post("/invoices/<number>/reminders")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def send_now(number: str):
    """Send the next reminder level of an overdue invoice now."""
    invoice = _invoice_or_404(number)
    notice = error = None
    try:
        outcome = send_next_reminder(invoice.number)
    except ReminderError as exc:
        error = str(exc)[:1].upper() + str(exc)[1:] + "."
    else:
        if outcome.status == "sent":
            notice = f"{LEVEL_TITLES[outcome.level]} sent to {outcome.to}."
        else:
            error = f"{LEVEL_TITLES[outcome.level]} not sent: {outcome.error}"
    invoice = get_invoice(number)
    if is_htmx():
        return render_template("reminders/_invoice_reminders.html", invoice=invoice,
                               reminder_notice=notice, reminder_error=error)
    flash(notice or error, "success" if notice else "error")
    if "invoices.detail" in current_app.view_functions:
        return redirect(url_for("invoices.detail", number=invoice.number), 303)
    return redirect(url_for("reminders.panel", number=invoice.number), 303)
