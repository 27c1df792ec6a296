"""Reports for finance: the Swiss VAT return (`vat.py`, pure) and the documents it is computed from (`gather.py`)."""
