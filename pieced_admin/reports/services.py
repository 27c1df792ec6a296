"""The VAT report page, its PDF and its workbook, around `gather.vat_return`."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app, render_template

from .. import clock
from ..extensions import db
from ..models import BillingEntity
from ..web.messages import as_sentence
from .gather import VatEntityNotFound, vat_return
from .vat import FIGURES, Document, Quarter, VatReturn

__all__ = ["FIGURE_LABELS", "VatReportView", "vat_report_view", "vat_report_pdf", "vat_report_xlsx"]

FIGURE_LABELS = {
    "200": "Total agreed consideration, incl. supplies abroad",
    "221": "Supplies abroad (place of supply outside CH/LI)",
    "235": "Reductions of consideration (credit notes on Swiss-VAT invoices)",
    "289": "Total deductions (221 + 235)",
    "299": "Taxable turnover (200 − 289)",
}


@dataclass
class VatReportView:
    entities: list[BillingEntity]
    quarters: list[Quarter]
    entity: BillingEntity | None = None
    quarter: Quarter | None = None
    result: VatReturn | None = None
    error: str | None = None
    by_number: dict[str, Document] = field(default_factory=dict)

    def documents(self, figure: str) -> list[Document]:
        return [self.by_number[n] for n in (self.result.documents.get(figure, ()) if self.result else ())]

    def rate_documents(self, rate) -> list[Document]:
        return [self.by_number[n] for n in rate.documents]


def _quarters(today) -> list[Quarter]:
    q, out = Quarter.of(today), []
    for _ in range(8):
        out.append(q)
        q = q.previous()
    return out


def _months(today) -> list:
    from ..billing.days import Period

    m, out = Period.of(today), []
    for _ in range(12):
        out.append(m)
        m = m.previous()
    return out


def _parse_span(text: str, months: bool):
    """A quarter (YYYY-Qn) or, where the page allows it, a month (YYYY-MM)."""
    if months and "Q" not in text.upper():
        from ..billing.days import Period

        try:
            return Period.parse(text)
        except ValueError:
            raise ValueError(f"a period is a quarter (YYYY-Qn, e.g. 2026-Q4) or a month (YYYY-MM); got {text!r}") from None
    return Quarter.parse(text)


def vat_report_view(entity_code: str | None, quarter_text: str | None, *, months: bool = False) -> VatReportView:
    """Everything the page shows; an unknown entity or a bad quarter is an error for the person, not a 500.

    With `months`, a month (YYYY-MM) is accepted too (the journal's periods)."""
    today = clock.today()
    entities = list(db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.name)).scalars())
    view = VatReportView(entities=entities, quarters=_quarters(today))
    default = next((e for e in entities if e.is_default), entities[0] if entities else None)
    code = entity_code or (default.code if default else None)
    if code is None:
        view.error = "No billing entity yet: create one on the Entities page."
        return view
    try:
        view.quarter = _parse_span(quarter_text, months) if quarter_text else Quarter.of(today).previous()
    except ValueError as exc:
        view.error = as_sentence(exc)
        return view
    try:
        view.entity, view.result = vat_return(code, view.quarter)
    except VatEntityNotFound as exc:
        view.error = as_sentence(exc)
        return view
    view.by_number = {d.number: d for d in view.result.counted}
    return view


def vat_report_pdf(view: VatReportView) -> bytes:
    """The report as a PDF (A4, figures, rates and the documents counted)."""
    from ..billing.pdf import html_to_pdf

    html = render_template("reports/vat_pdf.html", v=view, labels=FIGURE_LABELS, figures=FIGURES,
                           generated=clock.now())
    return html_to_pdf(html)


def vat_report_xlsx(view: VatReportView) -> bytes:
    """The report as a workbook: the figures, the rates, and every document counted with its figures."""
    from ..exports.tables import Column, Table, to_xlsx

    r = view.result
    figures = Table("Figures", [Column("figure"), Column("label", width=60), Column("amount_chf", "money")],
                    [[k, FIGURE_LABELS[k], r.figures[k]] for k in FIGURES])
    rates = Table("Rates", [Column("vat_rate", "rate"), Column("taxable_chf", "money"), Column("vat_chf", "money")],
                  [[x.rate, x.taxable_chf, x.vat_chf] for x in r.rates] + [["", "", r.vat_total_chf]])
    counted_in = {n: [k for k in FIGURES if n in r.documents[k]] for n in view.by_number}
    documents = Table(
        "Documents",
        [Column("kind"), Column("number"), Column("issued_date", "date"), Column("credits_invoice"),
         Column("supplied_abroad"), Column("net_chf", "money"), Column("vat_rate", "rate"), Column("vat_chf", "money"),
         Column("figures")],
        [[d.kind, d.number, d.issued_on, d.credits or "", "yes" if d.abroad else "no",
          -d.net_chf if d.kind == "credit_note" else d.net_chf, d.vat_rate,
          -d.vat_chf if d.kind == "credit_note" else d.vat_chf, " ".join(counted_in[d.number])] for d in r.counted])
    return to_xlsx([figures, rates, documents])


# --------------------------------------------------------------------------- the accounting journal


@dataclass
class JournalView:
    entities: list[BillingEntity]
    quarters: list[Quarter]
    entity: BillingEntity | None = None
    quarter: Quarter | None = None
    rows: list = field(default_factory=list)
    balances: dict = field(default_factory=dict)
    vat: VatReturn | None = None
    error: str | None = None
    months: list = field(default_factory=list)

    @property
    def balanced(self) -> bool:
        return sum(self.balances.values(), Decimal("0")) == 0

    @property
    def revenue_total(self) -> Decimal:
        """Revenue booked in the period (credit balance of the revenue accounts)."""
        return -self.balances.get(self.entity.account_revenue, Decimal("0"))

    @property
    def vat_booked(self) -> Decimal:
        return -self.balances.get(self.entity.account_vat_payable, Decimal("0"))

    @property
    def total_debit(self) -> Decimal:
        return sum((r.amount_chf for r in self.rows), Decimal("0"))


def journal_view(entity_code: str | None, quarter_text: str | None) -> JournalView:
    """The journal of an entity and quarter, its account balances and the VAT return to check it against."""
    from .gather import journal_accounts, journal_documents
    from .journal import balances, journal_rows

    base = vat_report_view(entity_code, quarter_text, months=True)
    view = JournalView(entities=base.entities, quarters=base.quarters, entity=base.entity, quarter=base.quarter,
                       vat=base.result, error=base.error, months=_months(clock.today()))
    if view.error:
        return view
    view.rows = journal_rows(journal_documents(view.entity, view.quarter), journal_accounts(view.entity))
    view.balances = balances(view.rows)
    return view


JOURNAL_COLUMNS_BANANA = ("Date", "Doc", "Description", "AccountDebit", "AccountCredit", "Amount")


def journal_banana_txt(view: JournalView) -> str:
    """Banana Accounting's double-entry import ("text file with column headers"): tab-separated, the
    English NameXml headers, dates yyyy-mm-dd, amounts with a point, UTF-8. VAT is booked on its own
    rows (no VatCode), so Banana adds no VAT of its own."""
    from ..exports.tables import neutralise

    def clean(text: str) -> str:
        return neutralise(" ".join(str(text).split()))

    lines = ["\t".join(JOURNAL_COLUMNS_BANANA)]
    for r in view.rows:
        lines.append("\t".join([r.booked_on.isoformat(), clean(r.document), clean(r.text), r.debit, r.credit,
                                f"{r.amount_chf:.2f}"]))
    return "\n".join(lines) + "\n"


def journal_table(view: JournalView):
    """The journal as a table (debit / credit account, positive amounts): CSV for spreadsheets and XLSX."""
    from ..exports.tables import Column, Table

    return Table("Journal", [Column("date", "date"), Column("document"), Column("text", width=48),
                             Column("debit_account"), Column("credit_account"), Column("amount_chf", "money")],
                 [[r.booked_on, r.document, r.text, r.debit, r.credit, r.amount_chf] for r in view.rows])


def journal_abacus_xml(view: JournalView) -> bytes:
    """The journal for Abacus: AbaConnect FIBU "XML Buchungen", one single entry per row (see journal_formats)."""
    from .journal_formats import abacus_xml

    return abacus_xml(view.rows)


def journal_bexio_json(view: JournalView) -> str:
    """The journal for bexio: API v3 manual-entry request bodies, one per row.

    With bexio configured (BEXIO_TOKEN), bexio's account ids are read from it and filled in; when it
    cannot be read the file has the account mapping to fill in, as without bexio, and says why."""
    from ..integrations.bexio import BexioError, client_from_config, is_configured
    from .journal_formats import bexio_json

    ids, note = None, None
    if is_configured() and view.rows:
        try:
            # A download waits for bexio briefly: one more try, at most 10 s each.
            with client_from_config(retries=1, timeout=min(10.0, float(current_app.config.get("BEXIO_TIMEOUT", 30)))) \
                    as client:
                ids = client.account_ids()
        except BexioError as exc:
            note = f"bexio's account ids could not be read, so they are left to fill in: {exc}"
    return bexio_json(view.rows, entity=view.entity.code, period=view.quarter.key, account_ids=ids, note=note)
