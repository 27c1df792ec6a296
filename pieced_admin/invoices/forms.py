"""Forms of the invoice pages: the list's filter (a GET form, bookmarkable), mark paid and void."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import Form, HiddenField, SearchField, SelectField, StringField, TextAreaField
from wtforms.fields import DateField, DecimalField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError

from ..billing.days import Period
from ..billing.issuing import PAYMENT_METHODS
from .services import AGING_FILTERS, CHARGE_FILTERS, METHOD_LABELS, SORTS, STATUS_FILTERS, InvoiceQuery

from wtforms.fields.choices import SelectChoice as _Choice


def _choices(pairs) -> list:
    return [_Choice(value, label) for value, label in pairs]


METHOD_CHOICES = _choices((m, METHOD_LABELS.get(m, m)) for m in PAYMENT_METHODS)


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _month(form, field) -> None:
    if field.data:
        try:
            Period.parse(field.data)
        except ValueError:
            raise ValidationError("Use a month like 2026-10.") from None


class InvoiceFilterForm(Form):
    """The list's filters, read from the query string (no CSRF: it changes nothing)."""

    status = SelectField("Status", choices=_choices([("", "Any status"), *STATUS_FILTERS.items()]), default="")
    aging = SelectField("Days overdue", default="",
                        choices=_choices([("", "Any"), *((k, label) for k, (label, _a, _b) in AGING_FILTERS.items())]))
    # Its choices come with the page (the entities are read by the list service); an unknown code matches nothing.
    entity = SelectField("Billing entity", choices=_choices([("", "All entities")]), default="", validate_choice=False)
    org = StringField("Org id", filters=[_strip], validators=[Length(max=100)],
                      render_kw={"placeholder": "org-…", "autocomplete": "off"})
    period = StringField("Billed month", filters=[_strip], validators=[_month],
                         render_kw={"type": "month", "placeholder": "YYYY-MM"})
    issued = StringField("Issued in", filters=[_strip], validators=[_month],
                         render_kw={"type": "month", "placeholder": "YYYY-MM"})
    charge = SelectField("Card charge", choices=_choices([("", "Any"), *CHARGE_FILTERS.items()]), default="")
    q = SearchField("Search", filters=[_strip], validators=[Length(max=100)],
                    render_kw={"placeholder": "Number, org", "autocomplete": "off"})
    sort = SelectField("Sort by", choices=_choices(SORTS.items()), default="issued")
    dir = SelectField("Order", choices=_choices([("desc", "Descending"), ("asc", "Ascending")]), default="desc")
    page = HiddenField(default="1")

    def set_entities(self, entities) -> None:
        """Offer these billing entities in the entity filter."""
        self.entity.choices = _choices([("", "All entities"), *((e.code, e.name) for e in entities)])

    def to_query(self) -> InvoiceQuery:
        """The filter as the service takes it; a field that does not validate is left out (and shows its error)."""
        self.validate()
        values = {}
        for name in InvoiceQuery.FILTER_FIELDS + ("sort", "dir"):
            field = getattr(self, name)
            if not field.errors and field.data:
                values[name] = field.data
        try:
            values["page"] = max(1, int(self.page.data or 1))
        except ValueError:
            values["page"] = 1
        return InvoiceQuery(**values)


class MarkPaidForm(FlaskForm):
    """Record a payment: the day it arrived, how, and the bank's reference."""

    paid_on = DateField("Paid on", validators=[InputRequired("Enter the day the payment arrived.")])
    method = SelectField("Method", choices=METHOD_CHOICES, default="bank_transfer")
    reference = StringField("Payment reference", filters=[_strip],
                            validators=[Optional(), Length(max=200, message="At most 200 characters.")],
                            render_kw={"placeholder": "e.g. the bank statement's reference", "autocomplete": "off"})
    amount = DecimalField("Amount received", places=2,
                          validators=[Optional(), NumberRange(min=Decimal("0.01"), message="Enter a positive amount.")],
                          render_kw={"placeholder": "the whole balance due", "inputmode": "decimal", "step": "0.01"})

    def __init__(self, *args, today: date | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        if today is not None and self.paid_on.data is None and not self.paid_on.raw_data:
            self.paid_on.data = today
        self.paid_on.render_kw = {"max": today.isoformat()} if today else None


class VoidForm(FlaskForm):
    """Void an unpaid invoice: the reason is kept on the invoice and in the audit log."""

    reason = TextAreaField("Reason", filters=[_strip],
                           validators=[DataRequired("Give the reason for voiding this invoice."),
                                       Length(max=500, message="At most 500 characters.")],
                           render_kw={"rows": 2, "placeholder": "e.g. wrong billing address; reissued"})
