"""The prices of a month: the base rows overlaid with the price versions in force (SPEC §3, prices over time).

Month M is billed, for each price, at the value of the latest version with
effective month F ≤ M that sets it, else the base row. `resolve_prices` is pure
(rows in, prices out); `prices_for_month` reads the rows. Scheduling, editing and
removing versions live here too: a version whose month, or any later month, has a
non-void invoice can no longer change, and none can be scheduled for such a month,
so no invoice that exists (nor its re-issue after a void) is ever priced differently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa

from ..extensions import db
from ..models import Invoice, PlatformPricing, PriceVersion, SkillPricing
from ..models.credit_notes import VERSIONED_PLATFORM_FIELDS
from .days import Period
from .engine import Pricing
from .money import fmt_amount, fmt_price

PLATFORM_FIELDS = VERSIONED_PLATFORM_FIELDS

# Exact decimal places each column stores (NUMERIC(10,2), (10,5), (5,2)); a value needing more is refused.
_PLACES = {
    "tenant_monthly_fee_chf": 2, "tenant_setup_fee_chf": 2, "threema_message_chf": 5,
    "llm_usd_to_chf": 5, "llm_markup_pct": 2, "vat_rate_chli": 2,
}
_SKILL_PLACES = 5
_MAX = {"llm_markup_pct": Decimal("999.99"), "vat_rate_chli": Decimal("100")}


class PriceVersionError(ValueError):
    """A version that cannot be scheduled, changed or removed as asked (the message says why)."""


@dataclass(frozen=True)
class MonthPrices:
    """What month M is billed at, and where each price comes from (a version's month, or None: base)."""

    period: Period
    pricing: Pricing
    skill_prices: Mapping[str, Decimal]
    sources: Mapping[str, date | None] = field(default_factory=dict)  # field or "skill:<id>" -> version month
    skill_names: Mapping[str, str] = field(default_factory=dict)  # skill id -> name on invoices (missing: the id)


def resolve_prices(base: Mapping[str, Decimal], base_skills: Mapping[str, Decimal],
                   versions: Iterable[PriceVersion], period: Period) -> MonthPrices:
    """The prices of `period`: for each price the latest version up to it that sets it, else the base."""
    values = {f: base[f] for f in PLATFORM_FIELDS}
    skills = dict(base_skills)
    sources: dict[str, date | None] = {f: None for f in PLATFORM_FIELDS} | {f"skill:{s}": None for s in skills}
    for version in sorted(versions, key=lambda v: v.effective_month):
        if version.effective_month > period.first_day:
            break
        for f in PLATFORM_FIELDS:
            value = getattr(version, f)
            if value is not None:
                values[f] = value
                sources[f] = version.effective_month
        for skill, price in (version.skill_prices or {}).items():
            skills[skill] = Decimal(str(price))
            sources[f"skill:{skill}"] = version.effective_month
    return MonthPrices(period=period, pricing=Pricing(**values), skill_prices=skills, sources=sources)


def _base() -> tuple[dict[str, Decimal], dict[str, Decimal], dict[str, str]]:
    row = db.session.get(PlatformPricing, 1)
    if row is None:
        from ..pricing.services import get_pricing

        row = get_pricing()
    rows = db.session.execute(
        sa.select(SkillPricing.skill_id, SkillPricing.daily_price_chf, SkillPricing.display_name)).all()
    skills = {skill: price for skill, price, _name in rows}
    names = {skill: name for skill, _price, name in rows if name}
    return {f: getattr(row, f) for f in PLATFORM_FIELDS}, skills, names


def all_versions() -> list[PriceVersion]:
    """Every price version, by effective month."""
    return list(db.session.execute(sa.select(PriceVersion).order_by(PriceVersion.effective_month)).scalars())


def prices_for_month(period: Period) -> MonthPrices:
    """The prices month `period` is billed at (two queries for the base, one for the versions)."""
    base, skills, names = _base()
    return replace(resolve_prices(base, skills, all_versions(), period), skill_names=names)


# --------------------------------------------------------------------------- parsing


def parse_price(field_name: str, text: object) -> Decimal:
    """A price for `field_name` (a platform column or "skill:<id>"), exact and within its column."""
    places = _SKILL_PLACES if field_name.startswith("skill:") else _PLACES.get(field_name)
    if places is None:
        raise PriceVersionError(
            f"unknown price {field_name!r}: use one of {', '.join(PLATFORM_FIELDS)} or skill:<skill_id>")
    try:
        value = Decimal(str(text).strip())
    except InvalidOperation:
        raise PriceVersionError(f"{field_name} must be a number like 49.00, got {text!r}") from None
    if not value.is_finite() or value < 0:
        raise PriceVersionError(f"{field_name} must be zero or more, got {text!r}")
    if value != value.quantize(Decimal(1).scaleb(-places)):
        raise PriceVersionError(f"{field_name} takes at most {places} decimals, got {text!r}")
    if value >= Decimal(10) ** (10 - places) or value > _MAX.get(field_name, value):
        raise PriceVersionError(f"{field_name} is too large: {text!r}")
    if field_name == "llm_usd_to_chf" and value == 0:
        pass  # 0 means: no llm line (SPEC §3)
    return value


def parse_assignments(assignments: Sequence[str]) -> tuple[dict[str, Decimal], dict[str, Decimal]]:
    """`FIELD=VALUE` words into (platform prices, skill prices); refuses repeats and unknown fields."""
    if not assignments:
        raise PriceVersionError("name at least one price, e.g. tenant_monthly_fee_chf=59.00 or skill:searxng=0.12")
    platform: dict[str, Decimal] = {}
    skills: dict[str, Decimal] = {}
    for word in assignments:
        name, sep, value = word.partition("=")
        name = name.strip()
        if not sep or not name:
            raise PriceVersionError(f"expected FIELD=VALUE, got {word!r}")
        price = parse_price(name, value)
        if name.startswith("skill:"):
            skill = name[len("skill:"):].strip()
            if not skill:
                raise PriceVersionError(f"expected skill:<skill_id>=VALUE, got {word!r}")
            target, key = skills, skill
        else:
            target, key = platform, name
        if key in target:
            raise PriceVersionError(f"{name} is given twice")
        target[key] = price
    return platform, skills


# --------------------------------------------------------------------------- scheduling


def blocking_invoice(month: date) -> Invoice | None:
    """A non-void invoice of `month` or later (any org): its prices must not move."""
    return db.session.execute(
        sa.select(Invoice).where(Invoice.period_start >= month, Invoice.status != "void")
        .order_by(Invoice.period_start, Invoice.number).limit(1)
    ).scalars().first()


def _refuse_if_billed(month: date, doing: str) -> None:
    invoice = blocking_invoice(month)
    if invoice is not None:
        raise PriceVersionError(
            f"cannot {doing} prices from {month:%Y-%m}: invoice {invoice.number} of {invoice.period_key} "
            "is issued at the prices in force then (void it first, or choose a later month)")


def _version_snapshot(version: PriceVersion) -> dict:
    snap = {f: (fmt_amount(v) if _PLACES[f] == 2 else fmt_price(v)) for f in PLATFORM_FIELDS
            if (v := getattr(version, f)) is not None}
    snap.update({f"skill:{s}": fmt_price(Decimal(p)) for s, p in sorted((version.skill_prices or {}).items())})
    return snap


def version_changes(version: PriceVersion) -> dict[str, str]:
    """What a version sets, as field -> shown value (platform fields first, then skills)."""
    return _version_snapshot(version)


def schedule_version(period: Period, platform: Mapping[str, Decimal], skills: Mapping[str, Decimal],
                     *, note: str | None = None) -> PriceVersion:
    """Schedule prices from `period` on (merged into that month's version when there is one); flushes, audits."""
    from ..audit import current_actor, record_audit
    from ..models.types import utcnow

    if not platform and not skills:
        raise PriceVersionError("name at least one price to change")
    unknown = set(platform) - set(PLATFORM_FIELDS)
    if unknown:
        raise PriceVersionError(f"unknown price {sorted(unknown)[0]!r}")
    _refuse_if_billed(period.first_day, "schedule")
    actor, _ = current_actor()
    version = db.session.execute(
        sa.select(PriceVersion).where(PriceVersion.effective_month == period.first_day)
    ).scalar_one_or_none()
    before = _version_snapshot(version) if version is not None else {}
    if version is None:
        version = PriceVersion(effective_month=period.first_day, created_by=actor, created_at=utcnow(),
                               skill_prices={})
        db.session.add(version)
    else:
        version.updated_by, version.updated_at = actor, utcnow()
    for f, value in platform.items():
        setattr(version, f, value)
    version.skill_prices = {**(version.skill_prices or {}), **{s: format(p, "f") for s, p in skills.items()}}
    if note:
        version.note = note.strip()[:300]
    db.session.flush()
    record_audit("price_version.schedule" if not before else "price_version.update", "price_version",
                 period.key, before=before or None, after=_version_snapshot(version))
    db.session.flush()
    return version


def get_version(month_key: str) -> PriceVersion:
    """The version of a month (YYYY-MM), or PriceVersionError."""
    try:
        period = Period.parse(month_key)
    except ValueError as exc:
        raise PriceVersionError(str(exc)) from None
    version = db.session.execute(
        sa.select(PriceVersion).where(PriceVersion.effective_month == period.first_day)
    ).scalar_one_or_none()
    if version is None:
        raise PriceVersionError(f"no price version is scheduled for {period.key}")
    return version


def replace_version(month_key: str, platform: Mapping[str, Decimal], skills: Mapping[str, Decimal]) -> PriceVersion:
    """Set exactly these prices on a scheduled version (what is not named is no longer set by it)."""
    from ..audit import current_actor, record_audit
    from ..models.types import utcnow

    version = get_version(month_key)
    if not platform and not skills:
        raise PriceVersionError("a version must set at least one price (remove it instead)")
    _refuse_if_billed(version.effective_month, "change")
    before = _version_snapshot(version)
    for f in PLATFORM_FIELDS:
        setattr(version, f, platform.get(f))
    version.skill_prices = {s: format(p, "f") for s, p in skills.items()}
    version.updated_by, version.updated_at = current_actor()[0], utcnow()
    db.session.flush()
    record_audit("price_version.update", "price_version", version.month_key, before=before,
                 after=_version_snapshot(version))
    db.session.flush()
    return version


def remove_version(month_key: str) -> None:
    """Remove a scheduled version (refused once its month or a later one has an invoice); audited."""
    from ..audit import record_audit

    version = get_version(month_key)
    _refuse_if_billed(version.effective_month, "remove the version of")
    record_audit("price_version.remove", "price_version", version.month_key,
                 before=_version_snapshot(version), after=None)
    db.session.delete(version)
    db.session.flush()


def prices_json(prices: MonthPrices) -> dict:
    """SPEC §5 `pricing show --json`."""
    p = prices.pricing
    platform = {f: (fmt_amount(getattr(p, f)) if _PLACES[f] == 2 else fmt_price(getattr(p, f)))
                for f in PLATFORM_FIELDS}
    return {
        "month": prices.period.key,
        "platform": platform,
        "skills": {s: fmt_price(v) for s, v in sorted(prices.skill_prices.items())},
    }


# --------------------------------------------------------------------------- base rows edited on the pricing page


def protect_billed_months(platform_before: Mapping[str, Decimal], platform_after: Mapping[str, Decimal],
                          skills_before: Mapping[str, Decimal | None], skills_after: Mapping[str, Decimal | None],
                          today_period: Period) -> PriceVersion | None:
    """Keep a change of the base rows (the pricing page's editor) from repricing any month already billed.

    When a month has an invoice (void or not), every changed price that no version up to the first such
    month sets is pinned there at its old base value, and the new value is scheduled from this month on.
    Months before the first invoice simply follow the base rows. Flushes; returns the version of this month.
    """
    from ..audit import current_actor, record_audit
    from ..models.types import utcnow

    changed = {f: v for f, v in platform_after.items() if platform_before.get(f) != v and f in PLATFORM_FIELDS}
    changed_skills = {s: v for s, v in skills_after.items() if skills_before.get(s) != v}
    if not changed and not changed_skills:
        return None
    first = db.session.execute(sa.select(sa.func.min(Invoice.period_start))).scalar()
    if first is None:
        return None  # nothing billed yet: the base rows are every month's prices
    first = Period.of(first)
    if first.first_day >= today_period.first_day:
        invoice = blocking_invoice(today_period.first_day)
        if invoice is not None:
            raise PriceVersionError(f"cannot change prices of {today_period.key}: invoice {invoice.number} "
                                    f"of {invoice.period_key} is issued at the prices in force then")
        return None
    versions = [v for v in all_versions() if v.effective_month <= first.first_day]
    set_before = {f for v in versions for f in PLATFORM_FIELDS if getattr(v, f) is not None}
    skills_set_before = {s for v in versions for s in (v.skill_prices or {})}
    pin_platform = {f: platform_before[f] for f in changed if f not in set_before}
    pin_skills = {s: (skills_before.get(s) or Decimal(0)) for s in changed_skills if s not in skills_set_before}
    if pin_platform or pin_skills:
        actor, _ = current_actor()
        pin = next((v for v in versions if v.effective_month == first.first_day), None)
        before = _version_snapshot(pin) if pin is not None else None
        if pin is None:
            pin = PriceVersion(effective_month=first.first_day, created_by=actor, created_at=utcnow(),
                               skill_prices={}, note="the prices in force before a base price change")
            db.session.add(pin)
        for f, value in pin_platform.items():
            setattr(pin, f, value)
        pin.skill_prices = {**(pin.skill_prices or {}), **{s: format(p, "f") for s, p in pin_skills.items()}}
        db.session.flush()
        record_audit("price_version.pin", "price_version", pin.month_key, before=before,
                     after=_version_snapshot(pin), note="billed months keep their prices after a base price change")
    return schedule_version(today_period, changed, {s: (v or Decimal(0)) for s, v in changed_skills.items()},
                            note="from the pricing page's base prices")
