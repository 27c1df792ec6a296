"""Billing entities: create and edit with a validated IBAN, unique codes and prefixes, exactly one default."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from pieced_admin.models import BillingEntity

from ..orgs.support import HTMX, audit_entries, make_invoice, make_org, make_tenant, text

QR_IBAN = "CH44 3199 9123 0008 8901 2"  # institution id 31999: a QR-IBAN
PLAIN_IBAN = "CH93 0076 2011 6238 5295 7"  # institution id 00762: a plain IBAN

VALID = {
    "name": "PieCed Services GmbH",
    "code": "pieced-services",
    "vat_number": "CHE-987.654.321 MWST",
    "street": "Bundesgasse",
    "building_number": "3",
    "postal_code": "3011",
    "city": "Bern",
    "country": "CH",
    "iban": PLAIN_IBAN,
    "invoice_prefix": "PS",
    "currency": "CHF",
    "email": "billing@services.pieced.ch",
    "website": "https://pieced.ch",
}


def _entities(session) -> dict[str, BillingEntity]:
    session.expire_all()
    return {e.code: e for e in session.execute(sa.select(BillingEntity)).scalars()}


def _error(page: str, field: str) -> str:
    match = re.search(rf'id="{field}-error"[^>]*>([^<]*)<', page)
    assert match, f"no error next to {field}"
    return match.group(1)


def test_create_stores_the_iban_compact_and_audits(admin_client, post, session):
    resp = post("/entities/new", VALID)
    assert resp.status_code == 302
    entity = _entities(session)["pieced-services"]
    assert entity.iban == "CH9300762011623852957"
    assert (entity.invoice_prefix, entity.currency, entity.is_default) == ("PS", "CHF", False)
    (entry,) = audit_entries(session, "billing_entity", entity.id)
    assert entry.action == "entity.create" and entry.after["iban"] == "CH9300762011623852957"
    page = text(admin_client.get(resp.headers["Location"]))
    assert "Created PieCed Services GmbH" in page
    assert "CH93 0076 2011 6238 5295 7" in page  # shown in groups of four


def test_list_says_whether_each_iban_is_a_qr_iban(admin_client, post, session):
    post("/entities/new", VALID)
    post("/entities/new", {**VALID, "code": "pieced-qr", "invoice_prefix": "PQ", "iban": QR_IBAN, "name": "QR AG"})
    page = text(admin_client.get("/entities"))
    assert "QR-IBAN → QRR" in page
    assert "IBAN → SCOR" in page
    assert "missing: invoices cannot carry a QR-bill" in page  # the seeded entity has no IBAN yet


def test_the_iban_hint_is_an_htmx_partial(admin_client):
    qr = text(admin_client.get("/entities/iban-kind", query_string={"iban": QR_IBAN}, headers=HTMX))
    assert qr.startswith('<small id="iban-kind"') and "QR-IBAN" in qr and "QRR" in qr
    plain = text(admin_client.get("/entities/iban-kind", query_string={"iban": PLAIN_IBAN}, headers=HTMX))
    assert "Plain IBAN" in plain and "SCOR" in plain
    bad = text(admin_client.get("/entities/iban-kind", query_string={"iban": "CH93 0076 2011 6238 5295 8"}))
    assert "check digits" in bad


ENTITY_RULES = [
    ("iban", "CH93 0076 2011 6238 5295 8", "check digits are wrong"),
    ("iban", "DE89 3704 0044 0532 0130 00", "Not a Swiss or Liechtenstein IBAN"),
    ("iban", "", "Required"),
    ("invoice_prefix", "P-S", "1 to 10 letters or digits"),
    ("invoice_prefix", "ABCDEFGHIJK", "1 to 10 letters or digits"),
    ("invoice_prefix", "", "Required."),
    ("code", "Pieced Services", "Lower-case letters, digits and hyphens"),
    ("name", "", "Required."),
    ("city", "", "Required for the QR-bill."),
    ("postal_code", "", "Required for the QR-bill."),
    ("currency", "EUR", "Not a valid choice"),
    ("email", "billing-at-pieced", "Enter an e-mail address"),
    ("website", "pieced.ch", "Enter a web address"),
]


def test_each_rule_is_shown_next_to_its_field(admin_client, post, session):
    for field, value, message in ENTITY_RULES:
        resp = post("/entities/new", {**VALID, field: value})
        assert resp.status_code == 422, (field, value)
        assert message in _error(text(resp), field), (field, value)
    assert "pieced-services" not in _entities(session)


def test_prefix_is_stored_upper_case(admin_client, post, session):
    post("/entities/new", {**VALID, "invoice_prefix": "ps2"})
    assert _entities(session)["pieced-services"].invoice_prefix == "PS2"


def test_a_duplicate_prefix_or_code_is_refused_with_a_clear_message(admin_client, post, session):
    # the seeded default entity "pieced" numbers PC-…
    page = text(post("/entities/new", {**VALID, "invoice_prefix": "pc"}))
    assert "PC is the invoice prefix of PieCed already" in _error(page, "invoice_prefix")
    page = text(post("/entities/new", {**VALID, "code": "pieced"}))
    assert "pieced is the code of PieCed already" in _error(page, "code")
    assert set(_entities(session)) == {"pieced"}


def test_a_prefix_another_entity_numbered_invoices_with_cannot_be_taken(admin_client, post, session):
    seeded = _entities(session)["pieced"]
    make_org(session, "org-acme")
    make_invoice(session, "org-acme", "PX-2026-0001", "10.00", entity_id=seeded.id)  # issued under an old prefix
    session.commit()
    page = text(post("/entities/new", {**VALID, "invoice_prefix": "PX"}))
    assert "PX-2026-0001" in _error(page, "invoice_prefix")
    # the entity that issued them may keep using it
    resp = post(f"/entities/{seeded.id}", {**VALID, "code": "pieced", "name": "PieCed", "invoice_prefix": "PX",
                                           "is_default": "y"})
    assert resp.status_code == 302


def test_making_an_entity_default_unsets_the_other_in_one_go(admin_client, post, session):
    post("/entities/new", {**VALID, "is_default": "y"})
    entities = _entities(session)
    assert entities["pieced-services"].is_default and not entities["pieced"].is_default
    unset = [e for e in audit_entries(session, "billing_entity", entities["pieced"].id)]
    assert [(e.before, e.after) for e in unset] == [({"is_default": True}, {"is_default": False})]

    # and back: editing the old one to be the default
    old = entities["pieced"]
    resp = post(f"/entities/{old.id}", {**VALID, "code": "pieced", "name": "PieCed", "invoice_prefix": "PC",
                                        "is_default": "y"})
    assert resp.status_code == 302
    entities = _entities(session)
    assert [c for c, e in entities.items() if e.is_default] == ["pieced"]


def test_the_default_cannot_simply_be_unticked(admin_client, post, session):
    seeded = _entities(session)["pieced"]
    resp = post(f"/entities/{seeded.id}", {**VALID, "code": "pieced", "name": "PieCed", "invoice_prefix": "PC"})
    assert resp.status_code == 422
    assert "One entity is always the default" in _error(text(resp), "is_default")
    assert _entities(session)["pieced"].is_default


def test_edit_audits_before_and_after(admin_client, post, session):
    seeded = _entities(session)["pieced"]
    resp = post(f"/entities/{seeded.id}", {**VALID, "code": "pieced", "name": "PieCed AG", "invoice_prefix": "PC",
                                           "iban": QR_IBAN, "is_default": "y"})
    assert resp.status_code == 302
    (entry,) = audit_entries(session, "billing_entity", seeded.id)
    assert entry.action == "entity.update"
    assert entry.before["name"] == "PieCed" and entry.after["name"] == "PieCed AG"
    assert entry.before["iban"] is None and entry.after["iban"] == "CH4431999123000889012"
    assert "is_default" not in entry.after
    page = text(admin_client.get(f"/entities/{seeded.id}"))
    assert "QR-IBAN" in page and "QRR" in page


def test_each_entity_shows_whom_it_bills(admin_client, post, session):
    post("/entities/new", VALID)
    services = _entities(session)["pieced-services"]
    make_org(session, "org-acme", display_name="Acme Treuhand AG")  # no entity: the default bills it
    make_org(session, "org-helvetia", display_name="Helvetia Legal GmbH", billing_entity_id=services.id)
    created = datetime(2026, 9, 1, tzinfo=timezone.utc)
    make_tenant(session, "zeta-main", "org-zeta", created)  # org without a config: the default
    make_tenant(session, "acme-hr", "org-acme", created, billing_entity_id=services.id)  # moved tenant
    page = text(admin_client.get("/entities"))
    default_card = page.split('id="entity-', 2)[1]
    services_card = page.split(f'id="entity-{services.id}"', 1)[1]
    assert "Bills 2 orgs" in default_card and "Acme Treuhand AG" in default_card and "org-zeta" in default_card
    assert "Bills 1 org" in services_card and "Helvetia Legal GmbH" in services_card
    assert "acme-hr" in services_card and "1 tenant moved to it" in services_card
    detail = text(admin_client.get(f"/entities/{services.id}"))
    assert "Helvetia Legal GmbH" in detail and "acme-hr" in detail


def test_finance_reads_entities_without_forms(finance_client, session):
    seeded = _entities(session)["pieced"]
    index = text(finance_client.get("/entities"))
    assert "PieCed" in index and "New entity" not in index
    new = finance_client.get("/entities/new")
    assert new.status_code == 200 and "Only platform admins create billing entities" in text(new)
    detail = finance_client.get(f"/entities/{seeded.id}")
    assert detail.status_code == 200
    assert 'name="iban"' not in text(detail) and "Save entity" not in text(detail)


def test_finance_cannot_change_entities_even_with_a_csrf_token(finance_client, post, session):
    seeded = _entities(session)["pieced"]
    for path in ("/entities/new", f"/entities/{seeded.id}"):
        resp = post(path, {**VALID, "code": "pieced", "invoice_prefix": "PC", "is_default": "y"})
        assert resp.status_code == 403, path
    assert set(_entities(session)) == {"pieced"} and _entities(session)["pieced"].iban is None


def test_an_unknown_entity_is_404(admin_client):
    assert admin_client.get("/entities/999").status_code == 404
