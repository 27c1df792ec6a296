"""Jinja filters: money the Swiss way, times in the billing time zone."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from flask import Flask, current_app


def chf(value, language: str = "en") -> str:
    """1234.5 -> 1’234.50 (our Swiss rule in billing.money, the same in English and German)."""
    if value is None or value == "":
        return ""
    from ..billing.money import format_chf

    return format_chf(Decimal(str(value)) if not isinstance(value, Decimal) else value, language)


def local_dt(value: datetime | None, fmt: str = "%d.%m.%Y %H:%M") -> str:
    """A UTC timestamp shown in the billing time zone."""
    if value is None:
        return ""
    tz = ZoneInfo(current_app.config["BILLING_TIMEZONE"])
    return value.astimezone(tz).strftime(fmt)


def local_date(value: date | datetime | None) -> str:
    """A date (or a timestamp's local date) as dd.mm.yyyy."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return local_dt(value, "%d.%m.%Y")
    return value.strftime("%d.%m.%Y")


def init_app(app: Flask) -> None:
    app.jinja_env.filters["chf"] = chf
    app.jinja_env.filters["local_dt"] = local_dt
    app.jinja_env.filters["local_date"] = local_date
