"""Charging an issued card invoice through Stripe: at most once, whatever is retried, re-run or crashes.

The steps, each committed before the next talks to Stripe:

1. the org's customer id is stored (`ensure_customer`), its cards mirrored;
2. a charge attempt is recorded with its idempotency key
   (`pieced-invoice-<id>-attempt-<n>`), before anything is created;
3. the PaymentIntent is created with that key and its id stored on the attempt
   and the invoice;
4. it is confirmed off-session, and the outcome recorded (paid, declined, ...).

A crash between 2 and 3 repeats the create with the same key, so Stripe
answers with the same PaymentIntent. Only a PaymentIntent whose id we stored
is ever confirmed, so even an expired key can at worst leave an unconfirmed
one behind, never a second charge. With a stored id the PaymentIntent is
retrieved and its status decides (SPEC §6); a declined one is retried only
when asked, as a new attempt after cancelling the declined one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa

from ..audit import current_actor, record_audit
from ..billing.issuing import BillingInputError, get_invoice, local_today, mark_paid
from ..extensions import db
from ..integrations.stripe_pay import (
    NOT_CONFIGURED,
    CardDeclined,
    PaymentProviderError,
    StripeGateway,
    StripeNotConfiguredError,
    StripeNotFoundError,
)
from ..models import ChargeAttempt, Invoice, OrgBillingConfig
from ..models.types import utcnow
from .customers import (
    StepGateway,
    card_is_usable,
    claim_write_lock,
    default_card,
    ensure_customer,
    stepped,
    sync_payment_methods,
)

log = logging.getLogger(__name__)

__all__ = [
    "ChargeOutcome", "charge_new_invoice", "charge_invoice", "minor_units", "attempt_key",
    "ATTENTION_STATUSES", "record_failure", "settle_paid",
]

# invoice.charge_status values that a person has to look at.
ATTENTION_STATUSES = frozenset({"pending", "no_payment_method", "failed", "error", "requires_action",
                                "canceled", "missing"})
CHARGE_AGAIN = "charge again (pieced-admin billing charge {number}, or Charge card on the invoice page)"


@dataclass
class ChargeOutcome:
    """What charging an invoice did, in one line for a person."""

    number: str
    status: str                  # the invoice's charge_status afterwards
    message: str
    ok: bool                     # paid, or on its way at Stripe
    payment_intent_id: str | None = None
    attempt: int | None = None
    created: bool = False        # a PaymentIntent was created by this call


def minor_units(amount: Decimal) -> int:
    """CHF to Rappen, exactly: 160.80 -> 16080 (Decimal × 100; a fraction of a Rappen is refused)."""
    value = Decimal(amount) * 100
    if value != value.to_integral_value():
        raise ValueError(f"{amount} CHF is not a whole number of Rappen")
    return int(value)


def attempt_key(invoice_id: int, attempt: int) -> str:
    """The idempotency key of a charge attempt, derived from our invoice id and the attempt number."""
    return f"pieced-invoice-{invoice_id}-attempt-{attempt}"


# --------------------------------------------------------------------------- recording


def _lock(invoice_id: int) -> Invoice:
    """Hold the invoice row (PostgreSQL row lock, SQLite write lock) and read it fresh."""
    table = Invoice.__table__
    db.session.execute(sa.update(table).where(table.c.id == invoice_id).values(charge_status=table.c.charge_status))
    return db.session.execute(
        sa.select(Invoice).where(Invoice.id == invoice_id).execution_options(populate_existing=True)
    ).scalar_one()


def _touch(attempt: ChargeAttempt, status: str, error: str | None = None) -> None:
    attempt.status = status
    attempt.error = error
    attempt.updated_at = utcnow()


def _set_charge(invoice: Invoice, status: str, message: str | None, action: str) -> None:
    before = {"charge_status": invoice.charge_status, "charge_message": invoice.charge_message}
    invoice.charge_status = status
    invoice.charge_message = message
    after = {"charge_status": status, "charge_message": message}
    if before != after:
        record_audit(action, "invoice", invoice.number, before=before, after=after)


def _is_current(invoice: Invoice, attempt: ChargeAttempt) -> bool:
    """Whether the attempt's PaymentIntent is the one the invoice is waiting for."""
    return invoice.stripe_payment_intent_id in (None, attempt.stripe_payment_intent_id)


def _received_chf(pi: dict) -> Decimal | None:
    """What Stripe says it collected, in CHF (None when the object carries no amount)."""
    minor = pi.get("amount_received") or pi.get("amount_total") or pi.get("amount")
    return Decimal(int(minor)).scaleb(-2) if minor else None


def settle_paid(invoice: Invoice, attempt: ChargeAttempt | None, pi: dict) -> str:
    """A PaymentIntent succeeded: record its payment once, in the invoice's lock; returns what was done.

    Money Stripe collected is always recorded: on a paid or void invoice it
    leaves the org a credit balance (money received twice), flagged for finance.
    """
    from . import ledger

    invoice = _lock(invoice.id)
    if attempt is not None:
        _touch(attempt, "succeeded")
    pi_id = pi["id"]
    amount = _received_chf(pi)
    if invoice.status == "issued":
        try:
            mark_paid(invoice.number, reference=pi_id, method="card", amount=amount, source="stripe",
                      source_id=pi_id)
        except BillingInputError:
            return f"already recorded ({pi_id})"
        _set_charge(invoice, "succeeded", None, "invoice.charge_succeeded")
        if invoice.status == "issued":
            return f"part payment by card ({pi_id}), balance {ledger.balance_of(invoice).balance}"
        return f"paid by card ({pi_id})"
    if amount is None:
        amount = ledger.balance_of(invoice).total
    payment = ledger.record(invoice=invoice, amount=amount, booked_on=local_today(), method="card",
                            reference=pi_id, source="stripe", source_id=pi_id, currency=invoice.currency,
                            note="collected although the invoice was no longer open")
    if payment is None:
        return f"already paid by card ({pi_id})"
    if invoice.status == "paid":
        message = (f"Stripe collected {pi_id} although the invoice was already paid "
                   f"({invoice.payment_method or 'other'}, {invoice.payment_reference or 'no reference'}): "
                   "the org has a credit balance; refund one of them")
    else:
        message = (f"Stripe collected {pi_id} although the invoice is void: the org has a credit balance; "
                   "refund it")
    invoice.charge_message = message
    record_audit("invoice.charge_collected_twice", "invoice", invoice.number, note=message,
                 after={"payment_id": payment.id, "amount_chf": payment.amount_chf})
    log.warning("invoice %s: %s", invoice.number, message)
    return message


def _decline_text(pi: dict | None) -> str:
    error = (pi or {}).get("last_payment_error") or {}
    return error.get("message") or "the card was declined"


def record_failure(invoice: Invoice, attempt: ChargeAttempt | None, message: str) -> None:
    """A declined charge: on the attempt, and on the invoice when it is the payment it waits for."""
    if attempt is not None:
        _touch(attempt, "failed", message)
    if invoice.status == "issued" and (attempt is None or _is_current(invoice, attempt)):
        _set_charge(invoice, "failed", f"Card declined: {message}", "invoice.charge_failed")


def _outcome(invoice: Invoice, attempt: ChargeAttempt | None, ok: bool, message: str,
             created: bool = False) -> ChargeOutcome:
    return ChargeOutcome(
        number=invoice.number, status=invoice.charge_status or "", message=message, ok=ok,
        payment_intent_id=attempt.stripe_payment_intent_id if attempt else invoice.stripe_payment_intent_id,
        attempt=attempt.attempt if attempt else None, created=created,
    )


# --------------------------------------------------------------------------- the steps


def _last_attempt(invoice_id: int) -> ChargeAttempt | None:
    return db.session.execute(
        sa.select(ChargeAttempt).where(ChargeAttempt.invoice_id == invoice_id)
        .order_by(ChargeAttempt.attempt.desc()).limit(1)
    ).scalar_one_or_none()


def _apply_status(gw: StepGateway, invoice: Invoice, attempt: ChargeAttempt, pi: dict, *,
                  created: bool = False) -> ChargeOutcome:
    """Record what Stripe says about the attempt's PaymentIntent, confirming it if it never was."""
    status = pi.get("status")
    number = invoice.number
    if status == "requires_confirmation":
        return _confirm(gw, invoice, attempt, pi, created=created)
    if status == "succeeded":
        note = settle_paid(invoice, attempt, pi)
        db.session.commit()
        return _outcome(invoice, attempt, True, f"{number}: {note}", created)
    if status in ("processing", "requires_capture"):
        _touch(attempt, status)
        _set_charge(invoice, "processing", "Stripe is processing the card payment", "invoice.charge_processing")
        db.session.commit()
        return _outcome(invoice, attempt, True, f"{number}: Stripe is processing the payment ({pi['id']})", created)
    if status == "requires_action" or (status == "requires_payment_method" and _wants_authentication(pi)):
        _touch(attempt, status)
        return _send_payment_link(gw, invoice, attempt, pi, created=created)
    if status == "requires_payment_method":
        text = _decline_text(pi)
        if attempt.status != "failed":
            record_failure(invoice, attempt, text)
            db.session.commit()
        return _outcome(invoice, attempt, False,
                        f"{number}: Stripe declined the card: {text.rstrip('.')}. Retry once the card is fixed "
                        f"(Retry charge, or pieced-admin billing charge {number} --retry)", created)
    if status == "canceled":
        _touch(attempt, "canceled", "canceled at Stripe")
        if _is_current(invoice, attempt) and invoice.status == "issued":
            _set_charge(invoice, "canceled",
                        f"PaymentIntent {pi['id']} was canceled at Stripe; it is not recreated automatically: "
                        "collect the invoice another way or charge again with retry", "invoice.charge_canceled")
        db.session.commit()
        return _outcome(invoice, attempt, False,
                        f"{number}: PaymentIntent {pi['id']} was canceled at Stripe; not recreated", created)
    return _outcome(invoice, attempt, False, f"{number}: Stripe reports status {status!r} for {pi.get('id')}",
                    created)


def _confirm(gw: StepGateway, invoice: Invoice, attempt: ChargeAttempt, pi: dict, *,
             created: bool) -> ChargeOutcome:
    """Confirm off-session (the customer is not present); a decline is recorded, not raised."""
    try:
        pi = gw.confirm_payment_intent(pi["id"], idempotency_key=f"{attempt.idempotency_key}-confirm")
    except CardDeclined as exc:
        declined = exc.payment_intent or {}
        if exc.code == "authentication_required" or _wants_authentication(declined):
            _touch(attempt, "requires_payment_method", "the bank wants the card holder to authenticate")
            return _send_payment_link(gw, invoice, attempt, declined or pi, created=created)
        text = exc.decline_message or _decline_text(declined)
        record_failure(invoice, attempt, text)
        db.session.commit()
        return _outcome(invoice, attempt, False,
                        f"{invoice.number}: Stripe declined the card: {text.rstrip('.')}. Retry once the card is fixed "
                        f"(Retry charge, or pieced-admin billing charge {invoice.number} --retry)", created)
    return _apply_status(gw, invoice, attempt, pi, created=created)


def _wants_authentication(pi: dict | None) -> bool:
    """Declined off-session because the bank wants the card holder present (SCA), not for lack of funds."""
    error = (pi or {}).get("last_payment_error") or {}
    return "authentication_required" in (error.get("code"), error.get("decline_code"))


def _send_payment_link(gw: StepGateway, invoice: Invoice, attempt: ChargeAttempt, pi: dict, *,
                       created: bool) -> ChargeOutcome:
    """E-mail the billing address a Stripe-hosted page to pay the balance (one Checkout session per attempt)."""
    from flask import current_app

    from ..integrations.mail import MailError, RecipientError, check_recipient, send_mail
    from .ledger import balance_of

    number = invoice.number
    due = balance_of(invoice).balance
    if due <= 0:
        return _outcome(invoice, attempt, True, f"{number}: nothing to pay any more", created)
    config = db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=invoice.zitadel_org_id)).scalar_one()
    if attempt.checkout_session_id is None:
        base = (current_app.config.get("PUBLIC_URL") or "").rstrip("/")
        page = f"{base}/invoices/{number}"
        session = gw.create_payment_session(
            customer_id=config.stripe_customer_id, amount_minor=minor_units(due), currency=invoice.currency,
            description=f"Invoice {number}", success_url=f"{page}?paid=1", cancel_url=page,
            idempotency_key=f"{attempt.idempotency_key}-payment-link",
            metadata={"pieced_invoice_id": str(invoice.id), "pieced_invoice_number": number,
                      "pieced_org_id": invoice.zitadel_org_id, "pieced_attempt": str(attempt.attempt)})
        attempt.checkout_session_id = session["id"]
        attempt.payment_link_url = session.get("url")
        record_audit("invoice.payment_link", "invoice", number,
                     after={"checkout_session": session["id"], "amount_chf": due, "attempt": attempt.attempt})
        db.session.commit()  # the session id is stored before anyone can pay it
    entity = invoice.entity_snapshot or {}
    try:
        to = check_recipient(config.billing_email, config.name)
        send_mail(to=to, kind="payment_link", language=config.language or invoice.language or "en",
                  context={"number": number, "customer_name": config.name, "currency": invoice.currency,
                           "amount": due, "url": attempt.payment_link_url,
                           "entity_name": entity.get("name") or "PieCed"})
    except (MailError, RecipientError) as exc:
        _set_charge(invoice, "requires_action",
                    f"The bank wants the card holder to authenticate; the payment link could not be e-mailed "
                    f"({exc}). Send it yourself: {attempt.payment_link_url}", "invoice.charge_requires_action")
        db.session.commit()
        return _outcome(invoice, attempt, False, f"{number}: payment link not e-mailed: {exc}", created)
    _set_charge(invoice, "requires_action",
                f"The bank wants the card holder to authenticate: a payment link for {invoice.currency} {due} "
                f"was e-mailed to {to}", "invoice.charge_requires_action")
    db.session.commit()
    return _outcome(invoice, attempt, False,
                    f"{number}: the card holder must authenticate; payment link e-mailed to {to}", created)


def settle_checkout(attempt: ChargeAttempt, session: dict) -> str:
    """A paid Checkout session (payment link) of an attempt: record its payment once."""
    invoice = db.session.get(Invoice, attempt.invoice_id)
    pi_id = session.get("payment_intent")
    pi_id = pi_id.get("id") if isinstance(pi_id, dict) else pi_id
    payment = {"id": pi_id or session["id"], "amount_received": session.get("amount_total")}
    return settle_paid(invoice, attempt, payment)


def _usable_card(gw: StepGateway, invoice: Invoice):
    config = db.session.execute(
        sa.select(OrgBillingConfig).filter_by(zitadel_org_id=invoice.zitadel_org_id)
    ).scalar_one()
    customer_id = ensure_customer(config, gw)
    rows = sync_payment_methods(config, gw)
    card = default_card(rows)
    if card is None:
        reason = ("no card is saved at Stripe" if not rows else
                  f"{len(rows)} cards are saved at Stripe but none is the default")
        return customer_id, None, f"No usable card for {config.name}: {reason}. Send the org a card setup link, then charge again"
    if not card_is_usable(card):
        return customer_id, None, (f"The default card of {config.name} ({card.brand} •••• {card.last4}) expired "
                                   f"{card.exp_month:02d}/{card.exp_year}. Send a card setup link, then charge again")
    return customer_id, card, None


def _no_card(invoice: Invoice, attempt: ChargeAttempt | None, problem: str) -> ChargeOutcome:
    if invoice.status == "issued":
        _set_charge(invoice, "no_payment_method", problem, "invoice.charge_no_payment_method")
    db.session.commit()
    return _outcome(invoice, attempt, False, f"{invoice.number}: {problem}")


def _create_and_confirm(gw: StepGateway, invoice: Invoice, attempt: ChargeAttempt, customer_id: str,
                        card) -> ChargeOutcome:
    """Create the attempt's PaymentIntent with its key, store its id (committed), then confirm it."""
    try:
        pi = gw.create_payment_intent(
            amount_minor=attempt.amount_minor, currency=attempt.currency, customer_id=customer_id,
            payment_method_id=card.stripe_payment_method_id, idempotency_key=attempt.idempotency_key,
            metadata={"pieced_invoice_id": str(invoice.id), "pieced_invoice_number": invoice.number,
                      "pieced_org_id": invoice.zitadel_org_id, "pieced_attempt": str(attempt.attempt)},
        )
    except PaymentProviderError as exc:
        # Ambiguous (timeout, 5xx, 429 after the library's retries): Stripe may have created it, so the
        # attempt stays "creating" and the next run repeats the same key. Otherwise nothing was created.
        _touch(attempt, "creating" if exc.ambiguous else "error", str(exc))
        _set_charge(invoice, "error", f"{exc}. Then {CHARGE_AGAIN.format(number=invoice.number)}",
                    "invoice.charge_error")
        db.session.commit()
        raise
    attempt.stripe_payment_intent_id = pi["id"]
    invoice.stripe_payment_intent_id = pi["id"]
    _touch(attempt, pi.get("status") or "created")
    _set_charge(invoice, "processing", f"PaymentIntent {pi['id']} created", "invoice.charge_created")
    db.session.commit()  # the id is stored before the card is charged
    return _apply_status(gw, invoice, attempt, pi, created=True)


def _new_attempt(gw: StepGateway, invoice: Invoice, previous: ChargeAttempt | None) -> ChargeOutcome:
    """Record attempt n+1 with its idempotency key (committed) before anything is created at Stripe."""
    customer_id, card, problem = _usable_card(gw, invoice)
    if card is None:
        return _no_card(invoice, None, problem)
    from .ledger import balance_of

    number_ = (previous.attempt if previous else 0) + 1
    actor, _ = current_actor()
    due = balance_of(invoice).balance  # the amount due: the total less credit applied and payments received
    if due <= 0:
        return _outcome(invoice, previous, True, f"{invoice.number}: nothing to charge, the balance is settled")
    attempt = ChargeAttempt(
        invoice_id=invoice.id, attempt=number_, idempotency_key=attempt_key(invoice.id, number_),
        amount_minor=minor_units(due), currency=invoice.currency, status="creating",
        requested_by=actor,
    )
    db.session.add(attempt)
    record_audit("invoice.charge_attempt", "invoice", invoice.number,
                 after={"attempt": number_, "amount_chf": due, "key": attempt.idempotency_key})
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        invoice = db.session.get(Invoice, invoice.id)
        return _outcome(invoice, None, False,
                        f"{invoice.number}: another charge of this invoice is under way; look again in a moment")
    return _create_and_confirm(gw, invoice, attempt, customer_id, card)


def _charge(invoice: Invoice, *, retry: bool, gw: StripeGateway | None = None) -> ChargeOutcome:
    gw = stepped(gw)
    number = invoice.number
    last = _last_attempt(invoice.id)
    if last is not None and last.stripe_payment_intent_id:
        try:
            pi = gw.retrieve_payment_intent(last.stripe_payment_intent_id)
        except StripeNotFoundError:
            message = (f"PaymentIntent {last.stripe_payment_intent_id} is missing at Stripe; it is not recreated: "
                       "check the Stripe dashboard and STRIPE_API_KEY (test or live), then collect the invoice "
                       "another way")
            _touch(last, "missing", message)
            if invoice.status == "issued":
                _set_charge(invoice, "missing", message, "invoice.charge_missing")
            db.session.commit()
            log.warning("invoice %s: %s", number, message)
            return _outcome(invoice, last, False, f"{number}: {message}")
        status = pi.get("status")
        if not retry or status not in ("requires_payment_method", "canceled"):
            return _apply_status(gw, invoice, last, pi)
        # Retry asked for after a decline: cancel the declined PaymentIntent first, so it can never be
        # charged later; the new attempt gets a new key.
        if status == "requires_payment_method":
            if last.status != "failed":
                record_failure(invoice, last, _decline_text(pi))
                db.session.commit()
            try:
                gw.cancel_payment_intent(pi["id"], idempotency_key=f"{last.idempotency_key}-cancel")
            except PaymentProviderError:
                pi = gw.retrieve_payment_intent(pi["id"])
                if pi.get("status") not in ("canceled", "requires_payment_method"):
                    return _apply_status(gw, invoice, last, pi)
        return _new_attempt(gw, invoice, last)
    if last is not None and last.status == "creating":
        # A create whose answer we never stored: the same key again, so Stripe returns the same PaymentIntent.
        customer_id, card, problem = _usable_card(gw, invoice)
        if card is None:
            return _no_card(invoice, last, problem)
        return _create_and_confirm(gw, invoice, last, customer_id, card)
    return _new_attempt(gw, invoice, last)


# --------------------------------------------------------------------------- entry points


def _check_chargeable(invoice: Invoice) -> None:
    if invoice.status == "paid":
        raise BillingInputError(f"invoice {invoice.number} is already paid; nothing to charge")
    if invoice.status == "void":
        raise BillingInputError(f"invoice {invoice.number} is void; nothing to charge")
    if invoice.charge_status is None:
        raise BillingInputError(
            f"invoice {invoice.number} is paid by bank transfer (its org paid by invoice when it was issued); "
            "mark it paid when the money arrives")


def _record_provider_error(invoice_id: int, exc: PaymentProviderError) -> None:
    """Stripe failed mid-way: say so on the invoice (unless a more precise state was recorded)."""
    db.session.rollback()
    claim_write_lock()
    invoice = db.session.get(Invoice, invoice_id)
    if invoice.status == "issued" and invoice.charge_status not in ("error", "no_payment_method"):
        _set_charge(invoice, "error", f"{exc}. Then {CHARGE_AGAIN.format(number=invoice.number)}",
                    "invoice.charge_error")
        db.session.commit()


def charge_invoice(number: str, *, retry: bool = False) -> ChargeOutcome:
    """Charge an issued card invoice now, at most once (SPEC §6); `retry` makes a new attempt after a decline.

    Commits its own steps. Raises BillingInputError for an unknown, paid, void or
    bank-transfer invoice, PaymentProviderError when Stripe fails (recorded on the invoice first).
    """
    invoice = get_invoice(number)
    _check_chargeable(invoice)
    invoice_id = invoice.id
    try:
        return _charge(invoice, retry=retry)
    except StripeNotConfiguredError:
        raise
    except PaymentProviderError as exc:
        _record_provider_error(invoice_id, exc)
        raise


def charge_new_invoice(invoice: Invoice) -> str:
    """Charge a card invoice just issued and committed; never raises for Stripe: the outcome is recorded and noted."""
    invoice = db.session.get(Invoice, invoice.id)
    number, invoice_id = invoice.number, invoice.id
    if invoice.status != "issued" or invoice.charge_status is None:
        return f"{number}: nothing to charge"
    try:
        return _charge(invoice, retry=False).message
    except StripeNotConfiguredError:
        db.session.rollback()
        claim_write_lock()
        invoice = db.session.get(Invoice, invoice_id)
        _set_charge(invoice, "pending", f"{NOT_CONFIGURED}; then {CHARGE_AGAIN.format(number=number)}",
                    "invoice.charge_pending")
        db.session.commit()
        return f"{number}: card org, charge pending ({NOT_CONFIGURED})"
    except PaymentProviderError as exc:
        _record_provider_error(invoice_id, exc)
        log.warning("charging %s failed: %s", number, exc)
        return f"{number}: card charge not done: {exc}"


IN_FLIGHT = ("creating", "created", "requires_confirmation", "requires_action", "requires_payment_method",
             "processing", "requires_capture", "failed", "error")


def cancel_in_flight(number: str, *, gw: StripeGateway | None = None) -> str | None:
    """After a void: cancel the invoice's PaymentIntent at Stripe if it may still collect; None if there is none.

    If Stripe collected it already (or does so before the cancel lands), the
    payment is recorded on the void invoice, which leaves the org a credit
    balance flagged for a refund: money is never silently kept.
    """
    invoice = get_invoice(number)
    last = _last_attempt(invoice.id)
    if invoice.status != "void" or last is None or not last.stripe_payment_intent_id or last.status not in IN_FLIGHT:
        return None
    pi_id, key = last.stripe_payment_intent_id, f"{last.idempotency_key}-void-cancel"
    try:
        gw = stepped(gw)
        try:
            pi = gw.cancel_payment_intent(pi_id, idempotency_key=key)
        except PaymentProviderError:
            pi = gw.retrieve_payment_intent(pi_id)
    except PaymentProviderError as exc:
        db.session.rollback()
        claim_write_lock()
        invoice = get_invoice(number)
        invoice.charge_message = (f"The invoice is void but its payment {pi_id} could not be cancelled at Stripe "
                                  f"({exc}): cancel it in the Stripe dashboard")
        record_audit("invoice.charge_cancel_failed", "invoice", number, note=invoice.charge_message)
        db.session.commit()
        return invoice.charge_message
    invoice = get_invoice(number)
    last = db.session.get(ChargeAttempt, last.id)
    if pi.get("status") == "succeeded":
        note = settle_paid(invoice, last, pi)
        db.session.commit()
        return f"{number}: {note}"
    _touch(last, "canceled", "cancelled at Stripe because the invoice was voided")
    record_audit("invoice.charge_cancelled", "invoice", number, after={"payment_intent": pi_id})
    db.session.commit()
    return f"{number}: payment {pi_id} cancelled at Stripe"
