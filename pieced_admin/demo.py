"""Believable demo data: two billing entities, six orgs (one abroad), fifteen tenants with
three months of skill toggles, suspensions and Threema usage, and prices for five skills;
then the invoices of the last three complete months, most of the older ones paid, a few
open or overdue, one voided and issued again.

Everything is generated from a fixed seed relative to "today", so two loads on the
same day produce the same history.
"""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, time, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from . import clock
from .audit import acting_as, record_audit
from .billing.days import Period
from .extensions import db
from .models import (
    AuditLog,
    BillingEntity,
    OrgBillingConfig,
    PlatformPricing,
    SkillPricing,
    TenantLifecycle,
    TenantSkillEvent,
    TenantSuspensionEvent,
    TenantUsage,
)
from .orgs.services import get_org_config
from .pricing.services import get_pricing

log = logging.getLogger(__name__)

DEMO_MARKER_ORG = "org-acme"

SKILL_PRICES = {
    "searxng-local-search": Decimal("0.10"),
    "web-browser": Decimal("0.20"),
    "document-rag": Decimal("0.35"),
    "calendar-sync": Decimal("0.05"),
    "voice-transcription": Decimal("0.50"),
}
UNPRICED_SKILLS = ("beta-canvas",)

ENTITIES = [
    dict(code="pieced-ch", name="PieCed AG", invoice_prefix="PC", country="CH",
         vat_number="CHE-123.456.788 MWST", iban="CH4431999123000889012", currency="CHF",
         street="Bahnhofstrasse", building_number="10", postal_code="8001", city="Zürich",
         email="billing@pieced.ch", website="https://pieced.ch", is_default=True),
    dict(code="pieced-services", name="PieCed Services GmbH", invoice_prefix="PS", country="CH",
         vat_number="CHE-116.281.710 MWST", iban="CH9300762011623852957", currency="CHF",
         street="Bundesgasse", building_number="3", postal_code="3011", city="Bern",
         email="billing@services.pieced.ch", website="https://pieced.ch", is_default=False),
]

ORGS = [
    dict(zitadel_org_id="org-acme", display_name="Acme Treuhand AG", billing_email="accounts@acme-treuhand.ch",
         country="CH", vat_number="CHE-111.222.333 MWST", street="Seestrasse", building_number="41",
         postal_code="8002", city="Zürich", language="de", pay_by_invoice=True,
         auto_invoice_enabled=True, auto_reminders_enabled=True, entity="pieced-ch"),
    dict(zitadel_org_id="org-bergbahn", display_name="Bergbahnen Engelberg AG", billing_email="finanzen@bergbahnen-engelberg.ch",
         country="CH", street="Dorfstrasse", building_number="7", postal_code="6390", city="Engelberg",
         language="de", pay_by_invoice=True, auto_invoice_enabled=True, auto_reminders_enabled=True,
         payment_terms_days=20, entity="pieced-ch"),
    dict(zitadel_org_id="org-helvetia-legal", display_name="Helvetia Legal GmbH", billing_email="office@helvetia-legal.ch",
         country="CH", street="Marktgasse", building_number="12", postal_code="3011", city="Bern",
         language="en", pay_by_invoice=True, auto_invoice_enabled=True, auto_reminders_enabled=False,
         entity="pieced-services"),
    dict(zitadel_org_id="org-alpenbank", display_name="Alpenbank Vaduz AG", billing_email="kreditoren@alpenbank.li",
         country="LI", vat_number="LI-51234", street="Städtle", building_number="28", postal_code="9490", city="Vaduz",
         language="de", pay_by_invoice=True, auto_invoice_enabled=True, auto_reminders_enabled=True, entity="pieced-ch"),
    dict(zitadel_org_id="org-isar-robotics", display_name="Isar Robotics GmbH", billing_email="invoices@isar-robotics.de",
         country="DE", vat_number="DE812345678", street="Leopoldstraße", building_number="118", postal_code="80802",
         city="München", language="en", pay_by_invoice=True, auto_invoice_enabled=True, auto_reminders_enabled=True,
         entity="pieced-ch"),
    dict(zitadel_org_id="org-zuger-pflege", display_name="Zuger Pflege AG", billing_email=None,
         country="CH", street="Baarerstrasse", building_number="20", postal_code="6300", city="Zug",
         language="de", pay_by_invoice=False, auto_invoice_enabled=True, auto_reminders_enabled=False,
         entity="pieced-services"),
]

# tenant -> (org, days before today it was created, skills at creation, entity override)
TENANTS = [
    ("acme-main", "org-acme", 150, ["searxng-local-search", "document-rag"], None),
    ("acme-support", "org-acme", 95, ["web-browser"], None),
    ("acme-hr", "org-acme", 40, ["calendar-sync", "beta-canvas"], "pieced-services"),
    ("bergbahn-tickets", "org-bergbahn", 200, ["searxng-local-search", "web-browser"], None),
    ("bergbahn-guests", "org-bergbahn", 70, ["voice-transcription"], None),
    ("helvetia-intake", "org-helvetia-legal", 120, ["document-rag"], None),
    ("helvetia-research", "org-helvetia-legal", 85, ["searxng-local-search", "web-browser", "document-rag"], None),
    ("alpenbank-advisor", "org-alpenbank", 180, ["document-rag", "calendar-sync"], None),
    ("alpenbank-internal", "org-alpenbank", 60, [], None),
    ("isar-dev", "org-isar-robotics", 110, ["web-browser"], None),
    ("isar-sales", "org-isar-robotics", 75, ["calendar-sync", "searxng-local-search"], None),
    ("isar-ops", "org-isar-robotics", 30, ["voice-transcription"], None),
    ("zuger-care", "org-zuger-pflege", 130, ["voice-transcription", "calendar-sync"], None),
    ("zuger-night", "org-zuger-pflege", 90, [], None),
    ("zuger-admin", "org-zuger-pflege", 50, ["document-rag"], None),
]
DELETED_TENANTS = {"zuger-night": 25}  # tenant -> days before today it was deleted

# What became of each org's invoices, oldest of the three months first:
# "paid" (by bank transfer, if the payment day has passed), "open" (left unpaid),
# "void" (voided, then the month issued again and left open), "card" (a card org
# whose charge found no payment method).
INVOICE_STORY = {
    "org-acme": ("paid", "paid", "paid"),
    "org-bergbahn": ("paid", "open", "open"),
    "org-helvetia-legal": ("paid", "void", "open"),
    "org-alpenbank": ("paid", "paid", "open"),
    "org-isar-robotics": ("open", "paid", "open"),
    "org-zuger-pflege": ("paid", "paid", "card"),
}
# Days from issue to payment, per org (quick and slow payers).
PAYMENT_DELAY_DAYS = {
    "org-acme": 6, "org-bergbahn": 17, "org-helvetia-legal": 24, "org-alpenbank": 12,
    "org-isar-robotics": 38, "org-zuger-pflege": 2,
}
PAYMENT_BANKS = ("ZKB", "UBS", "PostFinance", "Raiffeisen", "LLB", "BEKB")
VOID_REASON = "The customer's purchase order number was missing; reissued with the PO number."


def database_is_empty() -> bool:
    """True when no org and no tenant exists yet (a fresh database)."""
    orgs = db.session.execute(sa.select(sa.func.count()).select_from(OrgBillingConfig)).scalar_one()
    tenants = db.session.execute(sa.select(sa.func.count()).select_from(TenantLifecycle)).scalar_one()
    return orgs == 0 and tenants == 0


def demo_loaded() -> bool:
    return db.session.execute(
        sa.select(OrgBillingConfig.id).filter_by(zitadel_org_id=DEMO_MARKER_ORG)
    ).first() is not None


def _local(day: date, hour: int, minute: int, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(timezone.utc)


def load_demo(today: date | None = None, seed: int = 2026) -> str:
    """Insert the demo data and commit; returns a one-line summary."""
    tz = ZoneInfo(current_app.config["BILLING_TIMEZONE"])
    today = today or clock.today(tz)
    rng = random.Random(seed)

    with acting_as("demo"):
        pricing: PlatformPricing = get_pricing()
        pricing.tenant_monthly_fee_chf = Decimal("49.00")
        pricing.tenant_setup_fee_chf = Decimal("99.00")
        pricing.threema_message_chf = Decimal("0.005")
        pricing.llm_usd_to_chf = Decimal("0.9")
        pricing.llm_markup_pct = Decimal("20")
        pricing.vat_rate_chli = Decimal("8.10")
        pricing.payment_terms_days = 30
        for skill, price in SKILL_PRICES.items():
            existing = db.session.get(SkillPricing, skill)
            if existing is None:
                db.session.add(SkillPricing(skill_id=skill, daily_price_chf=price))
            else:
                existing.daily_price_chf = price

        entities: dict[str, BillingEntity] = {}
        default = db.session.execute(sa.select(BillingEntity).filter_by(is_default=True)).scalar_one_or_none()
        for spec in ENTITIES:
            entity = db.session.execute(sa.select(BillingEntity).filter_by(code=spec["code"])).scalar_one_or_none()
            if entity is None and spec["is_default"] and default is not None:
                entity = default  # take over the seeded default entity
            if entity is None:
                entity = BillingEntity()
                db.session.add(entity)
            for key, value in spec.items():
                setattr(entity, key, value)
            entities[spec["code"]] = entity
        db.session.flush()

        for spec in ORGS:
            org = get_org_config(spec["zitadel_org_id"])
            for key, value in spec.items():
                if key == "entity":
                    org.billing_entity_id = entities[value].id
                elif key != "zitadel_org_id":
                    setattr(org, key, value)

        events = suspensions = usage_rows = 0
        for name, org_id, age, skills, override in TENANTS:
            created_day = today - timedelta(days=age)
            created_at = _local(created_day, rng.randint(8, 17), rng.choice((0, 15, 30, 45)), tz)
            deleted_at = None
            if name in DELETED_TENANTS:
                deleted_at = _local(today - timedelta(days=DELETED_TENANTS[name]), 16, 30, tz)
            db.session.add(TenantLifecycle(
                tenant_name=name, zitadel_org_id=org_id, created_at=created_at, deleted_at=deleted_at,
                billing_entity_id=entities[override].id if override else None, namespace="tenants",
            ))
            db.session.flush()
            for skill in skills:
                db.session.add(TenantSkillEvent(tenant_name=name, skill_id=skill, event_kind="enabled",
                                                occurred_at=created_at, source="demo"))
                events += 1
            end = min(today, deleted_at.astimezone(tz).date()) if deleted_at else today
            # A few skill toggles over the tenant's life.
            enabled = set(skills)
            span = max(1, (end - created_day).days - 1)
            for offset in sorted(rng.randint(1, span) for _ in range(rng.randint(1, 4))):
                when = _local(created_day + timedelta(days=offset), rng.randint(7, 20), rng.randint(0, 59), tz)
                skill = rng.choice(list(SKILL_PRICES) + list(UNPRICED_SKILLS))
                kind = "disabled" if skill in enabled else "enabled"
                (enabled.discard if kind == "disabled" else enabled.add)(skill)
                db.session.add(TenantSkillEvent(tenant_name=name, skill_id=skill, event_kind=kind,
                                                occurred_at=when, source="demo"))
                events += 1
            # Some tenants were suspended for a while (one still is).
            if rng.random() < 0.45 and (end - created_day).days > 20:
                start = created_day + timedelta(days=rng.randint(5, (end - created_day).days - 10))
                db.session.add(TenantSuspensionEvent(tenant_name=name, event_kind="suspended",
                                                     occurred_at=_local(start, 12, 0, tz), source="demo"))
                suspensions += 1
                if name != "alpenbank-internal":
                    resume = start + timedelta(days=rng.randint(2, 8))
                    db.session.add(TenantSuspensionEvent(tenant_name=name, event_kind="resumed",
                                                         occurred_at=_local(resume, 8, 0, tz), source="demo"))
                    suspensions += 1
            # Threema messages, reported by the bridge; one ledger row per tenant and day here.
            day = created_day
            base = rng.randint(5, 120)
            while day < end:
                count = max(0, int(base * rng.uniform(0.3, 1.6)))
                if count:
                    db.session.add(TenantUsage(
                        tenant_name=name, metric="threema_messages", quantity=count,
                        occurred_at=_local(day, 18, 0, tz), external_id=f"demo-{name}-{day.isoformat()}",
                    ))
                    usage_rows += 1
                day += timedelta(days=1)

        db.session.flush()
        issued, paid, voided = _issue_demo_invoices(today, tz, random.Random(seed + 1))

        record_audit("demo.load", "database", None, note=f"demo data as of {today.isoformat()}")
        db.session.commit()
    return (f"{len(ENTITIES)} billing entities, {len(ORGS)} orgs, {len(TENANTS)} tenants, "
            f"{events} skill events, {suspensions} suspension events, {usage_rows} usage rows, "
            f"{len(SKILL_PRICES)} priced skills, {issued} invoices ({paid} paid, {voided} void)")


def _backdate_audit(number: str, action: str, when: datetime) -> None:
    """Date the audit entry of a demo action when it happened in the story, not when the demo loaded."""
    db.session.execute(
        sa.update(AuditLog)
        .where(AuditLog.object_type == "invoice", AuditLog.object_id == number, AuditLog.action == action)
        .values(occurred_at=when)
    )


def _issue_demo_invoices(today: date, tz: ZoneInfo, rng: random.Random) -> tuple[int, int, int]:
    """Issue the last three complete months for every demo org and settle them as INVOICE_STORY says."""
    from .billing.issuing import issue_invoices, mark_paid, void_invoice
    from .integrations.litellm import LiteLLMError

    # "Now" for the payment checks: the first minutes of the demo's today.
    now = _local(today, 0, 5, tz)
    last = Period.of(today).previous()
    periods = [last.previous().previous(), last.previous(), last]
    issued = paid = voided = 0
    skipped: list[str] = []
    for month_index, period in enumerate(periods):
        for org_index, spec in enumerate(ORGS):
            org_id = spec["zitadel_org_id"]
            story = INVOICE_STORY[org_id][month_index]
            # The monthly run issues on the 1st to 3rd of the following month, early in the morning.
            issue_day = min(today, period.next().first_day + timedelta(days=org_index % 3))
            issued_at = _local(issue_day, 6, 10 + 7 * org_index, tz)
            try:
                with acting_as("monthly-run"):
                    result = issue_invoices(org_id, period, now=issued_at)
            except LiteLLMError as exc:
                # A configured but unreachable LiteLLM must not stop the demo: that month stays unissued.
                skipped.append(f"{org_id} {period.key}: {exc}")
                continue
            for invoice in result.issued:
                _backdate_audit(invoice.number, "invoice.issue", issued_at)
            issued += len(result.issued)
            for invoice in result.issued:
                if story == "void":
                    void_day = min(today, issue_day + timedelta(days=4))
                    void_at = _local(void_day, 10, 20, tz)
                    with acting_as("admin@pieced.local"):
                        void_invoice(invoice.number, VOID_REASON, now=void_at)
                    _backdate_audit(invoice.number, "invoice.void", void_at)
                    voided += 1
                    reissued_at = void_at + timedelta(minutes=25)
                    with acting_as("admin@pieced.local"):
                        again = issue_invoices(org_id, period, now=reissued_at)
                    for inv in again.issued:
                        _backdate_audit(inv.number, "invoice.issue", reissued_at)
                    issued += len(again.issued)
                elif story == "card":
                    invoice.charge_status = "no_payment_method"
                    invoice.charge_message = "No card on file: the org has not added a payment method yet."
                elif story == "paid":
                    paid_on = issue_day + timedelta(days=PAYMENT_DELAY_DAYS[org_id])
                    if paid_on >= today:
                        continue  # not paid yet: still open
                    method = "card" if not spec["pay_by_invoice"] else "bank_transfer"
                    reference = (f"pi_demo_{invoice.number.replace('-', '').lower()}" if method == "card" else
                                 f"{rng.choice(PAYMENT_BANKS)} {paid_on:%Y%m%d}-{rng.randint(10000, 99999)}")
                    with acting_as("finance@pieced.local"):
                        mark_paid(invoice.number, paid_on=paid_on, reference=reference, method=method, now=now)
                    _backdate_audit(invoice.number, "invoice.mark_paid",
                                    datetime.combine(paid_on, time(14, 30), tzinfo=tz).astimezone(timezone.utc))
                    paid += 1
    db.session.flush()
    if skipped:
        log.warning("demo invoices not issued (LiteLLM failed): %s", "; ".join(skipped))
    return issued, paid, voided
