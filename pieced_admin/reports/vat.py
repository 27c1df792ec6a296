"""The Swiss VAT return of one billing entity and quarter (SPEC §6): PURE, documents in, figures out.

Effective method, agreed consideration: a document counts in the quarter of its local issue
date. Amounts exclude VAT. With `abroad` the place of supply of the invoice (a credit note:
of the invoice it credits) lies outside CH/LI:

- 200 = net of the invoices of the quarter − net of the quarter's credit notes on invoices abroad
- 221 = net of the invoices abroad of the quarter − net of the quarter's credit notes on them
- 235 = net of the quarter's credit notes on Swiss-VAT invoices (a reduction of consideration)
- 289 = 221 + 235
- 299 = 200 − 289
- per VAT rate of the Swiss-VAT documents: the taxable net (invoices − credit notes) and the VAT
  (the documents' own VAT amounts, credit notes negative); their sum is `vat_total`.

A voided invoice counts in its quarter and the credit note that voided it in its own.
Nothing here reads a database, a clock or a configuration.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

__all__ = ["Document", "Quarter", "RateLine", "VatReturn", "FIGURES", "compute_vat_return"]

ZERO = Decimal("0.00")
FIGURES = ("200", "221", "235", "289", "299")
KINDS = ("invoice", "credit_note")


@dataclass(frozen=True, order=True)
class Quarter:
    year: int
    number: int  # 1…4

    @classmethod
    def parse(cls, text: str) -> Quarter:
        """`YYYY-Qn`; ValueError with a message for a person otherwise."""
        raw = (text or "").strip().upper()
        head, sep, tail = raw.partition("-Q")
        if not sep or not head.isdigit() or len(head) != 4 or tail not in ("1", "2", "3", "4"):
            raise ValueError(f"a quarter is written YYYY-Qn with n from 1 to 4, e.g. 2026-Q4; got {text!r}")
        return cls(int(head), int(tail))

    @classmethod
    def of(cls, day: date) -> Quarter:
        return cls(day.year, (day.month - 1) // 3 + 1)

    @property
    def key(self) -> str:
        return f"{self.year}-Q{self.number}"

    @property
    def first_day(self) -> date:
        return date(self.year, 3 * self.number - 2, 1)

    @property
    def last_day(self) -> date:
        return self.next().first_day - timedelta(days=1)

    def contains(self, day: date) -> bool:
        return self.first_day <= day <= self.last_day

    def previous(self) -> Quarter:
        return Quarter(self.year - 1, 4) if self.number == 1 else Quarter(self.year, self.number - 1)

    def next(self) -> Quarter:
        return Quarter(self.year + 1, 1) if self.number == 4 else Quarter(self.year, self.number + 1)


@dataclass(frozen=True)
class Document:
    """An invoice or a credit note as the VAT return sees it (amounts as issued, positive)."""

    kind: str            # invoice | credit_note
    number: str
    issued_on: date      # the local issue date
    net_chf: Decimal
    vat_rate: Decimal
    vat_chf: Decimal
    abroad: bool         # place of supply abroad; a credit note: that of the invoice it credits
    credits: str | None = None  # a credit note: the number of the invoice it credits


@dataclass(frozen=True)
class RateLine:
    rate: Decimal
    taxable_chf: Decimal
    vat_chf: Decimal
    documents: tuple[str, ...] = ()


@dataclass
class VatReturn:
    quarter: Quarter
    figures: dict[str, Decimal]
    rates: list[RateLine]
    vat_total_chf: Decimal
    documents: dict[str, tuple[str, ...]] = field(default_factory=dict)  # figure → numbers it counts
    counted: tuple[Document, ...] = ()

    def as_json(self, entity_code: str) -> dict:
        """SPEC §5's `reports vat --json` shape (decimals as strings)."""
        return {
            "entity": entity_code, "quarter": self.quarter.key, "method": "agreed",
            "figures": {k: f"{self.figures[k]:.2f}" for k in FIGURES},
            "rates": [{"rate": f"{r.rate:.2f}", "taxable_chf": f"{r.taxable_chf:.2f}", "vat_chf": f"{r.vat_chf:.2f}"}
                      for r in self.rates],
            "vat_total_chf": f"{self.vat_total_chf:.2f}",
        }


def _numbers(docs: Iterable[Document]) -> tuple[str, ...]:
    return tuple(d.number for d in docs)


def compute_vat_return(documents: Iterable[Document], quarter: Quarter) -> VatReturn:
    """The figures of the quarter from every document handed in (those of other quarters are ignored).

    Any span with `first_day` and `last_day` works the same (a month's figures, for the journal's check).
    """
    docs = sorted((d for d in documents if quarter.first_day <= d.issued_on <= quarter.last_day),
                  key=lambda d: (d.issued_on, d.kind, d.number))
    for d in docs:
        if d.kind not in KINDS:
            raise ValueError(f"document {d.number}: kind must be invoice or credit_note, not {d.kind!r}")
    invoices = [d for d in docs if d.kind == "invoice"]
    credits = [d for d in docs if d.kind == "credit_note"]
    abroad_invoices = [d for d in invoices if d.abroad]
    abroad_credits = [d for d in credits if d.abroad]
    swiss_credits = [d for d in credits if not d.abroad]

    def total(items):
        return sum((d.net_chf for d in items), ZERO)

    f200 = total(invoices) - total(abroad_credits)
    f221 = total(abroad_invoices) - total(abroad_credits)
    f235 = total(swiss_credits)
    f289 = f221 + f235
    f299 = f200 - f289

    rates: dict[Decimal, list[Document]] = {}
    for d in docs:
        if not d.abroad:
            rates.setdefault(Decimal(d.vat_rate).quantize(Decimal("0.01")), []).append(d)
    lines = []
    for rate in sorted(rates, reverse=True):
        group = rates[rate]
        sign = {"invoice": 1, "credit_note": -1}
        lines.append(RateLine(
            rate=rate,
            taxable_chf=sum((sign[d.kind] * d.net_chf for d in group), ZERO),
            vat_chf=sum((sign[d.kind] * d.vat_chf for d in group), ZERO),
            documents=_numbers(group),
        ))
    return VatReturn(
        quarter=quarter,
        figures={"200": f200, "221": f221, "235": f235, "289": f289, "299": f299},
        rates=lines,
        vat_total_chf=sum((r.vat_chf for r in lines), ZERO),
        documents={
            "200": _numbers(invoices + abroad_credits), "221": _numbers(abroad_invoices + abroad_credits),
            "235": _numbers(swiss_credits), "289": _numbers(abroad_invoices + abroad_credits + swiss_credits),
            "299": _numbers(docs),
        },
        counted=tuple(docs),
    )
