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

    # "no_payment_method" at issue: no usable card was on file then (the PDF carries the QR-bill);
    # the charge still looks at Stripe and records why it cannot charge.
    return [charge_new_invoice(invoice) for invoice in invoices if invoice.charge_status in NEW_CARD_STATUSES]


NEW_CARD_STATUSES = ("pending", "no_payment_method")
