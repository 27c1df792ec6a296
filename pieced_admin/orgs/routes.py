"""`/orgs`: the org list, an org's billing config, and generating its invoice for a month."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from .. import clock
from ..auth.access import roles
from ..auth.oidc import ROLE_ADMIN, ROLE_FINANCE
from ..billing.collection import collect_after_issue
from ..billing.issuing import BillingInputError, issue_invoices, local_today, preview_invoices
from ..billing.monthly import email_issued_invoices
from ..extensions import db
from ..integrations.litellm import LiteLLMError
from ..web.htmx import is_htmx, render_page_or_partial
from .forms import MonthForm, OrgConfigForm
from .links import link_context
from .services import (
    ORG_CONFIG_FIELDS,
    OrgListFilters,
    OrgNotFoundError,
    list_orgs,
    org_page,
    update_org_config,
)

bp = Blueprint("orgs", __name__, url_prefix="/orgs")

DETAIL = "orgs/detail.html"
PREVIEW = "orgs/_invoice_preview.html"


@bp.context_processor
def _helpers():
    from ..billing.money import fmt_price, fmt_quantity

    return {**link_context(), "fmt_price": fmt_price, "fmt_quantity": fmt_quantity}


@bp.get("")
def index():
    """The org list: search, filters, open balances, pages."""
    filters = OrgListFilters.from_args(request.args)
    listing = list_orgs(filters)
    if request.headers.get("HX-History-Restore-Request") == "true":
        return render_template("orgs/index.html", listing=listing, filters=filters)  # a whole page, from history
    return render_page_or_partial("orgs/index.html", "orgs/_org_list.html", listing=listing, filters=filters)


def _load(org_id: str):
    try:
        return org_page(org_id)
    except OrgNotFoundError as exc:
        abort(404, description=str(exc))


def _config_form(page, formdata=None) -> OrgConfigForm:
    form = OrgConfigForm(formdata=formdata, obj=page.config)
    form.set_entities(page.entities, page.default_entity)
    return form


def _preview_context(page, month_form: MonthForm | None = None, **extra) -> dict:
    today = local_today()
    if month_form is None:
        month_form = MonthForm(formdata=None, data={"month": _last_month(today)})
    return {"month_form": month_form, "today": today, "org": page.config,
            "entity_names": {e.id: e.name for e in page.entities}, **extra}


def _last_month(today) -> str:
    from ..billing.days import Period

    return Period.of(today).previous().key


def _render_detail(page, form=None, status=200, **preview):
    return render_template(
        DETAIL, page=page, form=form or _config_form(page), **_preview_context(page, **preview),
    ), status


@bp.route("/<org_id>", methods=["GET", "POST"])
def detail(org_id: str):
    """An org's page (GET) and saving its billing config (POST, platform admins)."""
    page = _load(org_id)
    if request.method == "GET":
        return _render_detail(page)
    form = _config_form(page, formdata=request.form)
    if not form.validate_on_submit():
        return _render_detail(page, form, 422)
    try:
        changed = update_org_config(org_id, {f: form[f].data for f in ORG_CONFIG_FIELDS})
    except ValueError as exc:
        db.session.rollback()
        form.billing_entity_id.errors.append(str(exc))
        return _render_detail(_load(org_id), form, 422)
    db.session.commit()
    if changed:
        flash(f"Saved the billing config of {page.config.name}. It applies to invoices issued from now on.",
              "success")
    else:
        flash("Nothing changed.", "info")
    return redirect(url_for("orgs.detail", org_id=org_id))


@bp.get("/<org_id>/preview")
def preview(org_id: str):
    """The exact invoices of a month, computed and not saved (the Generate invoice panel)."""
    page = _load(org_id)
    form = MonthForm(formdata=request.args, today=local_today())
    ctx: dict = {}
    if form.validate():
        try:
            # A month not over yet is billed to now, as the tenant page shows it.
            until = None if form.period.last_day < local_today() else clock.now()
            ctx["items"] = preview_invoices(org_id, form.period, until=until)
            ctx["until"] = until
        except LookupError as exc:  # no billing entity at all
            ctx["error"] = str(exc)
        ctx["period"] = form.period
        ctx["month_over"] = form.period.last_day < local_today()
    # A preview writes nothing: whatever was read into the session is dropped with the request.
    if is_htmx():
        return render_template(PREVIEW, **_preview_context(page, form, **ctx))
    return _render_detail(page, **{"month_form": form, **ctx})


@bp.post("/<org_id>/issue")
@roles(ROLE_ADMIN, ROLE_FINANCE)
def issue(org_id: str):
    """Issue the org's invoices for a month (once: issuing again shows the invoices issued before)."""
    page = _load(org_id)
    form = MonthForm(formdata=request.form, today=local_today(), must_be_over=True)
    ctx: dict = {}
    if form.validate():
        ctx["period"] = form.period
        try:
            result = issue_invoices(org_id, form.period)
        except LiteLLMError as exc:
            db.session.rollback()
            ctx["error"] = (f"LiteLLM could not give the LLM usage, so nothing was issued: {exc}. "
                            "Try again once LiteLLM answers.")
            page = _load(org_id)  # what the rollback expired (a config first read here is gone)
        except (BillingInputError, LookupError) as exc:
            db.session.rollback()
            ctx["error"] = f"Nothing was issued: {exc}"
            page = _load(org_id)
        else:
            db.session.commit()
            ctx["result"] = result
            ctx["notes"] = collect_after_issue(result.issued)
            if request.form.get("email"):
                ctx["emails"] = email_issued_invoices(result.issued)
            page = _load(org_id)  # the invoices list now holds the new ones
    if is_htmx():
        return render_template(PREVIEW, page=page, oob_invoices="result" in ctx, **_preview_context(page, form, **ctx))
    return _render_detail(page, status=200 if "result" in ctx else 422, **{"month_form": form, **ctx})
