"""The pricing editor: validation next to each field, audit with before/after, roles."""

from __future__ import annotations

from decimal import Decimal

import pytest

from pieced_admin.models import PlatformPricing, SkillPricing, TenantLifecycle, TenantSkillEvent
from pieced_admin.models.types import utcnow

from ..orgs.support import audit_entries, text

VALID = {
    "tenant_monthly_fee_chf": "49.00",
    "tenant_setup_fee_chf": "99",
    "threema_message_chf": "0.005",
    "llm_usd_to_chf": "0.9",
    "llm_markup_pct": "20",
    "vat_rate_chli": "8.10",
    "payment_terms_days": "30",
}


def _errors_of(page: str) -> str:
    """The text of every field error on the page, in order."""
    import re

    return " | ".join(re.findall(r'class="field-error"[^>]*>([^<]*)<', page))


def test_admin_sees_the_form_with_inputs_named_after_the_columns(admin_client):
    page = text(admin_client.get("/pricing"))
    for column in VALID:
        assert f'name="{column}"' in page
    assert "Recent changes" in page
    assert "issued invoices keep" in page.lower()


def test_saving_prices_stores_them_and_audits_before_and_after(admin_client, post, session):
    resp = post("/pricing", {**VALID, "tenant_monthly_fee_chf": "59.5"})
    assert resp.status_code == 302
    pricing = session.get(PlatformPricing, 1)
    session.refresh(pricing)
    assert pricing.tenant_monthly_fee_chf == Decimal("59.50")
    assert pricing.threema_message_chf == Decimal("0.005")
    assert pricing.payment_terms_days == 30

    (entry,) = audit_entries(session, "platform_pricing")
    assert entry.actor == "admin@pieced.local"
    # the seeded row has zeros, 1 CHF/USD and VAT 8.10: only what changed is logged
    assert entry.before["tenant_monthly_fee_chf"] == "0.00"
    assert entry.after["tenant_monthly_fee_chf"] == "59.50"
    assert entry.after["threema_message_chf"] == "0.005"
    assert "vat_rate_chli" not in entry.after  # 8.10 before and after

    page = text(admin_client.get("/pricing"))
    assert "Saved" in page
    assert "Monthly fee:" in page and "0.00" in page and "59.50" in page  # Recent changes: old → new


def test_saving_the_same_prices_again_records_nothing(admin_client, post, session):
    post("/pricing", VALID)
    post("/pricing", VALID)
    assert len(audit_entries(session, "platform_pricing")) == 1


PRICING_RULES = [
    ("tenant_monthly_fee_chf", "-1", "Must not be negative."),
    ("tenant_setup_fee_chf", "abc", "Enter a number"),
    ("tenant_monthly_fee_chf", "49.001", "At most 2 decimal places."),
    ("tenant_monthly_fee_chf", "", "Required."),
    ("threema_message_chf", "0.000001", "At most 5 decimal places."),
    ("threema_message_chf", "-0.01", "Must not be negative."),
    ("llm_usd_to_chf", "0", "Must be greater than 0"),
    ("llm_usd_to_chf", "0.123456", "At most 5 decimal places."),
    ("llm_markup_pct", "12.345", "At most 2 decimal places."),
    ("llm_markup_pct", "-5", "Must not be negative."),
    ("vat_rate_chli", "100.01", "Between 0 and 100 %."),
    ("vat_rate_chli", "-0.1", "Must not be negative."),
    ("vat_rate_chli", "8.105", "At most 2 decimal places."),
    ("payment_terms_days", "366", "Between 0 and 365 days."),
    ("payment_terms_days", "-1", "Between 0 and 365 days."),
    ("payment_terms_days", "30.5", "whole number of days"),
    ("tenant_monthly_fee_chf", "NaN", "Enter a number"),
]


def test_each_rule_is_shown_next_to_its_field_and_nothing_is_saved(admin_client, post, session):
    for field, value, message in PRICING_RULES:
        resp = post("/pricing", {**VALID, field: value})
        assert resp.status_code == 422, (field, value)
        page = text(resp)
        errors = _errors_of(page)
        assert message in errors, (field, value, errors)
        assert f'id="{field}-error"' in page, (field, value)  # the message belongs to the field
        assert errors.count("|") == 0, (field, value, errors)  # only that field complains
    assert audit_entries(session, "platform_pricing") == []
    assert session.get(PlatformPricing, 1).tenant_monthly_fee_chf == Decimal("0.00")


def test_boundaries_are_accepted(admin_client, post, session):
    resp = post("/pricing", {**VALID, "vat_rate_chli": "100", "payment_terms_days": "0", "tenant_setup_fee_chf": "0",
                             "threema_message_chf": "0.00001", "tenant_monthly_fee_chf": "1’234.50"})
    assert resp.status_code == 302, _errors_of(text(resp))
    pricing = session.get(PlatformPricing, 1)
    session.refresh(pricing)
    assert pricing.vat_rate_chli == Decimal("100.00")
    assert pricing.tenant_monthly_fee_chf == Decimal("1234.50")  # typed with a Swiss apostrophe
    assert pricing.threema_message_chf == Decimal("0.00001")


def test_skill_prices_are_added_edited_and_removed_inline(admin_client, post, session):
    resp = post("/pricing/skills", {"new-skill_id": "web-browser", "new-daily_price_chf": "0.2"}, htmx=True)
    assert resp.status_code == 200
    fragment = text(resp)
    assert fragment.lstrip().startswith('<section id="skill-prices"')
    assert "web-browser" in fragment and "0.20" in fragment
    assert 'id="recent-changes" aria-labelledby="recent-changes-title" hx-swap-oob="true"' in fragment
    assert session.get(SkillPricing, "web-browser").daily_price_chf == Decimal("0.20")

    edit = admin_client.get("/pricing/skills/web-browser/edit", headers={"HX-Request": "true"})
    assert 'form="skill-edit-form"' in text(edit)
    resp = post("/pricing/skills/web-browser", {"edit-daily_price_chf": "0.25"}, htmx=True)
    assert resp.status_code == 200
    row = session.get(SkillPricing, "web-browser")
    session.refresh(row)
    assert row.daily_price_chf == Decimal("0.25")

    resp = post("/pricing/skills/web-browser/delete", htmx=True)
    assert resp.status_code == 200
    session.expire_all()
    assert session.get(SkillPricing, "web-browser") is None

    entries = audit_entries(session, "skill_pricing", "web-browser")
    assert [(e.action, e.before, e.after) for e in entries] == [
        ("skill_price.create", {"daily_price_chf": None}, {"daily_price_chf": "0.20"}),
        ("skill_price.update", {"daily_price_chf": "0.20"}, {"daily_price_chf": "0.25"}),
        ("skill_price.delete", {"daily_price_chf": "0.25"}, {"daily_price_chf": None}),
    ]
    page = text(admin_client.get("/pricing"))
    assert "Skill web-browser daily price" in page and "removed" in page


def test_removing_a_skill_price_asks_first(admin_client, session):
    session.add(SkillPricing(skill_id="calendar-sync", daily_price_chf=Decimal("0.05")))
    session.flush()
    page = text(admin_client.get("/pricing"))
    assert 'hx-confirm="Remove the price of calendar-sync?' in page


SKILL_RULES = [
    ("web browser", "0.10", "Use letters, digits"),
    ("-leading-dash", "0.10", "Use letters, digits"),
    ("", "0.10", "Required."),
    ("x" * 121, "0.10", "At most 120 characters."),
    ("web-browser", "-0.10", "Must not be negative."),
    ("web-browser", "0.123456", "At most 5 decimal places."),
]


def test_skill_price_rules(admin_client, post, session):
    for skill_id, price, message in SKILL_RULES:
        resp = post("/pricing/skills", {"new-skill_id": skill_id, "new-daily_price_chf": price}, htmx=True)
        assert resp.status_code == 200  # htmx swaps the table back with the message next to the field
        assert message in _errors_of(text(resp)), (skill_id, price)
    assert session.query(SkillPricing).count() == 0


def test_adding_a_priced_skill_again_is_refused_next_to_the_field(admin_client, post, session):
    post("/pricing/skills", {"new-skill_id": "document-rag", "new-daily_price_chf": "0.35"}, htmx=True)
    resp = post("/pricing/skills", {"new-skill_id": "document-rag", "new-daily_price_chf": "0.50"}, htmx=True)
    assert "has a price already" in _errors_of(text(resp))
    assert session.get(SkillPricing, "document-rag").daily_price_chf == Decimal("0.35")


def test_skill_ids_seen_in_the_event_log_are_offered(admin_client, session):
    session.add(TenantLifecycle(tenant_name="t1", zitadel_org_id="org-x", created_at=utcnow()))
    session.flush()
    session.add(TenantSkillEvent(tenant_name="t1", skill_id="voice-transcription", event_kind="enabled",
                                 occurred_at=utcnow()))
    session.flush()
    page = text(admin_client.get("/pricing"))
    assert '<datalist id="known-skills">' in page
    assert '<option value="voice-transcription">' in page


def test_finance_reads_the_page_without_forms_or_buttons(finance_client, session):
    session.add(SkillPricing(skill_id="web-browser", daily_price_chf=Decimal("0.20")))
    session.flush()
    resp = finance_client.get("/pricing")
    assert resp.status_code == 200
    page = text(resp)
    assert "Monthly fee per tenant" in page and "web-browser" in page
    assert 'name="tenant_monthly_fee_chf"' not in page
    assert "<button" not in page.split("<main", 1)[1].replace('type="submit" class="secondary outline small">Log out', "")
    assert "Remove" not in page and "Add price" not in page


def test_finance_is_refused_every_pricing_change_even_with_a_csrf_token(finance_client, post, session):
    session.add(SkillPricing(skill_id="web-browser", daily_price_chf=Decimal("0.20")))
    session.flush()
    for url, data in [
        ("/pricing", VALID),
        ("/pricing/skills", {"new-skill_id": "document-rag", "new-daily_price_chf": "0.2"}),
        ("/pricing/skills/web-browser", {"edit-daily_price_chf": "0.3"}),
        ("/pricing/skills/web-browser/delete", {}),
    ]:
        resp = post(url, data)  # the token travels as the form field and the header
        assert resp.status_code == 403, url
    assert session.get(SkillPricing, "web-browser").daily_price_chf == Decimal("0.20")
    assert audit_entries(session, "platform_pricing") == []
