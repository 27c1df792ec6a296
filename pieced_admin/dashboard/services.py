"""The dashboard's figures: receivables and their age, revenue per month and entity, this month's
invoices, and what needs a person's attention.

Each figure is one aggregate query (or a short "top N" list), so the page costs
the same number of statements with ten invoices or a hundred thousand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, has_request_context, url_for

from ..billing.days import Period, month_bounds
from ..extensions import db
from ..models import BillingEntity, BillingRun, Invoice, OrgBillingConfig, TenantUsage
from ..payments import ledger
from ..payments.services import card_orgs_without_payment_method
from ..usage import late_usage_by_invoice
from .chart import BarChart, Series, stacked_bars

ZERO = Decimal("0.00")
ATTENTION_LIMIT = 8
REVENUE_MONTHS = 12
THREEMA_QUIET_DAYS = 7


def _money(value) -> Decimal:
    return Decimal(str(value or 0)).quantize(Decimal("0.01"))


def _zone() -> ZoneInfo:
    return ZoneInfo(current_app.config["BILLING_TIMEZONE"])


def _sum_if(cond, column):
    return sa.func.coalesce(sa.func.sum(sa.case((cond, column), else_=0)), 0)


# --------------------------------------------------------------------------- receivables


@dataclass
class Bucket:
    key: str
    label: str
    count: int
    amount: Decimal
    args: dict            # the invoice list's filter behind it
    share: int = 0        # percent of all open receivables (for the bar drawn under it)


@dataclass
class Receivables:
    open_count: int
    open_amount: Decimal
    overdue_count: int
    overdue_amount: Decimal
    buckets: list[Bucket]


# (key, label, least days overdue, most days overdue or None); "not yet due" = 0 or fewer days.
AGING = (
    ("not_due", "Not yet due", None, 0),
    ("1-30", "1–30 days overdue", 1, 30),
    ("31-60", "31–60 days overdue", 31, 60),
    ("61+", "Over 60 days overdue", 61, None),
)


def receivables(today: date) -> Receivables:
    """Issued, unpaid invoices by age and balance due: a day overdue is `today - due_date` (due today is not)."""
    paid = ledger.paid_per_invoice(of_status="issued")
    balance = ledger.balance_expr(paid=sa.func.coalesce(paid.c.paid, 0))
    columns = []
    for _key, _label, least, most in AGING:
        cond = sa.true()
        if least is not None:
            cond = sa.and_(cond, Invoice.due_date <= today - timedelta(days=least))
        if most is not None:
            cond = sa.and_(cond, Invoice.due_date >= today - timedelta(days=most))
        columns += [_sum_if(cond, 1), _sum_if(cond, balance)]
    row = db.session.execute(sa.select(*columns).select_from(Invoice)
                             .outerjoin(paid, paid.c.invoice_id == Invoice.id).where(Invoice.status == "issued")).one()
    buckets = []
    for i, (key, label, _least, _most) in enumerate(AGING):
        args = {"status": "not_due"} if key == "not_due" else {"status": "overdue", "aging": key}
        buckets.append(Bucket(key=key, label=label, count=int(row[2 * i]), amount=_money(row[2 * i + 1]), args=args))
    open_amount = sum((b.amount for b in buckets), ZERO)
    for b in buckets:
        b.share = int((b.amount * 100 / open_amount).to_integral_value()) if open_amount else 0
    overdue = buckets[1:]
    return Receivables(
        open_count=sum(b.count for b in buckets), open_amount=open_amount,
        overdue_count=sum(b.count for b in overdue), overdue_amount=sum((b.amount for b in overdue), ZERO),
        buckets=buckets,
    )


# --------------------------------------------------------------------------- revenue


@dataclass
class RevenueMonth:
    period: Period
    by_entity: dict[int, Decimal]
    count: int

    @property
    def total(self) -> Decimal:
        return sum(self.by_entity.values(), ZERO)


@dataclass
class Revenue:
    months: list[RevenueMonth]
    entities: list[BillingEntity]
    chart: BarChart

    @property
    def total(self) -> Decimal:
        return sum((m.total for m in self.months), ZERO)


def revenue_by_month(today: date, months: int = REVENUE_MONTHS) -> Revenue:
    """Net of issued and paid invoices (void left out) per local month of issue and billing entity,
    for this month and the `months - 1` before it."""
    tz = _zone()
    periods = [Period.of(today)]
    while len(periods) < months:
        periods.insert(0, periods[0].previous())
    bounds = [month_bounds(p, tz) for p in periods]
    # The month index of an issue time, from the UTC bounds of each local month (exact across DST).
    month_index = sa.case(
        *((sa.and_(Invoice.issued_at >= start, Invoice.issued_at < end), i) for i, (start, end) in enumerate(bounds)),
        else_=-1,
    )
    inner = (
        sa.select(month_index.label("m"), Invoice.billing_entity_id.label("entity_id"),
                  Invoice.net_chf.label("net"))
        .where(Invoice.status.in_(("issued", "paid")),
               Invoice.issued_at >= bounds[0][0], Invoice.issued_at < bounds[-1][1])
        .subquery()
    )
    rows = db.session.execute(
        sa.select(inner.c.m, inner.c.entity_id, sa.func.sum(inner.c.net), sa.func.count())
        .group_by(inner.c.m, inner.c.entity_id)
    ).all()
    result = [RevenueMonth(period=p, by_entity={}, count=0) for p in periods]
    for m, entity_id, net, count in rows:
        if 0 <= m < len(result):
            result[m].by_entity[entity_id] = _money(net)
            result[m].count += int(count)
    entities = list(db.session.execute(sa.select(BillingEntity).order_by(BillingEntity.id)).scalars())
    shown = [e for e in entities if any(e.id in m.by_entity for m in result)] or entities[:1]
    series = [Series(key=e.code, label=e.name, values=tuple(m.by_entity.get(e.id, ZERO) for m in result))
              for e in shown]

    from ..web.filters import chf

    def title(s: Series, i: int, value: Decimal) -> str:
        return f"{periods[i].first_day:%B %Y} · {s.label}: CHF {chf(value)} net"

    def link(s: Series, i: int) -> dict:
        return {"issued": periods[i].key, "entity": s.key}

    columns = [(f"{p.first_day:%b}", f"{p.year}" if (i == 0 or p.month == 1) else "") for i, p in enumerate(periods)]
    chart = stacked_bars(columns, series, title_of=title, link_of=link)
    return Revenue(months=result, entities=shown, chart=chart)


# --------------------------------------------------------------------------- this month


@dataclass
class IssuedThisMonth:
    period: Period
    count: int
    total: Decimal
    net: Decimal
    void_count: int


def issued_this_month(today: date) -> IssuedThisMonth:
    """Invoices issued since the 1st of this (local) month; amounts leave void ones out."""
    period = Period.of(today)
    start, end = month_bounds(period, _zone())
    not_void = Invoice.status != "void"
    row = db.session.execute(
        sa.select(_sum_if(not_void, 1), _sum_if(not_void, Invoice.total_chf), _sum_if(not_void, Invoice.net_chf),
                  _sum_if(Invoice.status == "void", 1))
        .where(Invoice.issued_at >= start, Invoice.issued_at < end)
    ).one()
    return IssuedThisMonth(period=period, count=int(row[0]), total=_money(row[1]), net=_money(row[2]),
                           void_count=int(row[3]))


# --------------------------------------------------------------------------- needs attention


@dataclass
class OrgProblem:
    org_id: str
    name: str
    problems: list[str]


@dataclass
class OverdueInvoice:
    number: str
    org_id: str
    org_name: str
    total: Decimal
    due_date: date
    days_overdue: int


@dataclass
class ChargeProblem:
    number: str
    org_id: str
    org_name: str
    total: Decimal
    charge_status: str
    message: str


@dataclass
class SourceProblem:
    source: str
    message: str
    href: str | None = None


@dataclass
class MoneyProblems:
    """Money that needs finance: bank payments nobody's, and credit balances to use or refund."""

    unmatched_count: int = 0
    unmatched_amount: Decimal = ZERO
    credit_orgs: list[OrgProblem] = field(default_factory=list)
    credit_count: int = 0
    credit_amount: Decimal = ZERO

    @property
    def empty(self) -> bool:
        return not (self.unmatched_count or self.credit_count)


def money_problems(limit: int = ATTENTION_LIMIT) -> MoneyProblems:
    """Unmatched bank payments (one statement) and the orgs holding a credit balance (one statement)."""
    from ..billing.money import format_chf
    from ..payments.unmatched import unmatched_summary

    count, amount = unmatched_summary()
    credits = ledger.org_credits()
    names = {}
    top = sorted(credits.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    if top:
        names = dict(db.session.execute(
            sa.select(OrgBillingConfig.zitadel_org_id, OrgBillingConfig.display_name)
            .where(OrgBillingConfig.zitadel_org_id.in_([org for org, _ in top]))).all())
    return MoneyProblems(
        unmatched_count=count, unmatched_amount=amount,
        credit_orgs=[OrgProblem(org_id=org, name=names.get(org) or org,
                                problems=[f"CHF {format_chf(value)} to its credit (paid more than owed, or twice): "
                                          "used on its next invoice unless refunded"]) for org, value in top],
        credit_count=len(credits), credit_amount=sum(credits.values(), ZERO),
    )


@dataclass
class Attention:
    orgs_incomplete: list[OrgProblem]
    orgs_incomplete_count: int
    card_orgs_without_card: list[OrgProblem]
    card_orgs_without_card_count: int
    sources: list[SourceProblem]
    overdue: list[OverdueInvoice]
    charges: list[ChargeProblem]
    charges_count: int
    money: MoneyProblems = field(default_factory=MoneyProblems)

    @property
    def empty(self) -> bool:
        return not (self.orgs_incomplete or self.card_orgs_without_card or self.sources or self.overdue
                    or self.charges) and self.money.empty


def _blank(column):
    return sa.or_(column.is_(None), sa.func.trim(column) == "")


def incomplete_orgs(limit: int = ATTENTION_LIMIT) -> tuple[list[OrgProblem], int]:
    """Orgs whose invoices cannot reach them: no billing e-mail, or no complete postal address."""
    no_email = _blank(OrgBillingConfig.billing_email)
    no_address = sa.or_(_blank(OrgBillingConfig.street), _blank(OrgBillingConfig.postal_code),
                        _blank(OrgBillingConfig.city))
    cond = sa.or_(no_email, no_address)
    count = db.session.execute(sa.select(sa.func.count()).select_from(OrgBillingConfig).where(cond)).scalar_one()
    rows = db.session.execute(
        sa.select(OrgBillingConfig.zitadel_org_id, OrgBillingConfig.display_name,
                  sa.case((no_email, True), else_=False), sa.case((no_address, True), else_=False))
        .where(cond)
        .order_by(sa.func.lower(sa.func.coalesce(OrgBillingConfig.display_name, OrgBillingConfig.zitadel_org_id)))
        .limit(limit)
    ).all()
    items = [OrgProblem(org_id=org_id, name=name or org_id,
                        problems=[p for p, missing in (("no billing e-mail", e), ("no postal address", a)) if missing])
             for org_id, name, e, a in rows]
    return items, int(count)


def card_orgs_without_card(today: date, limit: int = ATTENTION_LIMIT) -> tuple[list[OrgProblem], int]:
    """Orgs paying by card that have no usable card on file (the payments service decides)."""
    orgs = card_orgs_without_payment_method(today)
    items = [OrgProblem(org_id=o.zitadel_org_id, name=o.name, problems=["no usable card"]) for o in orgs]
    return items[:limit], len(items)


def usage_source_problems(today: date) -> list[SourceProblem]:
    """Usage that cannot reach the invoices: LiteLLM or the Threema token not configured, quiet
    Threema reports, and orgs the last billing run could not invoice."""
    cfg = current_app.config
    problems: list[SourceProblem] = []
    if not cfg.get("LITELLM_URL"):
        problems.append(SourceProblem(
            "LiteLLM", "LiteLLM is not configured (LITELLM_URL): invoices carry no LLM usage lines."))
    if not cfg.get("USAGE_INGEST_TOKEN"):
        problems.append(SourceProblem(
            "Threema", "USAGE_INGEST_TOKEN is not set: Threema bridges cannot report messages, so none are billed."))
    else:
        last = db.session.execute(sa.select(sa.func.max(TenantUsage.recorded_at))).scalar_one()
        if last is not None and last.astimezone(_zone()).date() < today - timedelta(days=THREEMA_QUIET_DAYS):
            problems.append(SourceProblem(
                "Threema", f"No Threema usage reported since {last.astimezone(_zone()):%d.%m.%Y}: "
                           f"check that the tenants' bridges can reach POST /api/usage/threema."))
    late = late_usage_by_invoice()
    if late:
        count = sum(n for n, _ in late.values())
        numbers = sorted(db.session.execute(sa.select(Invoice.number).where(Invoice.id.in_(late))).scalars())
        shown = ", ".join(numbers[:3]) + (f" and {len(numbers) - 3} more" if len(numbers) > 3 else "")
        problems.append(SourceProblem(
            "Late usage", f"{count} Threema message{'s' if count != 1 else ''} for months already invoiced "
                          f"({shown}): kept but not billed — credit and re-issue, or leave them unbilled.",
            _link("invoices.detail", numbers[0])))
    run = db.session.execute(
        sa.select(BillingRun).where(BillingRun.dry_run.is_(False)).order_by(BillingRun.started_at.desc()).limit(1)
    ).scalar_one_or_none()
    if run is not None and run.orgs_failed:
        href = _link("runs.detail", run.id) or (
            url_for("runs.index") if "runs.index" in current_app.view_functions and has_request_context() else None)
        problems.append(SourceProblem(
            "Billing run", f"The last billing run ({run.period}) could not invoice {run.orgs_failed} "
                           f"org{'s' if run.orgs_failed != 1 else ''}: see the run for the reasons.", href))
    not_emailed = sum(len(e.get("not_emailed") or []) for e in (run.summary or []) if isinstance(e, dict)) if run else 0
    if not_emailed:
        href = _link("runs.detail", run.id)
        problems.append(SourceProblem(
            "Billing run", f"The last billing run ({run.period}) issued {not_emailed} invoice"
                           f"{'s' if not_emailed != 1 else ''} it could not e-mail (no or a wrong billing address): "
                           "fix the address and run the month again to send "
                           f"{'them' if not_emailed != 1 else 'it'}.", href))
    return problems


def _link(endpoint: str, value) -> str | None:
    """The URL of a one-argument endpoint of another domain, when that domain is installed."""
    if endpoint not in current_app.view_functions or not has_request_context():
        return None
    for rule in current_app.url_map.iter_rules(endpoint):
        if len(rule.arguments) == 1:
            return url_for(endpoint, **{next(iter(rule.arguments)): value})
    return None


def _org_name():
    return sa.func.coalesce(OrgBillingConfig.display_name, Invoice.zitadel_org_id)


def _with_org(stmt):
    return stmt.outerjoin(OrgBillingConfig, OrgBillingConfig.zitadel_org_id == Invoice.zitadel_org_id)


def most_overdue(today: date, limit: int = ATTENTION_LIMIT) -> list[OverdueInvoice]:
    """The longest-overdue invoices first."""
    rows = db.session.execute(_with_org(
        sa.select(Invoice.number, Invoice.zitadel_org_id, _org_name(), ledger.balance_expr(), Invoice.due_date)
        .select_from(Invoice))
        .where(Invoice.status == "issued", Invoice.due_date < today)
        .order_by(Invoice.due_date, Invoice.id).limit(limit)
    ).all()
    return [OverdueInvoice(number=n, org_id=o, org_name=name, total=_money(t), due_date=d,
                           days_overdue=(today - d).days) for n, o, name, t, d in rows]


def charge_problems(limit: int = ATTENTION_LIMIT) -> tuple[list[ChargeProblem], int]:
    """Issued card invoices whose charge failed or found no card."""
    from ..invoices.services import CHARGE_ATTENTION

    cond = sa.and_(Invoice.status == "issued", Invoice.charge_status.in_(CHARGE_ATTENTION))
    count = db.session.execute(sa.select(sa.func.count()).select_from(Invoice).where(cond)).scalar_one()
    rows = db.session.execute(_with_org(
        sa.select(Invoice.number, Invoice.zitadel_org_id, _org_name(), Invoice.total_chf, Invoice.charge_status,
                  Invoice.charge_message).select_from(Invoice))
        .where(cond).order_by(Invoice.issued_at, Invoice.id).limit(limit)
    ).all()
    return [ChargeProblem(number=n, org_id=o, org_name=name, total=_money(t), charge_status=s, message=m or "")
            for n, o, name, t, s, m in rows], int(count)


def needs_attention(today: date) -> Attention:
    """Everything on the dashboard's "needs attention" list."""
    incomplete, incomplete_count = incomplete_orgs()
    no_card, no_card_count = card_orgs_without_card(today)
    charges, charges_count = charge_problems()
    return Attention(
        orgs_incomplete=incomplete, orgs_incomplete_count=incomplete_count,
        card_orgs_without_card=no_card, card_orgs_without_card_count=no_card_count,
        sources=usage_source_problems(today), overdue=most_overdue(today),
        charges=charges, charges_count=charges_count, money=money_problems(),
    )


# --------------------------------------------------------------------------- the page


@dataclass
class Dashboard:
    today: date
    receivables: Receivables
    revenue: Revenue
    this_month: IssuedThisMonth
    attention: Attention
    any_invoices: bool = True


def dashboard(today: date) -> Dashboard:
    """All figures of the dashboard for `today` (a local date)."""
    this_month = issued_this_month(today)
    recv = receivables(today)
    revenue = revenue_by_month(today)
    any_invoices = db.session.execute(sa.select(Invoice.id).limit(1)).first() is not None
    return Dashboard(today=today, receivables=recv, revenue=revenue, this_month=this_month,
                     attention=needs_attention(today), any_invoices=any_invoices)
