"""`/pricing/versions`: schedule, edit and remove price versions (platform admins; SPEC §3, prices over time)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from .. import clock
from ..billing.days import Period
from ..billing.prices import (
    PLATFORM_FIELDS,
    PriceVersionError,
    all_versions,
    blocking_invoice,
    parse_price,
    prices_for_month,
    prices_json,
    remove_version,
    replace_version,
    schedule_version,
    version_changes,
)
from ..extensions import db
from .routes import PAGE, _context, bp

LABELS = {
    "tenant_monthly_fee_chf": "Monthly fee", "tenant_setup_fee_chf": "Setup fee",
    "threema_message_chf": "Threema message", "llm_usd_to_chf": "LLM CHF per USD",
    "llm_markup_pct": "LLM markup %", "vat_rate_chli": "VAT % (CH/LI)",
}


class PriceVersionForm(FlaskForm):
    month = StringField("From month", validators=[DataRequired("Give the first month, like 2027-01.")],
                        render_kw={"type": "month", "placeholder": "YYYY-MM"})
    tenant_monthly_fee_chf = StringField(LABELS["tenant_monthly_fee_chf"], validators=[Optional(), Length(max=20)])
    tenant_setup_fee_chf = StringField(LABELS["tenant_setup_fee_chf"], validators=[Optional(), Length(max=20)])
    threema_message_chf = StringField(LABELS["threema_message_chf"], validators=[Optional(), Length(max=20)])
    llm_usd_to_chf = StringField(LABELS["llm_usd_to_chf"], validators=[Optional(), Length(max=20)])
    llm_markup_pct = StringField(LABELS["llm_markup_pct"], validators=[Optional(), Length(max=20)])
    vat_rate_chli = StringField(LABELS["vat_rate_chli"], validators=[Optional(), Length(max=20)])
    skills = TextAreaField("Skill prices", validators=[Optional(), Length(max=4000)],
                           render_kw={"rows": 3, "placeholder": "searxng-local-search=0.12"})

    def parsed(self):
        """(period, platform prices, skill prices), or None with the errors set next to their fields."""
        ok = True
        try:
            period = Period.parse((self.month.data or "").strip())
        except ValueError as exc:
            self.month.errors = [*self.month.errors, str(exc)]
            period, ok = None, False
        platform = {}
        for name in PLATFORM_FIELDS:
            value = (self[name].data or "").strip()
            if value:
                try:
                    platform[name] = parse_price(name, value)
                except PriceVersionError as exc:
                    self[name].errors = [*self[name].errors, str(exc)]
                    ok = False
        skills = {}
        for line in (self.skills.data or "").splitlines():
            if not line.strip():
                continue
            skill, sep, value = line.partition("=")
            try:
                if not sep or not skill.strip():
                    raise PriceVersionError(f"write one skill per line as skill_id=price, got {line.strip()!r}")
                skills[skill.strip()] = parse_price(f"skill:{skill.strip()}", value)
            except PriceVersionError as exc:
                self.skills.errors = [*self.skills.errors, str(exc)]
                ok = False
        if ok and not platform and not skills:
            self.tenant_monthly_fee_chf.errors = [*self.tenant_monthly_fee_chf.errors,
                                                  "Set at least one price for the version."]
            ok = False
        return (period, platform, skills) if ok else None


@dataclass
class VersionRow:
    month: str
    changes: dict
    created_by: str | None
    created_at: object
    updated_by: str | None
    editable: bool
    blocked_by: str | None


def versions_context(form: PriceVersionForm | None = None, editing: str | None = None,
                     edit_form: PriceVersionForm | None = None, version_error: str | None = None) -> dict:
    """In force this month (and from where), the scheduled and the past versions."""
    current = Period.of(clock.today())
    in_force = prices_for_month(current)
    scheduled, past = [], []
    for v in all_versions():
        blocker = blocking_invoice(v.effective_month)
        row = VersionRow(month=v.month_key, changes=version_changes(v), created_by=v.created_by,
                         created_at=v.created_at, updated_by=v.updated_by, editable=blocker is None,
                         blocked_by=blocker.number if blocker else None)
        (scheduled if v.effective_month > current.first_day else past).append(row)
    return {
        "current_period": current, "in_force": prices_json(in_force), "in_force_sources": in_force.sources,
        "version_labels": LABELS, "scheduled_versions": scheduled, "past_versions": list(reversed(past)),
        "version_form": form or PriceVersionForm(formdata=None, prefix="version", month=current.next().key),
        "editing_version": editing, "edit_version_form": edit_form, "version_error": version_error,
    }


def _page(status: int = 200, **versions):
    return render_template(PAGE, **{**_context(), **versions_context(**versions)}), status


@bp.post("/versions")
def schedule():
    """Schedule prices from a month on (merged into that month's version when there is one)."""
    form = PriceVersionForm(prefix="version")
    parsed = form.parsed() if form.validate_on_submit() else None
    if parsed is None:
        return _page(422, form=form)
    period, platform, skills = parsed
    try:
        schedule_version(period, platform, skills)
    except PriceVersionError as exc:
        db.session.rollback()
        form.month.errors = [*form.month.errors, str(exc)]
        return _page(422, form=form)
    db.session.commit()
    flash(f"Scheduled prices from {period.first_day:%B %Y}.", "success")
    return redirect(url_for("pricing.index") + "#price-versions")


@bp.get("/versions/<month>/edit")
def edit_version(month: str):
    """The pricing page with one scheduled version open for editing."""
    try:
        version = next(v for v in all_versions() if v.month_key == month)
    except StopIteration:
        return _page(404, version_error=f"No price version is scheduled for {month}.")
    form = PriceVersionForm(formdata=None, prefix="edit-version", month=version.month_key,
                            skills="\n".join(f"{s}={p}" for s, p in sorted((version.skill_prices or {}).items())),
                            **{f: getattr(version, f) for f in PLATFORM_FIELDS if getattr(version, f) is not None})
    return _page(editing=month, edit_form=form)


@bp.post("/versions/<month>")
def update_version(month: str):
    """Replace what a scheduled version sets (refused once its month has an issued invoice)."""
    form = PriceVersionForm(prefix="edit-version")
    form.month.data = month
    parsed = form.parsed() if form.validate_on_submit() else None
    if parsed is None:
        return _page(422, editing=month, edit_form=form)
    _period, platform, skills = parsed
    try:
        replace_version(month, platform, skills)
    except PriceVersionError as exc:
        db.session.rollback()
        return _page(409, editing=month, edit_form=form, version_error=str(exc))
    db.session.commit()
    flash(f"Saved the prices from {month}.", "success")
    return redirect(url_for("pricing.index") + "#price-versions")


@bp.post("/versions/<month>/delete")
def delete_version(month: str):
    """Remove a scheduled version (refused once its month has an issued invoice)."""
    try:
        remove_version(month)
    except PriceVersionError as exc:
        db.session.rollback()
        return _page(409, version_error=str(exc))
    db.session.commit()
    flash(f"Removed the prices from {month}.", "success")
    return redirect(url_for("pricing.index") + "#price-versions")
