"""`/invoices`: the list (filters, totals, CSV), one invoice (lines, PDF, timeline), mark paid and void."""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing import issuing
from ..billing.issuing import BillingInputError, InvoiceNotFoundError, local_today
from ..billing.money import fmt_price, fmt_quantity
from ..extensions import db
from ..web.downloads import XLSX, download, stored_document
from ..web.htmx import is_htmx
from . import services
from .forms import InvoiceFilterForm, MarkPaidForm, VoidForm

bp = Blueprint("invoices", __name__)


@bp.app_template_global("org_page_url")
def org_page_url(org_id: str) -> str | None:
    """The org's page, when the org pages are installed."""
    return services.org_page_url(org_id)


@bp.app_template_global("url_if_exists")
def url_if_exists(endpoint: str, **values) -> str | None:
    """The URL of an endpoint of a domain that may not be installed in this build, else None."""
    return url_for(endpoint, **values) if endpoint in current_app.view_functions else None


@bp.app_template_filter("invoice_quantity")
def invoice_quantity(value) -> str:
    """A line quantity without trailing zeros (18, 12.3456, 1234)."""
    return fmt_quantity(value)


@bp.app_template_filter("invoice_price")
def invoice_price(value) -> str:
    """A unit price or rate with two decimals, more only when significant (49.00, 0.005)."""
    return fmt_price(value)


def _partial_wanted() -> bool:
    # htmx restoring history after a cache miss wants the whole page, not the fragment.
    return is_htmx() and request.headers.get("HX-History-Restore-Request") != "true"


@bp.get("/invoices")
def index():
    """The invoice list: filters in the query string, totals of the filtered set, 50 per page."""
    form = InvoiceFilterForm(request.args)
    page = services.list_invoices(form.to_query(), local_today())
    form.set_entities(page.entities)
    if not _partial_wanted():
        return render_template("invoices/index.html", page=page, form=form, filter_errors=form.errors)
    response = make_response(render_template("invoices/_invoice_table.html", page=page, form=form,
                                             filter_errors=form.errors))
    # The address bar shows the filter without the form's empty fields, so it can be bookmarked as read.
    response.headers["HX-Push-Url"] = url_for(".index", **page.query.args())
    return response


@bp.get("/invoices.csv")
def export_csv():
    """The filtered invoices as CSV for accounting, streamed row batch by row batch."""
    query = InvoiceFilterForm(request.args).to_query()
    return download(stream_with_context(services.csv_rows(query, local_today())), "text/csv", query.filename())


EXPORT_FORMATS = {"xlsx", "excel-ch", "rfc4180"}


@bp.get("/invoices/export/<what>.<fmt>")
def export(what: str, fmt: str):
    """The filtered invoices or their lines as XLSX, as CSV for Excel (de-CH: BOM, `;`) or as RFC 4180 CSV."""
    from ..exports import invoices as exports
    from ..exports.tables import to_csv, to_xlsx

    flavour = request.args.get("flavour", "excel-ch") if fmt == "csv" else fmt
    if what not in exports.TABLES or flavour not in EXPORT_FORMATS or fmt not in ("csv", "xlsx"):
        abort(404)
    query = InvoiceFilterForm(request.args).to_query()
    today = local_today()
    base = query.filename().removesuffix(".csv").replace("invoices", what if what == "invoices" else f"invoice-{what}", 1)
    if fmt == "xlsx":
        # Every table of the list in one workbook, one sheet each, the invoices first.
        return download(to_xlsx([build(query, today) for build in exports.TABLES.values()]), XLSX, f"{base}.xlsx")
    table = exports.TABLES[what](query, today)
    return download(stream_with_context(to_csv(table, flavour)), "text/csv", f"{base}-{flavour}.csv")


def _render_detail(number: str, *, paid_form: MarkPaidForm | None = None, void_form: VoidForm | None = None,
                   paid_error: str | None = None, void_error: str | None = None, notice: str | None = None,
                   status: int = 200):
    try:
        detail = services.invoice_detail(number, local_today())
    except InvoiceNotFoundError as exc:
        abort(404, description=str(exc))
    context = dict(
        d=detail, invoice=detail.invoice,
        paid_form=paid_form or MarkPaidForm(formdata=None, today=detail.today),
        void_form=void_form or VoidForm(formdata=None),
        paid_error=paid_error, void_error=void_error, notice=notice,
    )
    if _partial_wanted():
        # htmx swaps only 2xx answers: errors come back as 200 and are shown in the swapped part.
        return render_template("invoices/_invoice_state.html", **context)
    return render_template("invoices/detail.html", **context), status


@bp.get("/invoices/<number>")
def detail(number: str):
    """One invoice: header, lines, the stored PDF, its timeline and the actions the user may take."""
    return _render_detail(number)


@bp.get("/invoices/<number>/pdf")
def pdf(number: str):
    """Exactly the PDF bytes stored at issue; `inline=1` shows it in the page instead of downloading."""
    try:
        doc = services.stored_pdf(number)
    except (InvoiceNotFoundError, services.NoStoredPdfError) as exc:
        abort(404, description=str(exc))
    invoice = issuing.get_invoice(doc.number)
    if invoice.status != "void":
        return stored_document(doc.content, f"{doc.number}.pdf", doc.sha256)
    # The bytes stay as issued; the download says it is void and what cancelled it.
    from ..billing.credit_notes import credit_notes_of

    cancelled = [n.number for n in credit_notes_of(invoice) if n.kind == "void"]
    response = stored_document(doc.content, f"{doc.number}-VOID.pdf", doc.sha256)
    response.headers["X-Invoice-Status"] = "void" + (f"; cancelled by {cancelled[-1]}" if cancelled else "")
    return response


def _done(number: str, notice: str):
    if _partial_wanted():
        return _render_detail(number, notice=notice)
    flash(notice, "success")
    return redirect(url_for(".detail", number=number))


@bp.post("/invoices/<number>/mark-paid")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def mark_paid(number: str):
    """Record a payment (bank transfer, card or other) of an issued invoice."""
    form = MarkPaidForm(today=local_today())
    if not form.validate_on_submit():
        return _render_detail(number, paid_form=form, status=422)
    try:
        invoice = issuing.mark_paid(number, paid_on=form.paid_on.data, reference=form.reference.data,
                                    method=form.method.data, amount=form.amount.data)
    except InvoiceNotFoundError as exc:
        abort(404, description=str(exc))
    except BillingInputError as exc:
        db.session.rollback()
        return _render_detail(number, paid_form=form, paid_error=str(exc), status=422)
    db.session.commit()
    when = f"{form.paid_on.data:%d.%m.%Y}, {services.METHOD_LABELS[form.method.data].lower()}"
    if invoice.status == "issued":
        return _done(invoice.number, f"A part payment of {invoice.number} is recorded ({when}); "
                                     f"{services.balance_line(invoice)}.")
    return _done(invoice.number, f"Invoice {invoice.number} is marked paid ({when}).")


@bp.post("/invoices/<number>/void")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def void(number: str):
    """Void an unpaid invoice with a reason; its number stays used and the month can be issued again."""
    form = VoidForm()
    if not form.validate_on_submit():
        return _render_detail(number, void_form=form, status=422)
    try:
        invoice = issuing.void_invoice(number, form.reason.data)
    except InvoiceNotFoundError as exc:
        abort(404, description=str(exc))
    except BillingInputError as exc:
        db.session.rollback()
        return _render_detail(number, void_form=form, void_error=str(exc), status=422)
    db.session.commit()
    from ..billing.credit_notes import credit_notes_of, send_credit_note_email

    notes = [n for n in credit_notes_of(invoice) if n.kind == "void"]
    mailed = [line for n in notes for line in send_credit_note_email(n.id).notes]
    cancelled = f", cancelled by credit note {notes[-1].number}" if notes else ""
    stopped = _stop_card_payment(invoice.number)
    return _done(invoice.number, f"Invoice {invoice.number} is void{cancelled}. " + " ".join(
        [*mailed, *([stopped] if stopped else [])]))


def _stop_card_payment(number: str) -> str | None:
    """A card payment still in flight at Stripe is cancelled after the void (never inside its transaction)."""
    from ..payments.charging import cancel_in_flight
    from ..payments.services import StripeNotConfiguredError

    try:
        return cancel_in_flight(number)
    except StripeNotConfiguredError:
        return "Its card payment may still be open at Stripe: cancel it in the Stripe dashboard."
