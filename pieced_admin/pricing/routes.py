"""`/pricing`: the platform prices and the per-skill daily prices.

Platform admins edit; finance reads the same page without forms (the access
rules refuse their POSTs whatever the page shows).
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for

from ..extensions import db
from ..web.htmx import is_htmx, render_page_or_partial
from ..web.messages import as_sentence
from .forms import PricingForm, SkillPriceEditForm, SkillPriceForm
from .services import (
    PRICING_FIELDS,
    PRICING_LABELS,
    PricingError,
    get_pricing,
    known_skill_ids,
    recent_pricing_changes,
    remove_skill_price,
    set_skill_price,
    skill_price_rows,
    update_pricing,
)

bp = Blueprint("pricing", __name__, url_prefix="/pricing")


@bp.context_processor
def _formatters():
    from ..billing.money import fmt_price

    return {"fmt_price": fmt_price}

PAGE = "pricing/index.html"
SKILLS = "pricing/_skill_prices.html"


def _context(form: PricingForm | None = None, **skills) -> dict:
    from .versions import versions_context

    pricing = get_pricing()
    return {
        **versions_context(),
        "pricing": pricing,
        "form": form or PricingForm(obj=pricing, formdata=None),
        "labels": PRICING_LABELS,
        "changes": recent_pricing_changes(),
        **_skill_context(**skills),
    }


def _skill_context(add_form=None, edit_form=None, editing: str | None = None, skill_error: str | None = None,
                   oob_changes: bool = False) -> dict:
    ctx = {
        "skills": skill_price_rows(),
        "known_skills": known_skill_ids(),
        "add_form": add_form or SkillPriceForm(prefix="new", formdata=None),
        "edit_form": edit_form,
        "editing": editing,
        "skill_error": skill_error,
        "oob_changes": oob_changes,
    }
    if oob_changes:
        ctx["changes"] = recent_pricing_changes()
    return ctx


def _skills_response(status: int = 200, **skills):
    """The skill table for htmx (with the refreshed Recent changes), else the whole page."""
    if is_htmx():
        return render_template(SKILLS, **_skill_context(oob_changes=True, **skills)), status
    return render_template(PAGE, **_context(**skills)), status


@bp.route("", methods=["GET", "POST"])
def index():
    """The pricing editor (GET) and saving the platform prices (POST, platform admins)."""
    form = PricingForm(obj=get_pricing()) if request.method == "POST" else None
    if form is not None:
        if not form.validate_on_submit():
            return render_template(PAGE, **_context(form)), 422
        try:
            changed = update_pricing({f: form[f].data for f in PRICING_FIELDS})
        except PricingError as exc:
            db.session.rollback()
            flash(as_sentence(exc), "error")
            return render_template(PAGE, **_context(PricingForm(formdata=request.form))), 409
        db.session.commit()
        if changed:
            flash("Saved " + ", ".join(PRICING_LABELS[f] for f in changed)
                  + ". The new prices apply to invoices issued from now on.", "success")
        else:
            flash("Nothing changed.", "info")
        return redirect(url_for("pricing.index"))
    return render_template(PAGE, **_context())


@bp.post("/skills")
def add_skill():
    """Add a skill's daily price."""
    form = SkillPriceForm(prefix="new")
    if not form.validate_on_submit():
        return _skills_response(200 if is_htmx() else 422, add_form=form)
    try:
        set_skill_price(form.skill_id.data, form.daily_price_chf.data, create=True,
                        display_name=form.display_name.data)
    except PricingError as exc:
        form.skill_id.errors.append(str(exc))
        db.session.rollback()
        return _skills_response(200 if is_htmx() else 422, add_form=form)
    db.session.commit()
    if not is_htmx():
        flash(f"Added the price of {form.skill_id.data}.", "success")
        return redirect(url_for("pricing.index") + "#skill-prices")
    return _skills_response()


@bp.get("/skills/<skill_id>/edit")
def edit_skill(skill_id: str):
    """The skill table with one row open for editing."""
    row = next((s for s in skill_price_rows() if s.skill_id == skill_id), None)
    if row is None:
        return render_page_or_partial(PAGE, SKILLS, **_context(skill_error=f"{skill_id} has no price."))
    form = SkillPriceEditForm(prefix="edit", formdata=None, obj=row)
    return render_page_or_partial(PAGE, SKILLS, **_context(edit_form=form, editing=skill_id))


@bp.post("/skills/<skill_id>")
def update_skill(skill_id: str):
    """Save a skill's new daily price."""
    form = SkillPriceEditForm(prefix="edit")
    if not form.validate_on_submit():
        return _skills_response(200 if is_htmx() else 422, edit_form=form, editing=skill_id)
    try:
        set_skill_price(skill_id, form.daily_price_chf.data, create=False, display_name=form.display_name.data)
    except PricingError as exc:
        db.session.rollback()
        return _skills_response(200 if is_htmx() else 409, skill_error=str(exc))
    db.session.commit()
    if not is_htmx():
        flash(f"Saved the price of {skill_id}.", "success")
        return redirect(url_for("pricing.index") + "#skill-prices")
    return _skills_response()


@bp.post("/skills/<skill_id>/delete")
def remove_skill(skill_id: str):
    """Remove a skill's price (invoices issued afterwards no longer bill it)."""
    try:
        remove_skill_price(skill_id)
    except PricingError as exc:
        db.session.rollback()
        return _skills_response(200 if is_htmx() else 409, skill_error=str(exc))
    db.session.commit()
    if not is_htmx():
        flash(f"Removed the price of {skill_id}.", "success")
        return redirect(url_for("pricing.index") + "#skill-prices")
    return _skills_response()


from . import versions  # noqa: E402,F401  (registers /pricing/versions on this blueprint)
