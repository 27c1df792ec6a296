"""The credit form on the invoice page: everything that remains, an amount, or chosen lines, with a reason."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

MODES = [("full", "Everything that remains"), ("amount", "An amount (net)"), ("lines", "Chosen lines")]


class CreditForm(FlaskForm):
    mode = RadioField("Credit", choices=MODES, default="full")
    amount = StringField("Net amount (CHF)", validators=[Optional(), Length(max=20)],
                         render_kw={"inputmode": "decimal", "placeholder": "e.g. 12.50"})
    lines = SelectMultipleField("Lines", coerce=int, choices=[], validate_choice=False,
                                option_widget=CheckboxInput(), widget=ListWidget(prefix_label=False))
    reason = TextAreaField("Reason", validators=[DataRequired("Give the reason for the credit note: it is printed on it."),
                                                 Length(max=1000)])
