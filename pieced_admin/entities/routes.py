"""`/entities`: the billing entities, which orgs and tenants each bills, and their create/edit forms."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from ..extensions import db
from ..orgs.links import link_context
from .forms import EntityForm
from .services import (
    ENTITY_FIELDS,
    EntityInputError,
    create_entity,
    entity_coverage,
    get_entity,
    list_entities,
    update_entity,
)

bp = Blueprint("entities", __name__, url_prefix="/entities")


@bp.context_processor
def _helpers():
    return {**link_context(), "iban_info": iban_info}


def iban_info(iban: str | None) -> dict | None:
    """How an IBAN is printed and which payment reference QR-bills to it carry (None: no usable IBAN)."""
    from ..billing.qr import IbanError, format_iban, is_qr_iban, normalise_iban

    if not iban:
        return None
    try:
        compact = normalise_iban(iban)
    except IbanError as exc:
        return {"formatted": iban, "valid": False, "error": str(exc)}
    qr = is_qr_iban(compact)
    return {"formatted": format_iban(compact), "valid": True, "qr": qr,
            "kind": "QR-IBAN" if qr else "IBAN", "reference": "QRR" if qr else "SCOR",
            "explain": ("QR-IBAN: QR-bills carry a QR reference (QRR)" if qr
                        else "Plain IBAN: QR-bills carry a creditor reference (SCOR, RF…)")}


@bp.get("")
def index():
    """Every billing entity with the orgs and tenants it bills."""
    return render_template("entities/index.html", entities=list_entities(), coverage=entity_coverage())


def _values(form: EntityForm) -> dict:
    return {f: form[f].data for f in ENTITY_FIELDS}


@bp.route("/new", methods=["GET", "POST"])
def new():
    """Create a billing entity."""
    form = EntityForm()
    if form.validate_on_submit():
        try:
            entity = create_entity(_values(form))
        except EntityInputError as exc:
            db.session.rollback()
            form[exc.field].errors.append(str(exc))
        else:
            db.session.commit()
            flash(f"Created {entity.name} ({entity.code}).", "success")
            return redirect(url_for("entities.edit", entity_id=entity.id))
    status = 422 if request.method == "POST" else 200
    return render_template("entities/form.html", form=form, entity=None, coverage=None), status


@bp.route("/<int:entity_id>", methods=["GET", "POST"])
def edit(entity_id: int):
    """An entity's details (GET) and saving them (POST, platform admins)."""
    entity = get_entity(entity_id) or abort(404, description="No billing entity has this id.")
    form = EntityForm(obj=entity)
    if request.method == "GET" and entity.iban:
        from ..billing.qr import format_iban

        form.iban.data = format_iban(entity.iban)  # in groups of four, as printed
    if form.validate_on_submit():
        try:
            changed = update_entity(entity, _values(form))
        except EntityInputError as exc:
            db.session.rollback()
            form[exc.field].errors.append(str(exc))
            entity = get_entity(entity_id)
        else:
            db.session.commit()
            flash(f"Saved {entity.name}. Invoices issued from now on use it; issued invoices keep theirs."
                  if changed else "Nothing changed.", "success" if changed else "info")
            return redirect(url_for("entities.edit", entity_id=entity.id))
    status = 422 if request.method == "POST" else 200
    coverage = entity_coverage([entity.id]).get(entity.id)
    return render_template("entities/form.html", form=form, entity=entity, coverage=coverage), status


@bp.get("/iban-kind")
def iban_kind():
    """Whether a typed IBAN is a QR-IBAN (QRR references) or a plain one (SCOR): the hint under the field."""
    return render_template("entities/_iban_kind.html", info=iban_info((request.args.get("iban") or "").strip()))
