"""The form that starts a billing run from the browser."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField
from wtforms.validators import DataRequired, ValidationError

from ..billing.days import Period


class StartRunForm(FlaskForm):
    month = StringField("Month", validators=[DataRequired(message="Choose the month to bill, e.g. 2026-10.")],
                        render_kw={"placeholder": "YYYY-MM", "inputmode": "numeric", "autocomplete": "off"})
    dry_run = BooleanField("Dry run: show what would be issued, change nothing")

    def validate_month(self, field) -> None:
        try:
            field.period = Period.parse(field.data or "")
        except ValueError:
            raise ValidationError("Use a month like 2026-10.") from None
