"""Exports for spreadsheets and machines: one table builder per kind of record, two writers.

- `tables.py` is pure: a `Table` (typed columns, rows of Python values) written as XLSX
  (openpyxl: real numbers and dates, a header row, frozen panes) or CSV in two flavours:
  `excel-ch` (UTF-8 with BOM, `;`, dd.mm.yyyy, as Excel in a Swiss locale opens it) and
  `rfc4180` (UTF-8, `,`, ISO dates, for machines). Every text cell is neutralised against
  formula injection (OWASP: a leading `=`, `+`, `-`, `@`, tab or CR gets a `'`).
- `invoices.py` builds the invoice and line tables from the invoice list's filter.
- Payments, credit notes and unmatched bank entries each become one more table builder of
  the same shape (a function returning a `Table`), written by the same writers.
"""
