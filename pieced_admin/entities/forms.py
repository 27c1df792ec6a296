"""The billing entity form: identity, structured address, IBAN, invoice prefix, default."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, SelectField, StringField, URLField
from wtforms.validators import Email, InputRequired, Length, Optional, Regexp, ValidationError

from ..orgs.forms import AddressMixin, Choice, blank_to_none, strip_text

CURRENCIES = ("CHF",)  # QR-bills and the engine bill in CHF only, for now


def _upper(value):
    value = strip_text(value)
    return value.upper() if isinstance(value, str) else value


def _lower(value):
    value = strip_text(value)
    return value.lower() if isinstance(value, str) else value


class EntityForm(AddressMixin, FlaskForm):
    """A billing entity (`billing_entities`)."""

    code = StringField(
        "Code",
        validators=[InputRequired("Required."), Length(max=40, message="At most 40 characters."),
                    Regexp(r"^[a-z0-9][a-z0-9-]*$", message="Lower-case letters, digits and hyphens, e.g. pieced-ch.")],
        filters=[_lower], render_kw={"autocomplete": "off", "spellcheck": "false"},
    )
    name = StringField("Legal name", validators=[InputRequired("Required."),
                                                 Length(max=70, message="At most 70 characters (the QR-bill's limit).")],
                       filters=[strip_text])
    vat_number = StringField("VAT number", validators=[Length(max=40, message="At most 40 characters.")],
                             filters=[blank_to_none])
    iban = StringField("IBAN", validators=[InputRequired("Required: the QR-bill needs the account to pay into.")],
                       filters=[strip_text], render_kw={"autocomplete": "off", "spellcheck": "false"})
    invoice_prefix = StringField(
        "Invoice prefix",
        validators=[InputRequired("Required."),
                    Regexp(r"^[A-Z0-9]{1,10}$", message="1 to 10 letters or digits, e.g. PC.")],
        filters=[_upper], render_kw={"autocomplete": "off", "spellcheck": "false", "maxlength": 10},
    )
    currency = SelectField("Currency", choices=lambda: [Choice(c, c) for c in CURRENCIES], default="CHF")
    is_default = BooleanField("Default entity: bills every org and tenant that names no entity")
    email = EmailField("Billing e-mail",
                       validators=[Optional(), Length(max=200, message="At most 200 characters."),
                                   Email("Enter an e-mail address such as billing@pieced.ch.")],
                       filters=[blank_to_none])
    website = URLField("Website", validators=[Optional(), Length(max=200, message="At most 200 characters."),
                                              Regexp(r"^https?://\S+$", message="Enter a web address such as https://pieced.ch.")],
                       filters=[blank_to_none])

    # The accounting journal's accounts (Swiss SME chart of accounts when left empty).
    account_debtors = StringField("Debtors account", default="1100", filters=[lambda v: strip_text(v) or "1100"],
                                  validators=[Regexp(r"^\d{3,10}$", message="An account number: 3 to 10 digits.")])
    account_revenue = StringField("Revenue account", default="3400", filters=[lambda v: strip_text(v) or "3400"],
                                  validators=[Regexp(r"^\d{3,10}$", message="An account number: 3 to 10 digits.")])
    account_vat_payable = StringField("VAT payable account", default="2200",
                                      filters=[lambda v: strip_text(v) or "2200"],
                                      validators=[Regexp(r"^\d{3,10}$", message="An account number: 3 to 10 digits.")])
    account_bank = StringField("Bank account", default="1020", filters=[lambda v: strip_text(v) or "1020"],
                               validators=[Regexp(r"^\d{3,10}$", message="An account number: 3 to 10 digits.")])

    # The QR-bill prints the seller's structured address: postal code and city are needed.
    postal_code = StringField("Postal code", validators=[InputRequired("Required for the QR-bill."),
                                                         Length(max=16, message="At most 16 characters.")],
                              filters=[blank_to_none])
    city = StringField("City", validators=[InputRequired("Required for the QR-bill."),
                                           Length(max=35, message="At most 35 characters.")],
                       filters=[blank_to_none])

    def validate_iban(self, field):
        from ..billing.qr import IbanError, normalise_iban
        from ..web.messages import as_sentence

        try:
            field.data = normalise_iban(field.data or "")
        except IbanError as exc:
            raise ValidationError(as_sentence(exc)) from None

