"""Collecting issued invoices: what happens after an invoice is committed.

Bank-transfer orgs pay from the QR-bill (nothing to do here). Card orgs are
charged through Stripe, each charge in steps of its own (see
`integrations/stripe_pay.py`), never inside the issuing transaction: the
invoice is the legal document and exists whether or not the card works.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from ..models import Invoice

log = logging.getLogger(__name__)


def collect_after_issue(invoices: Iterable[Invoice]) -> list[str]:
    """Start collection of newly issued invoices; returns notes for the caller to show."""
    notes: list[str] = []
    for invoice in invoices:
        if invoice.charge_status != "pending":
            continue
        try:
            from ..payments.charging import charge_new_invoice
        except ImportError:  # card payments not installed in this build
            notes.append(f"{invoice.number}: card org, charge pending (card payments are not set up)")
            continue
        notes.append(charge_new_invoice(invoice))
    return notes
