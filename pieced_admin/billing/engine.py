"""The billing engine: facts in, invoice drafts out.

Pure by design: everything it needs (pricing, tenant timelines, usage, period,
org, entities) is handed to ``compute_invoices`` as frozen dataclasses, and it
reads no database, clock, network or configuration. The rules are those of
SPEC §3; amounts are exact Decimals rounded half-up once per line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal

from pieced_admin.billing.days import (
    Interval,
    Period,
    count_days,
    intersect,
    month_bounds,
    month_days,
    subtract,
    switch_intervals,
    to_utc,
    zone,
)
from pieced_admin.billing.money import ZERO, exact_product, fmt_price, fmt_quantity, q2, q2_ratio

__all__ = [
    "BillingFacts",
    "DraftLine",
    "InvoiceDraft",
    "OrgFacts",
    "Period",
    "Pricing",
    "SkillEvent",
    "SuspensionEvent",
    "TenantDays",
    "TenantFacts",
    "compute_invoices",
    "compute_tenant_days",
    "LINE_KINDS",
    "VAT_COUNTRIES",
    "WARNING_LLM_NOT_CONFIGURED",
    "WARNING_NO_TENANTS",
]

VAT_COUNTRIES = frozenset({"CH", "LI"})
LINE_KINDS = ("setup_fee", "monthly_fee", "skill", "llm", "threema")

WARNING_LLM_NOT_CONFIGURED = "LiteLLM is not configured: LLM usage is not billed."
WARNING_NO_TENANTS = "No tenants billed in this period."

_SKILL_SWITCH = {"enabled": True, "disabled": False}
_SUSPENSION_SWITCH = {"suspended": True, "resumed": False}
_RATE_PLACES = Decimal("0.00001")  # unit prices are stored as NUMERIC(10,5)
_QUANTITY_PLACES = Decimal("0.000001")  # line quantities are stored as NUMERIC(16,6)

# Invoice texts, per invoice language; _tenant_rows() fills the placeholders.
_TEXTS: Mapping[str, Mapping[str, str]] = {
    "en": {
        "setup_fee": "Setup fee",
        "monthly_fee": "Monthly fee ({days} of {month_days} days)",
        "skill": "Skill {skill} ({days} days)",
        "skill_one": "Skill {skill} (1 day)",
        "llm": "LLM usage ({usd} USD at {rate} CHF/USD)",
        "threema": "Threema messages",
        "vat_abroad": "Place of supply abroad — not subject to Swiss VAT",
    },
    "de": {
        "setup_fee": "Einrichtungsgebühr",
        "monthly_fee": "Monatsgebühr ({days} von {month_days} Tagen)",
        "skill": "Skill {skill} ({days} Tage)",
        "skill_one": "Skill {skill} (1 Tag)",
        "llm": "LLM-Nutzung ({usd} USD zu {rate} CHF/USD)",
        "threema": "Threema-Nachrichten",
        "vat_abroad": "Ort der Leistung im Ausland — nicht der Schweizer MWST unterstellt",
    },
}


@dataclass(frozen=True)
class Pricing:
    """Platform prices in CHF (and the LLM conversion), as configured for the month."""

    tenant_monthly_fee_chf: Decimal
    tenant_setup_fee_chf: Decimal
    threema_message_chf: Decimal
    llm_usd_to_chf: Decimal
    llm_markup_pct: Decimal
    vat_rate_chli: Decimal


@dataclass(frozen=True)
class SkillEvent:
    """A skill switched on or off for a tenant."""

    skill_id: str
    kind: str  # "enabled" | "disabled"
    occurred_at: datetime  # tz-aware
    id: int = 0  # database id: orders events with equal timestamps


@dataclass(frozen=True)
class SuspensionEvent:
    """A tenant suspended or resumed."""

    kind: str  # "suspended" | "resumed"
    occurred_at: datetime  # tz-aware
    id: int = 0


@dataclass(frozen=True)
class TenantFacts:
    """One tenant's timeline and usage for the month."""

    name: str
    created_at: datetime
    deleted_at: datetime | None
    billing_entity_id: int | None  # per-tenant override; None follows the org
    skill_events: tuple[SkillEvent, ...] = ()
    suspension_events: tuple[SuspensionEvent, ...] = ()
    threema_messages: int = 0  # counted by the loader over month_bounds()
    llm_spend_usd: Decimal | None = None  # None: unknown (LiteLLM not configured)


@dataclass(frozen=True)
class OrgFacts:
    """The customer organisation being billed."""

    org_id: str
    country: str  # ISO 3166 alpha-2
    billing_entity_id: int | None  # None: the default entity
    language: str = "en"  # "en" | "de"


@dataclass(frozen=True)
class BillingFacts:
    """Everything the engine needs to bill one org for one month."""

    org: OrgFacts
    period: Period
    timezone: str
    pricing: Pricing
    skill_prices: Mapping[str, Decimal]  # skill id -> daily price in CHF
    tenants: tuple[TenantFacts, ...]
    default_entity_id: int
    entity_currency: Mapping[int, str] = field(default_factory=dict)  # missing: "CHF"
    llm_configured: bool = True
    warnings: tuple[str, ...] = ()  # from the loader; copied into every draft
    # Tenants whose month a non-void invoice of the org already bills: tenant -> (its number, its entity id).
    # They get no line (SPEC §3, a tenant's month is billed once); the draft of that entity names them.
    already_billed: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    skill_names: Mapping[str, str] = field(default_factory=dict)  # skill id -> display name (missing: the id)


@dataclass(frozen=True)
class DraftLine:
    """One invoice line, amount already rounded."""

    tenant_name: str
    kind: str  # one of LINE_KINDS
    skill_id: str | None
    description: str
    quantity: Decimal
    unit_price_chf: Decimal
    amount_chf: Decimal
    position: int  # 1-based order on the invoice


@dataclass(frozen=True)
class InvoiceDraft:
    """A computed, unnumbered invoice for one (org, month, billing entity)."""

    org_id: str
    billing_entity_id: int
    period: Period
    currency: str
    lines: tuple[DraftLine, ...]
    net_chf: Decimal
    vat_rate: Decimal
    vat_chf: Decimal
    total_chf: Decimal
    vat_note: str | None
    warnings: tuple[str, ...]
    tenants: tuple[str, ...] = ()  # tenants billed on this draft, lines or not
    already_billed: tuple[tuple[str, str], ...] = ()  # (tenant, invoice number) left out: billed before

    @property
    def period_start(self) -> date:
        """First local day of the period."""
        return self.period.first_day

    @property
    def period_end(self) -> date:
        """Last local day of the period (inclusive)."""
        return self.period.last_day


@dataclass(frozen=True)
class TenantDays:
    """A tenant's days in a month: when it was live, and its billable and skill days."""

    billed: bool  # exists during a positive part of the month
    billable_days: int
    skill_days: Mapping[str, int]  # skill id -> days, only skills with at least one day
    live: tuple[Interval, ...]


def compute_invoices(facts: BillingFacts) -> list[InvoiceDraft]:
    """One draft per billing entity that bills any tenant of the org in the period, ordered by entity id."""
    period = facts.period
    tz = zone(facts.timezone)
    window = month_bounds(period, tz)
    days = month_days(period, tz)
    pricing = facts.pricing
    _check_pricing(pricing)
    texts = _TEXTS["de" if facts.org.language.lower().startswith("de") else "en"]
    llm_rate = exact_product(pricing.llm_usd_to_chf, 1 + pricing.llm_markup_pct / 100)
    prices = {skill: _decimal(price, f"price of skill {skill}") for skill, price in facts.skill_prices.items()}
    org_entity = facts.org.billing_entity_id if facts.org.billing_entity_id is not None else facts.default_entity_id

    warnings = list(facts.warnings)
    if not facts.llm_configured:
        warnings.append(WARNING_LLM_NOT_CONFIGURED)

    per_entity: dict[int, tuple[list[str], list[tuple], list[tuple[str, str]]]] = {}
    for tenant in sorted(facts.tenants, key=lambda t: t.name):
        billed_on = facts.already_billed.get(tenant.name)
        if billed_on is not None:
            # Its month is on that invoice, whatever entity bills it today: no second line anywhere.
            number, billed_entity = billed_on
            per_entity.setdefault(billed_entity, ([], [], []))[2].append((tenant.name, number))
            continue
        tenant_days = _tenant_days(tenant, window, days, priced_skills=prices)
        tenant_rows = _tenant_rows(tenant, tenant_days, window, period, pricing, prices, llm_rate,
                                   facts.llm_configured, texts, facts.skill_names)
        if not tenant_days.billed and not tenant_rows:
            continue  # neither alive nor used in this month
        if facts.llm_configured and tenant.llm_spend_usd is None:
            warnings.append(f"LLM usage of {tenant.name} is unknown: not billed.")
        entity = tenant.billing_entity_id if tenant.billing_entity_id is not None else org_entity
        names, rows, _billed = per_entity.setdefault(entity, ([], [], []))
        names.append(tenant.name)
        rows.extend(tenant_rows)

    if not per_entity:
        warnings.append(WARNING_NO_TENANTS)
        per_entity[org_entity] = ([], [], [])

    charges_vat = facts.org.country.strip().upper() in VAT_COUNTRIES
    shared_warnings = tuple(dict.fromkeys(warnings))  # drop repeats, keep order
    drafts = []
    for entity in sorted(per_entity):
        names, rows, billed = per_entity[entity]
        lines = tuple(DraftLine(*row, position=n) for n, row in enumerate(rows, start=1))
        net = q2(sum((line.amount_chf for line in lines), ZERO))
        if charges_vat:
            vat_rate = _decimal(pricing.vat_rate_chli, "vat_rate_chli")
            vat = q2(exact_product(net, vat_rate) / 100)
            vat_note = None
        else:
            vat_rate, vat, vat_note = ZERO, ZERO, texts["vat_abroad"]
        drafts.append(
            InvoiceDraft(
                org_id=facts.org.org_id,
                billing_entity_id=entity,
                period=period,
                currency=facts.entity_currency.get(entity, "CHF"),
                lines=lines,
                net_chf=net,
                vat_rate=vat_rate,
                vat_chf=vat,
                total_chf=q2(net + vat),
                vat_note=vat_note,
                warnings=shared_warnings + tuple(f"{t} already billed on {n}" for t, n in billed),
                tenants=tuple(names),
                already_billed=tuple(billed),
            )
        )
    return drafts


def compute_tenant_days(tenant: TenantFacts, period: Period, timezone: str) -> TenantDays:
    """A tenant's live intervals, billable days and skill days in a month (for timelines and checks)."""
    tz = zone(timezone)
    return _tenant_days(tenant, month_bounds(period, tz), month_days(period, tz), priced_skills=None)


def _tenant_days(
    tenant: TenantFacts,
    window: Interval,
    days: tuple[Interval, ...],
    priced_skills: Mapping[str, Decimal] | None,
) -> TenantDays:
    """Days of one tenant; with ``priced_skills``, only skills priced above zero are counted."""
    start = max(to_utc(tenant.created_at), window[0])
    end = window[1] if tenant.deleted_at is None else min(to_utc(tenant.deleted_at), window[1])
    if start >= end:
        return TenantDays(billed=False, billable_days=0, skill_days={}, live=())

    suspensions = sorted(
        (to_utc(e.occurred_at), e.id, _switch(_SUSPENSION_SWITCH, e.kind, tenant.name)) for e in tenant.suspension_events
    )
    suspended = switch_intervals(((at, on) for at, _, on in suspensions), until=end)
    live = subtract([(start, end)], suspended)

    by_skill: dict[str, list[tuple[datetime, int, bool]]] = {}
    for e in tenant.skill_events:
        if priced_skills is not None and not priced_skills.get(e.skill_id, 0) > 0:
            continue
        by_skill.setdefault(e.skill_id, []).append(
            (to_utc(e.occurred_at), e.id, _switch(_SKILL_SWITCH, e.kind, tenant.name))
        )
    skill_days = {}
    for skill_id in sorted(by_skill):
        events = sorted(by_skill[skill_id])
        enabled = switch_intervals(((at, on) for at, _, on in events), until=end)
        n = count_days(intersect(enabled, live), days)
        if n:
            skill_days[skill_id] = n

    return TenantDays(billed=True, billable_days=count_days(live, days), skill_days=skill_days, live=tuple(live))


def _tenant_rows(
    tenant: TenantFacts,
    tenant_days: TenantDays,
    window: Interval,
    period: Period,
    pricing: Pricing,
    prices: Mapping[str, Decimal],
    llm_rate: Decimal,
    llm_configured: bool,
    texts: Mapping[str, str],
    skill_names: Mapping[str, str] | None = None,
) -> list[tuple]:
    """The tenant's lines as DraftLine arguments (without position), in invoice order."""
    name = tenant.name
    rows: list[tuple] = []

    setup_fee = pricing.tenant_setup_fee_chf
    if setup_fee > 0 and window[0] <= to_utc(tenant.created_at) < window[1]:
        rows.append((name, "setup_fee", None, f"{name} — {texts['setup_fee']}", Decimal(1), setup_fee, q2(setup_fee)))

    monthly_fee = pricing.tenant_monthly_fee_chf
    billable = tenant_days.billable_days
    if monthly_fee > 0 and billable > 0:
        days_in_month = period.days_in_month
        text = texts["monthly_fee"].format(days=billable, month_days=days_in_month)
        amount = q2_ratio(exact_product(monthly_fee, billable), days_in_month)
        rows.append((name, "monthly_fee", None, f"{name} — {text}", Decimal(billable), monthly_fee, amount))

    for skill_id, n in tenant_days.skill_days.items():  # sorted by skill id
        price = prices.get(skill_id, ZERO)
        if price > 0 and n > 0:
            name_shown = (skill_names or {}).get(skill_id) or skill_id
            text = texts["skill_one" if n == 1 else "skill"].format(skill=name_shown, days=n)
            amount = q2(exact_product(price, n))
            rows.append((name, "skill", skill_id, f"{name} — {text}", Decimal(n), price, amount))

    spend = tenant.llm_spend_usd
    if (llm_configured and spend is not None and _decimal(spend, f"LLM spend of {name}") > 0
            and pricing.llm_usd_to_chf > 0):
        unit = llm_rate.quantize(_RATE_PLACES, rounding=ROUND_HALF_UP)
        # The amount is the exact product rounded once; the quantity shown (and stored, NUMERIC(16,6))
        # is the spend to six places, which never feeds the amount.
        shown = spend.quantize(_QUANTITY_PLACES, rounding=ROUND_HALF_UP)
        text = texts["llm"].format(usd=fmt_quantity(shown), rate=fmt_price(unit))
        amount = q2(exact_product(spend, llm_rate))
        rows.append((name, "llm", None, f"{name} — {text}", shown, unit, amount))

    messages = tenant.threema_messages
    if messages > 0 and pricing.threema_message_chf > 0:
        unit = pricing.threema_message_chf
        amount = q2(exact_product(unit, messages))
        rows.append((name, "threema", None, f"{name} — {texts['threema']}", Decimal(messages), unit, amount))

    return rows


def _switch(kinds: Mapping[str, bool], kind: str, tenant_name: str) -> bool:
    try:
        return kinds[kind]
    except KeyError:
        expected = " or ".join(repr(k) for k in kinds)
        raise ValueError(f"Unknown event kind {kind!r} for tenant {tenant_name}: expected {expected}.") from None


def _decimal(value: object, what: str) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"{what} must be a Decimal, not {type(value).__name__}.")
    return value


def _check_pricing(pricing: Pricing) -> None:
    for f in fields(pricing):
        _decimal(getattr(pricing, f.name), f.name)
