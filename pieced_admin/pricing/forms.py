"""Forms of the pricing editor: platform prices and per-skill daily prices.

Amounts are typed as text (not `<input type=number>`, whose float steps and
browser-side checks would hide our messages) and parsed into Decimal.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import DecimalField, IntegerField, StringField
from wtforms.validators import InputRequired, Length, Optional, Regexp, ValidationError

from ..billing.money import fmt_price, format_grouped, q2

# The columns' capacity: NUMERIC(10,2), NUMERIC(10,5) and NUMERIC(5,2).
MONEY_MAX = Decimal("99999999.99")
UNIT_PRICE_MAX = Decimal("99999.99999")
PERCENT_MAX = Decimal("999.99")

# Prices are also bounded by what their month can bring: one tenant's line at a plausible month's
# quantity (31 days, a million Threema messages, 100'000 USD of LLM spend) stays within CHF 1'000'000,
# so an invoice of many such lines still fits NUMERIC(10,2) (at most 99'999'999.99). Issuing checks
# the amounts again (a price set by plain SQL), so nothing overflows there either.
LINE_MAX = Decimal("1000000.00")
PLAUSIBLE_DAYS = 31
PLAUSIBLE_MESSAGES = 1_000_000
PLAUSIBLE_LLM_USD = Decimal("100000")
FEE_MAX = LINE_MAX
SKILL_DAILY_MAX = Decimal("10000.00000")     # × 31 days = 310'000
THREEMA_MAX = LINE_MAX / PLAUSIBLE_MESSAGES  # 1.00 per message
LLM_CHF_PER_USD_MAX = LINE_MAX / PLAUSIBLE_LLM_USD  # 10 CHF per USD, markup included

SKILL_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
SKILL_ID_MESSAGE = ("Use letters, digits, dots, hyphens and underscores, starting with a letter or digit "
                    "(e.g. searxng-local-search).")


class SwissDecimalField(DecimalField):
    """A decimal typed the Swiss way: `1’234.50`, `1'234.50` or `12,5` are read as numbers; floats never."""

    def __init__(self, label=None, validators=None, display=fmt_price, **kwargs):
        kwargs.setdefault("render_kw", {})
        kwargs["render_kw"] = {"inputmode": "decimal", "autocomplete": "off", **kwargs["render_kw"]}
        super().__init__(label, validators, places=None, **kwargs)
        self._display = display

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = re.sub(r"[\s’'_]", "", valuelist[0] or "")
        if "," in text and "." not in text and text.count(",") == 1:
            text = text.replace(",", ".")
        if not text:
            self.data = None
            return
        try:
            value = Decimal(text)
        except (InvalidOperation, ValueError):
            self.data = None
            raise ValueError(self.gettext("Enter a number such as 49.00.")) from None
        if not value.is_finite():
            self.data = None
            raise ValueError(self.gettext("Enter a number such as 49.00."))
        self.data = value

    def _value(self):
        if self.raw_data is not None:
            return self.raw_data[0] if self.raw_data else ""
        if self.data is None:
            return ""
        return self._display(self.data)


class WholeDaysField(IntegerField):
    """A number of whole days (an integer; `30.5` or `abc` get a message a person understands)."""

    def process_formdata(self, valuelist):
        if not valuelist:
            return
        text = (valuelist[0] or "").strip()
        if not text:
            self.data = None
            return
        if not re.fullmatch(r"[+-]?\d+", text):
            self.data = None
            raise ValueError(self.gettext("Enter a whole number of days, e.g. 30."))
        self.data = int(text)


def at_most_places(places: int):
    """Validator: no more decimal places than the column keeps (nothing is rounded silently)."""

    def check(form, field):
        value = field.data
        if value is None:
            return
        exponent = value.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > places:
            unit = "decimal place" if places == 1 else "decimal places"
            raise ValidationError(f"At most {places} {unit}.")

    return check


def not_negative(form, field):
    """Validator: zero or more."""
    if field.data is not None and field.data < 0:
        raise ValidationError("Must not be negative.")


def in_range(minimum=None, maximum=None, message: str = ""):
    """Like NumberRange, but silent when the value could not be read (that error is shown already)."""

    def check(form, field):
        value = field.data
        if value is None:
            return
        if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
            raise ValidationError(message)

    return check


def _money(label: str, *, maximum: Decimal = MONEY_MAX, places: int = 2, display=None, message: str | None = None):
    return SwissDecimalField(
        label,
        validators=[InputRequired("Required."), not_negative, at_most_places(places),
                    in_range(maximum=maximum, message=message or f"At most {format_grouped(maximum, places)}.")],
        display=display or (lambda v: format(q2(v), "f")),
    )


class PricingForm(FlaskForm):
    """The platform pricing row; field names are the `platform_pricing` columns."""

    tenant_monthly_fee_chf = _money("Monthly fee (CHF)", maximum=FEE_MAX)
    tenant_setup_fee_chf = _money("Setup fee (CHF)", maximum=FEE_MAX)
    threema_message_chf = _money(
        "Threema message (CHF)", maximum=THREEMA_MAX, places=5, display=fmt_price,
        message=f"At most {fmt_price(THREEMA_MAX)}: at {format_grouped(PLAUSIBLE_MESSAGES, 0)} messages a month "
                f"a tenant's line must stay within CHF {format_grouped(LINE_MAX)}.")
    llm_usd_to_chf = SwissDecimalField(
        "LLM rate (CHF per USD)",
        validators=[InputRequired("Required."), at_most_places(5),
                    in_range(maximum=UNIT_PRICE_MAX, message=f"At most {fmt_price(UNIT_PRICE_MAX)}.")],
    )
    llm_markup_pct = _money("LLM markup (%)", maximum=PERCENT_MAX)
    vat_rate_chli = _money("VAT rate CH/LI (%)", maximum=Decimal("100"),
                           message="Between 0 and 100 %.")
    payment_terms_days = WholeDaysField(
        "Payment terms (days)",
        validators=[InputRequired("Required."), in_range(0, 365, "Between 0 and 365 days.")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )

    def validate_llm_usd_to_chf(self, field):
        if field.data is not None and field.data <= 0:
            raise ValidationError("Must be greater than 0 (CHF for one USD, e.g. 0.90).")
        markup = self.llm_markup_pct.data
        if field.data is not None and markup is not None and markup >= 0:
            effective = field.data * (1 + markup / 100)
            if effective > LLM_CHF_PER_USD_MAX:
                raise ValidationError(
                    f"With the markup this is CHF {fmt_price(effective)} per USD; at most "
                    f"{fmt_price(LLM_CHF_PER_USD_MAX)}, so {format_grouped(PLAUSIBLE_LLM_USD, 0)} USD of spend stays "
                    f"within CHF {format_grouped(LINE_MAX)}.")


class SkillPriceEditForm(FlaskForm):
    """A skill's new daily price (its id is fixed once the price exists)."""

    daily_price_chf = _money(
        "Daily price (CHF)", maximum=SKILL_DAILY_MAX, places=5, display=fmt_price,
        message=f"At most {fmt_price(SKILL_DAILY_MAX)}: a month of {PLAUSIBLE_DAYS} days must stay within "
                f"CHF {format_grouped(LINE_MAX)}.")
    display_name = StringField(
        "Name on invoices",
        validators=[Optional(), Length(max=120, message="At most 120 characters.")],
        filters=[lambda s: (s.strip() or None) if isinstance(s, str) else s],
        render_kw={"autocomplete": "off", "placeholder": "the skill id"},
    )


class SkillPriceForm(SkillPriceEditForm):
    """A new skill price: the skill id and its daily price."""

    skill_id = StringField(
        "Skill id",
        validators=[InputRequired("Required."), Length(max=120, message="At most 120 characters."),
                    Regexp(SKILL_ID_PATTERN, message=SKILL_ID_MESSAGE)],
        filters=[lambda s: s.strip() if isinstance(s, str) else s],
        render_kw={"list": "known-skills", "autocomplete": "off", "spellcheck": "false"},
    )
