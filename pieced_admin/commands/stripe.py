"""`pieced-admin stripe …` and `pieced-admin billing charge` (SPEC §5, §6)."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from ..cli import OutsideSystemError, cli_errors
from ..extensions import db
from .billing import billing

stripe_group = AppGroup("stripe", help="The orgs' Stripe customers and cards.")


def _translate():
    """Bad input, an unknown org/number or Stripe switched off: exit 2; Stripe failing: exit 1 naming Stripe."""
    from ..billing.facts import UnknownOrgError
    from ..billing.issuing import BillingInputError
    from ..integrations.stripe_pay import PaymentProviderError, StripeNotConfiguredError

    return cli_errors(bad_input=(UnknownOrgError, BillingInputError, StripeNotConfiguredError),
                      outside=(PaymentProviderError,))


@stripe_group.command("ensure-customer")
@click.option("--org", "org_id", required=True, help="Zitadel org id, e.g. org-acme.")
def ensure_customer_cmd(org_id: str) -> None:
    """Create or adopt the org's Stripe customer (once) and print its id."""
    from ..payments.customers import ensure_customer, find_org

    with _translate():
        customer_id = ensure_customer(find_org(org_id))
        db.session.commit()
    click.echo(customer_id)


@stripe_group.command("sync")
@click.option("--org", "org_id", required=True, help="Zitadel org id, e.g. org-acme.")
def sync_cmd(org_id: str) -> None:
    """Mirror the org's cards from Stripe (brand, last4, expiry, default)."""
    from ..payments.customers import find_org, sync_payment_methods

    with _translate():
        rows = sync_payment_methods(find_org(org_id))
        db.session.commit()
    if not rows:
        click.echo(f"{org_id}: no card saved at Stripe (send a card setup link from the org page)")
    for row in rows:
        default = " (default)" if row.is_default else ""
        expiry = f"{row.exp_month:02d}/{row.exp_year}" if row.exp_month else "no expiry"
        click.echo(f"{row.stripe_payment_method_id}  {(row.brand or row.type).title()} •••• {row.last4}  "
                   f"{expiry}{default}")


@billing.command("charge")
@click.argument("number")
@click.option("--retry", is_flag=True, help="After a declined charge: try again as a new attempt.")
def charge_cmd(number: str, retry: bool) -> None:
    """Charge an issued card invoice now (at most once; see SPEC §6)."""
    from ..payments.charging import charge_invoice

    with _translate():
        outcome = charge_invoice(number, retry=retry)
        db.session.commit()
    if not outcome.ok:
        raise OutsideSystemError(outcome.message)
    click.echo(outcome.message)


COMMANDS = (stripe_group,)
