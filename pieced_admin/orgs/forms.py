"""Forms of the org pages: billing configuration and the month to invoice."""

from __future__ import annotations

from functools import lru_cache

import pycountry
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField
from wtforms.validators import Email, InputRequired, Length, Optional, ValidationError

from ..billing.days import Period
from ..pricing.forms import WholeDaysField, in_range

from wtforms.fields.choices import SelectChoice as Choice


def strip_text(value):
    """Form filter: surrounding spaces removed."""
    return value.strip() if isinstance(value, str) else value


def blank_to_none(value):
    """Form filter: an empty or blank text is stored as NULL."""
    value = strip_text(value)
    return value or None


@lru_cache(maxsize=1)
def _countries() -> tuple[tuple[str, str], ...]:
    countries = sorted(((c.alpha_2, getattr(c, "common_name", None) or c.name) for c in pycountry.countries),
                       key=lambda c: c[1])
    first = [c for c in countries if c[0] in ("CH", "LI")]
    return tuple(first + [c for c in countries if c[0] not in ("CH", "LI")])


def country_choices() -> list:
    """Every country as an option (ISO 3166 alpha-2, name), Switzerland and Liechtenstein first."""
    return [Choice(code, f"{name} ({code})") for code, name in _countries()]


def _entity_id(value):
    if value in (None, "", "None"):
        return None
    return int(value)


class AddressMixin:
    """A structured postal address, as the QR-bill needs it (lengths of the Swiss standard)."""

    street = StringField("Street", validators=[Length(max=70, message="At most 70 characters.")],
                         filters=[blank_to_none], render_kw={"autocomplete": "address-line1"})
    building_number = StringField("Building number", validators=[Length(max=16, message="At most 16 characters.")],
                                  filters=[blank_to_none])
    postal_code = StringField("Postal code", validators=[Length(max=16, message="At most 16 characters.")],
                              filters=[blank_to_none], render_kw={"autocomplete": "postal-code"})
    city = StringField("City", validators=[Length(max=35, message="At most 35 characters.")],
                       filters=[blank_to_none], render_kw={"autocomplete": "address-level2"})
    country = SelectField("Country", choices=country_choices, default="CH",
                          validators=[InputRequired("Choose a country.")])


class OrgConfigForm(AddressMixin, FlaskForm):
    """An org's billing configuration (`org_billing_config`)."""

    # The QR-bill's debtor name holds 70 characters (Swiss Implementation Guidelines).
    display_name = StringField("Display name",
                               validators=[Length(max=70, message="At most 70 characters (the QR-bill's limit).")],
                               filters=[blank_to_none])
    billing_email = EmailField(
        "Billing e-mail",
        validators=[Optional(), Length(max=254, message="At most 254 characters."),
                    Email("Enter an e-mail address such as accounts@example.ch.")],
        filters=[blank_to_none],
    )
    vat_number = StringField("VAT number", validators=[Length(max=40, message="At most 40 characters.")],
                             filters=[blank_to_none])
    language = SelectField("Invoice language", choices=lambda: [Choice("en", "English"), Choice("de", "German")],
                           default="en")
    payment_terms_days = WholeDaysField(
        "Payment terms (days)",
        validators=[Optional(), in_range(0, 365, "Between 0 and 365 days.")],
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    billing_entity_id = SelectField("Billing entity", coerce=_entity_id, validate_choice=True)
    pay_by_invoice = BooleanField("Pays by invoice (bank transfer with QR-bill); off: card through Stripe")
    auto_invoice_enabled = BooleanField("Invoice automatically each month")
    auto_reminders_enabled = BooleanField("Send payment reminders automatically")

    def set_entities(self, entities, default) -> None:
        """Offer the billing entities; empty means the default entity."""
        self.billing_entity_id.choices = [Choice("", f"Default entity ({default.name})" if default else "Default entity")]
        self.billing_entity_id.choices += [Choice(e.id, f"{e.name} ({e.code})") for e in entities]


class MonthForm(FlaskForm):
    """The month to preview or issue (`<input type=month>`: YYYY-MM)."""

    class Meta:
        csrf = False  # a GET for the preview; the POST of issuing is checked by CSRFProtect for every form

    month = StringField("Month", validators=[InputRequired("Choose a month.")], filters=[strip_text])

    def __init__(self, *args, today=None, must_be_over: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self._today = today
        self._must_be_over = must_be_over
        self.period: Period | None = None

    def validate_month(self, field):
        try:
            period = Period.parse(field.data or "")
        except ValueError:
            raise ValidationError("Enter a month as YYYY-MM, e.g. 2026-10.") from None
        if self._today is not None and period.first_day > self._today:
            raise ValidationError(f"{period.first_day:%B %Y} has not started yet.")
        if self._must_be_over and self._today is not None and period.last_day >= self._today:
            raise ValidationError(
                f"{period.first_day:%B %Y} is not over yet: it can be issued from "
                f"{period.next().first_day:%d.%m.%Y}. The preview shows it so far.")
        self.period = period
