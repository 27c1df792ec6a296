"""Forms of the tenant page: package toggles, suspend/resume, billing entity."""

from __future__ import annotations

from collections.abc import Sequence

from flask_wtf import FlaskForm
from wtforms import HiddenField, SelectField, StringField
from wtforms.validators import AnyOf, DataRequired, Length, Regexp

from ..models import BillingEntity
from .services import SKILL_ID_PATTERN


class PackageForm(FlaskForm):
    """Enable or disable one package (skill id) on the tenant's PiecedTenant."""

    skill_id = StringField(
        "Skill id",
        validators=[
            DataRequired(message="Pick or type a skill id."),
            Length(max=120),
            Regexp(SKILL_ID_PATTERN, message="Use lower-case letters, digits, '-' and '.', e.g. searxng-local-search."),
        ],
        filters=[lambda v: v.strip().lower() if isinstance(v, str) else v],
        render_kw={"list": "known-skills", "autocomplete": "off", "spellcheck": "false"},
    )
    action = HiddenField(default="enable", validators=[AnyOf(["enable", "disable"])])


class SuspensionForm(FlaskForm):
    """Suspend (true) or resume (false) the tenant."""

    suspend = HiddenField(validators=[AnyOf(["true", "false"])])


class EntityForm(FlaskForm):
    """Which billing entity bills the tenant ('' follows the org)."""

    # The service checks that the entity exists; the select offers only existing ones.
    entity_id = SelectField("Billed by", choices=[], validate_choice=False,
                            validators=[Regexp(r"^[0-9]*$", message="Choose a billing entity.")])

    def set_choices(self, entities: Sequence[BillingEntity], org_entity: BillingEntity | None) -> EntityForm:
        follow = f"Follow the org ({org_entity.name})" if org_entity else "Follow the org"
        self.entity_id.choices = [("", follow)] + [
            (str(e.id), f"{e.name} ({e.code})") for e in entities
        ]
        return self

    @property
    def chosen(self) -> int | None:
        return int(self.entity_id.data) if self.entity_id.data else None
