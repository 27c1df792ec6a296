"""Issuing refuses, with one line naming what to fix, what would not be a valid Swiss invoice with a QR-bill."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from pieced_admin.billing.issuing import BillingInputError, issue_invoices, preview_invoices
from pieced_admin.models import Invoice, OrgBillingConfig

from ..factories import default_entity, make_org, make_tenant, spec_pricing, zurich
from .test_issuing import NOV_3, OCT


def _org(org_id="org-x", **fields):
    spec_pricing()
    make_org(org_id, **fields)
    make_tenant(f"{org_id}-main", org_id, zurich(2026, 9, 1))


def _issue(org_id="org-x"):
    return issue_invoices(org_id, OCT, now=NOV_3, render_pdfs=None)


def _count(session) -> int:
    return session.execute(sa.select(sa.func.count()).select_from(Invoice)).scalar()


def test_an_entity_charging_swiss_vat_needs_a_vat_number_that_passes_the_uid_check(session):
    _org(country="CH")
    default_entity().vat_number = "CHE-123.456.789 MWST"  # wrong check digit
    (item,) = preview_invoices("org-x", OCT)
    assert any("fails the UID check" in w for w in item.draft.warnings)
    with pytest.raises(BillingInputError, match=r"CHE-123\.456\.789 MWST.*fails the UID check.*Entities page") as exc:
        _issue()
    assert "\n" not in str(exc.value)
    assert _count(session) == 0
    default_entity().vat_number = "CHE-123.456.788 MWST"
    assert len(_issue().issued) == 1


def test_an_invoice_supplied_abroad_charges_no_swiss_vat_and_needs_no_uid(session):
    _org(country="DE", postal_code="80802", city="München")
    default_entity().vat_number = None
    assert len(_issue().issued) == 1


def test_an_org_without_the_address_a_swiss_invoice_names_is_refused(session):
    _org(postal_code=None, city=None)
    with pytest.raises(BillingInputError, match=r"org org-x has no postal code, city in its billing address"):
        _issue()
    assert _count(session) == 0


def test_a_name_the_qr_bill_cannot_carry_is_refused(session):
    _org(display_name="Ωmega Systems AG")  # Greek: outside the QR-bill's character set
    with pytest.raises(BillingInputError, match=r"'Ωmega Systems AG' has characters a QR-bill cannot carry \(Ω\)"):
        _issue()
    session.execute(sa.update(OrgBillingConfig).where(OrgBillingConfig.zitadel_org_id == "org-x")
                    .values(display_name="Dvořák Ștefan Łódź AG"))  # Latin Extended-A: fine
    assert len(_issue().issued) == 1


def test_a_card_invoice_without_a_usable_card_carries_the_qr_bill_and_says_so(session):
    from pieced_admin.models import InvoiceDocument

    from ..pdf_tools import decode_qr, pdf_text

    _org(pay_by_invoice=False)  # a card org with no Stripe customer: no card can be on file
    default_entity().vat_number = "CHE-123.456.788 MWST"
    (invoice,) = issue_invoices("org-x", OCT, now=NOV_3).issued
    assert invoice.charge_status == "no_payment_method"
    pdf = session.get(InvoiceDocument, invoice.id).content
    assert "We could not charge your payment card." in " ".join(pdf_text(pdf).split())
    assert decode_qr(pdf)["amount"] == f"{invoice.total_chf:.2f}"


def test_a_skill_is_billed_under_its_display_name_and_the_pdf_does_not_repeat_the_tenant(session):
    from pieced_admin.models import InvoiceDocument, SkillPricing

    from ..factories import skill_event
    from ..pdf_tools import pdf_text

    _org()
    default_entity().vat_number = "CHE-123.456.788 MWST"
    skill_event("org-x-main", "searxng-local-search", "enabled", zurich(2026, 9, 1))
    session.get(SkillPricing, "searxng-local-search").display_name = "Private web search"
    (invoice,) = issue_invoices("org-x", OCT, now=NOV_3).issued
    (line,) = [line for line in invoice.lines if line.kind == "skill"]
    assert "Private web search" in line.description and "searxng" not in line.description
    text = " ".join(pdf_text(session.get(InvoiceDocument, invoice.id).content).split())
    assert "Tenant org-x-main" in text and "Private web search (31 days) 31 days 0.10 3.10" in text
    assert "org-x-main —" not in text
