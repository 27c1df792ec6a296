"""Credit notes: the credit form and its preview on the invoice page, and a credit note's own page and PDF.

Finance and platform admins may credit (SPEC §7). A route parses, calls one service, renders.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing import credit_notes as service
from ..billing.credit_notes import CreditNoteError
from ..billing.issuing import InvoiceNotFoundError, get_invoice
from ..extensions import db
from ..web.downloads import stored_document
from ..web.htmx import is_htmx
from .forms import CreditForm

bp = Blueprint("credit_notes", __name__)


@dataclass
class InvoiceCredits:
    """What the invoice page shows about its credit notes and what it replaces or was replaced by."""

    notes: list
    credited: service.Credited
    balance: object
    cancelled_by: object | None
    replaces: object | None
    replaced_by: list


@bp.app_template_global("invoice_credits")
def invoice_credits(invoice) -> InvoiceCredits:
    """The credit notes of an invoice, its balance, the credit note that cancelled it and the invoices around it."""
    from ..models import Invoice

    notes = service.credit_notes_of(invoice)
    credited = service.credited_totals([invoice.id]).get(invoice.id, service.Credited())
    replaces = db.session.get(Invoice, invoice.replaces_invoice_id) if invoice.replaces_invoice_id else None
    replaced_by = list(db.session.execute(
        db.select(Invoice).where(Invoice.replaces_invoice_id == invoice.id).order_by(Invoice.id)).scalars())
    cancelled_by = next((n for n in reversed(notes) if n.kind == "void"), None)
    return InvoiceCredits(notes=notes, credited=credited, balance=service.balance_chf(invoice, credited),
                          cancelled_by=cancelled_by, replaces=replaces, replaced_by=replaced_by)


def _form_for(invoice, formdata=True) -> CreditForm:
    form = CreditForm() if formdata else CreditForm(formdata=None)
    form.lines.choices = [(line.id, f"{line.position}. {line.description}") for line in invoice.lines]
    return form


def _plan(invoice, form: CreditForm):
    amount = service.parse_amount(form.amount.data) if form.mode.data == "amount" else None
    if form.mode.data == "amount" and amount is None:
        raise CreditNoteError("give the net amount to credit")
    line_ids = form.lines.data if form.mode.data == "lines" else None
    if form.mode.data == "lines" and not line_ids:
        raise CreditNoteError("choose at least one line to credit")
    return amount, line_ids


def _render_form(invoice, form, *, plan=None, error=None, status=200):
    ctx = dict(invoice=invoice, credit_form=form, plan=plan, credit_error=error)
    if is_htmx():
        return render_template("credit_notes/_credit_form.html", **ctx)
    return render_template("credit_notes/credit.html", **ctx), status


def _invoice_or_404(number: str):
    try:
        return get_invoice(number)
    except InvoiceNotFoundError as exc:
        abort(404, description=str(exc))


@bp.get("/invoices/<number>/credit")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def credit_form(number: str):
    """The credit form of an invoice."""
    invoice = _invoice_or_404(number)
    return _render_form(invoice, _form_for(invoice, formdata=False))


@bp.post("/invoices/<number>/credit/preview")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def preview(number: str):
    """What the credit note would credit (nothing is written)."""
    invoice = _invoice_or_404(number)
    form = _form_for(invoice)
    if not form.validate_on_submit():
        return _render_form(invoice, form, status=422)
    try:
        amount, line_ids = _plan(invoice, form)
        plan = service.build_plan(invoice, amount=amount, line_ids=line_ids)
    except CreditNoteError as exc:
        return _render_form(invoice, form, error=str(exc), status=422)
    finally:
        db.session.rollback()
    return _render_form(invoice, form, plan=plan)


@bp.post("/invoices/<number>/credit")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def issue(number: str):
    """Issue the credit note, e-mail it to the billing address and show it."""
    invoice = _invoice_or_404(number)
    form = _form_for(invoice)
    if not form.validate_on_submit():
        return _render_form(invoice, form, status=422)
    try:
        amount, line_ids = _plan(invoice, form)
        note = service.issue_credit_note(invoice.number, form.reason.data, amount=amount, line_ids=line_ids)
    except CreditNoteError as exc:
        db.session.rollback()
        return _render_form(invoice, form, error=str(exc), status=422)
    db.session.commit()
    mail = service.send_credit_note_email(note.id)
    flash(f"Credit note {note.number} issued on {invoice.number}. " + " ".join(mail.notes), "success")
    target = url_for(".detail", number=note.number)
    if is_htmx():
        return Response(status=204, headers={"HX-Redirect": target})
    return redirect(target)


@bp.get("/credit-notes/<number>")
def detail(number: str):
    """One credit note: what it credits, on which invoice, its PDF."""
    try:
        note = service.get_credit_note(number)
    except InvoiceNotFoundError as exc:
        abort(404, description=str(exc))
    from ..models import CreditNoteDocument, CreditNoteEmail

    doc = db.session.get(CreditNoteDocument, note.id)
    mail = db.session.execute(db.select(CreditNoteEmail).filter_by(credit_note_id=note.id)).scalar_one_or_none()
    return render_template("credit_notes/detail.html", note=note, invoice=note.invoice, doc=doc, mail=mail)


@bp.get("/credit-notes/<number>/pdf")
def pdf(number: str):
    """Exactly the PDF bytes stored at issue."""
    from ..models import CreditNoteDocument

    try:
        note = service.get_credit_note(number)
    except InvoiceNotFoundError as exc:
        abort(404, description=str(exc))
    doc = db.session.get(CreditNoteDocument, note.id)
    if doc is None:
        abort(404, description=f"No PDF is stored for credit note {note.number}.")
    return stored_document(doc.content, f"{note.number}.pdf", doc.sha256)
