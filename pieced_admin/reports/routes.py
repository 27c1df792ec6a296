"""`/reports/vat`: the VAT return of an entity and quarter, each figure linking its documents; PDF and XLSX.
`/reports/journal`: the accounting journal, its files for Banana, Abacus and bexio, and posting it to bexio."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, render_template, request

from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..extensions import db
from ..web.downloads import XLSX, download
from ..web.messages import as_sentence
from .services import (FIGURE_LABELS, journal_abacus_xml, journal_banana_txt, journal_bexio_json, journal_table,
                       journal_view, vat_report_pdf, vat_report_view, vat_report_xlsx)

bp = Blueprint("reports", __name__, url_prefix="/reports")


@bp.context_processor
def _helpers():
    from ..orgs.links import link_context

    return link_context()


@bp.get("/vat")
def vat():
    """The VAT return page (entity and quarter from the query string; defaults: last quarter, default entity)."""
    view = vat_report_view(request.args.get("entity"), request.args.get("quarter"))
    return render_template("reports/vat.html", v=view, labels=FIGURE_LABELS), 200 if not view.error else 400


@bp.get("/vat.<fmt>")
def vat_download(fmt: str):
    """The VAT return as PDF or XLSX."""
    if fmt not in ("pdf", "xlsx"):
        abort(404)
    view = vat_report_view(request.args.get("entity"), request.args.get("quarter"))
    if view.error:
        abort(400, description=view.error)
    name = f"vat-return-{view.entity.code}-{view.quarter.key}.{fmt}"
    if fmt == "pdf":
        return download(vat_report_pdf(view), "application/pdf", name)
    return download(vat_report_xlsx(view), XLSX, name)


def _journal_page(entity: str | None, quarter: str | None, *, status: int | None = None, bexio_result=None,
                  bexio_error: str | None = None):
    from ..integrations.bexio import is_configured

    view = journal_view(entity, quarter)
    return render_template("reports/journal.html", v=view, bexio_configured=is_configured(),
                           bexio_result=bexio_result, bexio_error=bexio_error), status or (200 if not view.error else 400)


@bp.get("/journal")
def journal():
    """The accounting journal of an entity and quarter: balanced rows, account balances, the check against VAT."""
    return _journal_page(request.args.get("entity"), request.args.get("quarter"))


@bp.post("/journal/bexio")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def journal_post_to_bexio():
    """Book the journal of the entity and period in bexio (each row once; "dry_run=1" only shows what would be)."""
    from ..integrations.bexio import BexioError, BexioNotConfigured
    from .bexio import BexioAccountsMissing, JournalNotFound, post_journal_to_bexio

    entity, quarter = request.form.get("entity"), request.form.get("quarter")
    try:
        # Within the web request's time (gunicorn: 60 s; one booking may take bexio's 30 s timeout):
        # no booking starts after the budget, the page offers to continue (the CLI has no budget).
        result = post_journal_to_bexio(entity, quarter, dry_run=request.form.get("dry_run") == "1",
                                       budget_seconds=current_app.config.get("BEXIO_PAGE_BUDGET_SECONDS", 20))
    except (JournalNotFound, BexioError) as exc:
        db.session.rollback()
        # Bad input 400; not configured 503; bexio lacks an account 422; bexio failing 502. Nothing was posted.
        status = (400 if isinstance(exc, JournalNotFound) else 503 if isinstance(exc, BexioNotConfigured)
                  else 422 if isinstance(exc, BexioAccountsMissing) else 502)
        return _journal_page(entity, quarter, status=status, bexio_error=as_sentence(exc))
    db.session.commit()
    return _journal_page(entity, quarter, status=200 if result.ok else 502, bexio_result=result)


JOURNAL_FORMATS = ("txt", "abacus.xml", "bexio.json", "csv", "xlsx")


@bp.get("/journal.<fmt>")
def journal_download(fmt: str):
    """The journal for Banana (txt), Abacus (abacus.xml) or bexio (bexio.json), as CSV for spreadsheets
    (Swiss Excel: BOM, `;`) or as XLSX."""
    from ..exports.tables import to_csv, to_xlsx

    if fmt not in JOURNAL_FORMATS:
        abort(404)
    view = journal_view(request.args.get("entity"), request.args.get("quarter"))
    if view.error:
        abort(400, description=view.error)
    base = f"journal-{view.entity.code}-{view.quarter.key}"
    if fmt == "txt":
        body, mimetype, name = journal_banana_txt(view), "text/plain; charset=utf-8", f"{base}-banana.txt"
    elif fmt == "abacus.xml":
        body, mimetype, name = journal_abacus_xml(view), "application/xml", f"{base}-abacus.xml"
    elif fmt == "bexio.json":
        body, mimetype, name = journal_bexio_json(view), "application/json", f"{base}-bexio.json"
    elif fmt == "csv":
        body, mimetype, name = "".join(to_csv(journal_table(view), "excel-ch")), "text/csv", f"{base}-excel-ch.csv"
    else:
        body, mimetype, name = to_xlsx([journal_table(view)]), XLSX, f"{base}.xlsx"
    return download(body, mimetype, name)
