"""Typed tables written as XLSX or CSV (pure: values in, bytes or text out; no database, no Flask)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

__all__ = ["Column", "Table", "FLAVOURS", "neutralise", "to_csv", "csv_text", "to_xlsx"]

# text, money (CHF, 2 places), rate (percent, 2 places), price (a unit price, up to 5 places),
# number (an integer or a quantity), date, month (YYYY-MM as text)
KINDS = ("text", "money", "rate", "price", "number", "date", "month")
FLAVOURS = ("excel-ch", "rfc4180")
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    name: str           # the header, also the machine name (snake_case)
    kind: str = "text"
    width: int | None = None  # XLSX column width in characters (default from the kind)


@dataclass
class Table:
    """A sheet: its name, columns and rows (an iterable: big exports stream)."""

    name: str
    columns: Sequence[Column]
    rows: Iterable[Sequence] = field(default_factory=list)

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]


def neutralise(value: str) -> str:
    """A text cell a spreadsheet will not run as a formula (OWASP CSV injection): a leading ' where needed."""
    if value and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def _money(value: Decimal) -> str:
    return f"{value.quantize(Decimal('0.01')):f}"


def _csv_cell(value, kind: str, flavour: str) -> str:
    if value is None or value == "":
        return ""
    if kind in ("money", "rate", "price", "number") and isinstance(value, (Decimal, int, float)):
        # Numbers stay numbers: never neutralised (a refund of -5.00 is a number, not a formula).
        if kind in ("money", "rate"):
            return _money(Decimal(str(value)))
        if kind == "price":
            text = f"{Decimal(str(value)).normalize():f}"
            return text if len(text.partition(".")[2]) >= 2 else _money(Decimal(str(value)))
        return f"{Decimal(str(value)).normalize():f}" if isinstance(value, Decimal) else str(value)
    if kind == "date" and isinstance(value, (date, datetime)):
        day = value.date() if isinstance(value, datetime) else value
        return day.strftime("%d.%m.%Y") if flavour == "excel-ch" else day.isoformat()
    return neutralise(str(value))


def to_csv(table: Table, flavour: str = "rfc4180", batch: int = 1000) -> Iterator[str]:
    """The table as CSV text in chunks of `batch` rows; `excel-ch` starts with a BOM and uses `;`."""
    if flavour not in FLAVOURS:
        raise ValueError(f"unknown CSV flavour {flavour!r}: use one of {', '.join(FLAVOURS)}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";" if flavour == "excel-ch" else ",", lineterminator="\r\n")
    if flavour == "excel-ch":
        buffer.write("\ufeff")
    writer.writerow([neutralise(h) for h in table.header])
    kinds = [c.kind for c in table.columns]
    pending = 0
    for row in table.rows:
        writer.writerow([_csv_cell(v, k, flavour) for v, k in zip(row, kinds)])
        pending += 1
        if pending >= batch:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            pending = 0
    yield buffer.getvalue()


def csv_text(table: Table, flavour: str = "rfc4180") -> str:
    """The whole CSV at once (small tables, tests)."""
    return "".join(to_csv(table, flavour))


_WIDTHS = {"text": 18, "money": 12, "rate": 8, "price": 10, "number": 9, "date": 11, "month": 9}
_FORMATS = {"money": "#,##0.00", "rate": "0.00", "price": "0.00###", "date": "DD.MM.YYYY"}


def _xlsx_cell(value, kind: str):
    if value is None or value == "":
        return None
    if kind == "money" and isinstance(value, (Decimal, int)):
        return Decimal(value).quantize(Decimal("0.01"))
    if kind in ("rate", "price", "number") and isinstance(value, (Decimal, int, float)):
        return value
    if kind == "date" and isinstance(value, datetime):
        return value.date()
    if kind == "date" and isinstance(value, date):
        return value
    return neutralise(str(value))


def to_xlsx(tables: Sequence[Table]) -> bytes:
    """An XLSX workbook, one sheet per table: bold header, frozen below it, filters, numbers and dates typed."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    book = Workbook(write_only=False)
    book.remove(book.active)
    for table in tables:
        sheet = book.create_sheet(title=table.name[:31])
        sheet.append(table.header)
        for cell in sheet[1]:
            cell.font = Font(bold=True)
            cell.data_type = "s"
        kinds = [c.kind for c in table.columns]
        for row in table.rows:
            sheet.append([_xlsx_cell(v, k) for v, k in zip(row, kinds)])
        for index, column in enumerate(table.columns, start=1):
            letter = get_column_letter(index)
            sheet.column_dimensions[letter].width = column.width or max(_WIDTHS[column.kind], len(column.name) + 2)
            fmt = _FORMATS.get(column.kind)
            if fmt:
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    cell.number_format = fmt
            if column.kind == "text" or column.kind == "month":
                for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                    if cell.value is not None:
                        cell.data_type = "s"  # never a formula, whatever the text
        sheet.freeze_panes = "A2"
        if sheet.max_row >= 1:
            sheet.auto_filter.ref = f"A1:{get_column_letter(len(table.columns))}{sheet.max_row}"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
