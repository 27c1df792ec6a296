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
    from ..payments.charging import charge_new_invoice

    return [charge_new_invoice(invoice) for invoice in invoices if invoice.charge_status == "pending"]
