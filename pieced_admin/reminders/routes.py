"""Reminders on the invoice page: the panel (`#invoice-reminders`) and "Send reminder now"."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing.issuing import InvoiceNotFoundError, get_invoice
from ..web.htmx import is_htmx
from ..web.messages import as_sentence
from .services import LEVEL_TITLES, ReminderError, reminder_panel, send_next_reminder, send_next_reminders

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


def _timeline_of(invoice):
    if "invoices.detail" not in current_app.view_functions:
        return None
    from ..invoices.services import invoice_timeline

    return invoice_timeline(invoice)


@bp.post("/reminders/send")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def send_many():
    """Send the next reminder level of each invoice ticked on the overdue list."""
    numbers = [n for n in request.form.getlist("number") if n]
    if not numbers:
        flash("Tick the invoices to remind first.", "error")
    else:
        report = send_next_reminders(numbers)
        for line in report.lines():
            flash(line.text, line.category)
    back = request.form.get("next") or ""
    if not back.startswith("/") or back.startswith("//") or "\\" in back:  # only back to a page of ours
        back = url_for("invoices.index", status="overdue") if "invoices.index" in current_app.view_functions else "/"
    return redirect(back, 303)


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
        error = as_sentence(exc)
    else:
        if outcome.status == "sent":
            notice = f"{LEVEL_TITLES[outcome.level]} sent to {outcome.to}."
        else:
            error = f"{LEVEL_TITLES[outcome.level]} not sent: {outcome.error}"
    invoice = get_invoice(number)
    if is_htmx():
        # The invoice's timeline gains the reminder: swap it too (out of band) when the page has one.
        timeline = _timeline_of(invoice)
        return render_template("reminders/_invoice_reminders.html", invoice=invoice,
                               reminder_notice=notice, reminder_error=error) + (
            render_template("invoices/_invoice_timeline.html", timeline=timeline, timeline_oob=True)
            if timeline is not None else "")
    flash(notice or error, "success" if notice else "error")
    if "invoices.detail" in current_app.view_functions:
        return redirect(url_for("invoices.detail", number=invoice.number), 303)
    return redirect(url_for("reminders.panel", number=invoice.number), 303)
