"""The live schema carries exactly SPEC §2's names, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import sqlalchemy as sa

from pieced_admin.extensions import db
from pieced_admin.models import AuditLog, TenantLifecycle
from pieced_admin.orgs.services import get_org_config

# SPEC §2, copied table by table: these names are a contract with other systems.
SPEC_SCHEMA = {
    "platform_pricing": {"id", "tenant_monthly_fee_chf", "tenant_setup_fee_chf", "threema_message_chf",
                         "llm_usd_to_chf", "llm_markup_pct", "vat_rate_chli", "payment_terms_days"},
    "skill_pricing": {"skill_id", "daily_price_chf"},
    "billing_entities": {"id", "code", "name", "invoice_prefix", "country", "vat_number", "iban", "currency",
                         "is_default", "street", "building_number", "postal_code", "city"},
    "tenant_billing_lifecycle": {"tenant_name", "zitadel_org_id", "created_at", "deleted_at", "billing_entity_id"},
    "tenant_skill_events": {"id", "tenant_name", "skill_id", "event_kind", "occurred_at", "source"},
    "tenant_suspension_events": {"id", "tenant_name", "event_kind", "occurred_at", "source"},
    "tenant_usage": {"id", "tenant_name", "metric", "quantity", "occurred_at", "external_id"},
    "org_billing_config": {"zitadel_org_id", "display_name", "billing_email", "country", "vat_number", "street",
                           "building_number", "postal_code", "city", "pay_by_invoice", "auto_invoice_enabled",
                           "auto_reminders_enabled", "billing_entity_id", "payment_terms_days", "language",
                           "stripe_customer_id"},
    "org_payment_methods": set(),
    "invoice_number_counters": {"billing_entity_id", "year", "last_number"},
    "invoices": {"id", "number", "zitadel_org_id", "billing_entity_id", "period_start", "period_end", "status",
                 "issued_at", "due_date", "currency", "net_chf", "vat_rate", "vat_chf", "total_chf", "paid_at",
                 "payment_reference", "stripe_payment_intent_id", "pdf_sha256", "voided_at", "void_reason"},
    "invoice_lines": {"id", "invoice_id", "tenant_name", "kind", "skill_id", "description", "quantity",
                      "unit_price_chf", "amount_chf", "position"},
    "invoice_reminders": {"id", "invoice_id", "level", "sent_at", "sent_to"},
    "audit_log": set(),
}
AMOUNT_COLUMNS = {
    "platform_pricing": ["tenant_monthly_fee_chf", "tenant_setup_fee_chf"],
    "invoices": ["net_chf", "vat_chf", "total_chf"],
    "invoice_lines": ["amount_chf"],
}
UNIT_PRICE_COLUMNS = {
    "platform_pricing": ["threema_message_chf", "llm_usd_to_chf"],
    "skill_pricing": ["daily_price_chf"],
    "invoice_lines": ["unit_price_chf"],
}
SPEC_UNIQUE = {
    "billing_entities": [("code",)],
    "tenant_billing_lifecycle": [("tenant_name",)],
    "tenant_usage": [("metric", "external_id")],
    "org_billing_config": [("zitadel_org_id",)],
    "invoice_number_counters": [("billing_entity_id", "year")],
    "invoices": [("number",)],
}


@pytest.fixture
def inspector(app):
    return sa.inspect(db.session.connection())


def test_every_spec_table_and_column_exists(inspector):
    tables = set(inspector.get_table_names())
    missing_tables = set(SPEC_SCHEMA) - tables
    assert not missing_tables
    for table, columns in SPEC_SCHEMA.items():
        present = {c["name"] for c in inspector.get_columns(table)}
        assert columns <= present, f"{table} lacks {columns - present}"


def test_money_columns_are_numeric_with_spec_precision(inspector):
    for spec, (precision, scale) in ((AMOUNT_COLUMNS, (10, 2)), (UNIT_PRICE_COLUMNS, (10, 5))):
        for table, names in spec.items():
            cols = {c["name"]: c["type"] for c in inspector.get_columns(table)}
            for name in names:
                assert isinstance(cols[name], sa.Numeric), (table, name, cols[name])
                assert (cols[name].precision, cols[name].scale) == (precision, scale), (table, name)


def test_spec_unique_constraints_exist(inspector):
    for table, groups in SPEC_UNIQUE.items():
        uniques = {tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)}
        uniques |= {tuple(i["column_names"]) for i in inspector.get_indexes(table) if i["unique"]}
        pk = inspector.get_pk_constraint(table)["constrained_columns"]
        uniques.add(tuple(pk))
        for group in groups:
            assert group in uniques, f"{table}: no unique constraint on {group}"


def test_billing_queries_have_indexes(inspector):
    def indexed(table):
        return {tuple(i["column_names"]) for i in inspector.get_indexes(table)}

    assert ("tenant_name", "occurred_at") in indexed("tenant_skill_events")
    assert ("tenant_name", "occurred_at") in indexed("tenant_suspension_events")
    assert ("zitadel_org_id", "period_start") in indexed("invoices")
    assert ("status", "due_date") in indexed("invoices")


def test_foreign_keys_link_the_tables(inspector):
    fks = {(fk["referred_table"], tuple(fk["constrained_columns"])) for fk in inspector.get_foreign_keys("invoice_lines")}
    assert ("invoices", ("invoice_id",)) in fks
    fks = {fk["referred_table"] for fk in inspector.get_foreign_keys("invoices")}
    assert {"billing_entities", "org_billing_config"} <= fks


def test_seeds_pricing_row_and_default_entity(session):
    row = session.execute(sa.text("SELECT * FROM platform_pricing")).mappings().all()
    assert len(row) == 1
    row = row[0]
    assert row["id"] == 1
    assert Decimal(str(row["tenant_monthly_fee_chf"])) == 0
    assert Decimal(str(row["tenant_setup_fee_chf"])) == 0
    assert Decimal(str(row["threema_message_chf"])) == 0
    assert Decimal(str(row["vat_rate_chli"])) == Decimal("8.10")
    assert Decimal(str(row["llm_usd_to_chf"])) == 1
    assert Decimal(str(row["llm_markup_pct"])) == 0
    assert row["payment_terms_days"] == 30
    defaults = session.execute(sa.text("SELECT code FROM billing_entities WHERE is_default")).all()
    assert len(defaults) == 1


def test_rows_written_by_plain_sql_get_database_defaults(session):
    """Another service inserting only SPEC's required columns gets a valid row."""
    session.execute(sa.text("INSERT INTO org_billing_config (zitadel_org_id) VALUES ('org-plain')"))
    row = session.execute(sa.text(
        "SELECT country, pay_by_invoice, auto_invoice_enabled, auto_reminders_enabled, language, payment_terms_days "
        "FROM org_billing_config WHERE zitadel_org_id = 'org-plain'")).one()
    assert row.country == "CH"
    assert bool(row.pay_by_invoice) is True
    assert bool(row.auto_invoice_enabled) is False
    assert bool(row.auto_reminders_enabled) is False
    assert row.language == "en"
    assert row.payment_terms_days is None  # platform default applies
    session.execute(sa.text(
        "INSERT INTO tenant_billing_lifecycle (tenant_name, zitadel_org_id, created_at) "
        "VALUES ('plain-tenant', 'org-plain', CURRENT_TIMESTAMP)"))
    session.execute(sa.text(
        "INSERT INTO tenant_skill_events (tenant_name, skill_id, event_kind, occurred_at) "
        "VALUES ('plain-tenant', 'web-browser', 'enabled', CURRENT_TIMESTAMP)"))
    source = session.execute(sa.text("SELECT source FROM tenant_skill_events WHERE tenant_name='plain-tenant'")).scalar()
    assert source == "app"


def test_timestamps_read_back_aware_in_utc(session):
    zurich = timezone(timedelta(hours=2))
    written = datetime(2026, 10, 10, 9, 0, tzinfo=zurich)
    session.add(TenantLifecycle(tenant_name="tz-tenant", zitadel_org_id="org-tz", created_at=written))
    session.flush()
    session.expire_all()
    back = session.execute(sa.select(TenantLifecycle).filter_by(tenant_name="tz-tenant")).scalar_one()
    assert back.created_at.tzinfo is not None
    assert back.created_at.utcoffset() == timedelta(0)
    assert back.created_at == written  # same instant
    assert back.created_at.hour == 7


def test_naive_timestamps_are_refused(session):
    session.add(TenantLifecycle(tenant_name="naive", zitadel_org_id="org-x", created_at=datetime(2026, 1, 1)))
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        session.flush()
    session.rollback()


def test_server_default_timestamps_are_aware(session):
    session.add(AuditLog(actor="test", action="x", object_type="y"))
    session.flush()
    session.expire_all()
    entry = session.execute(sa.select(AuditLog).filter_by(actor="test")).scalar_one()
    assert entry.occurred_at.tzinfo is not None


def test_org_config_is_created_with_defaults_on_first_read(session):
    config = get_org_config("org-new")
    assert config.id is not None
    assert config.country == "CH"
    assert config.pay_by_invoice is True
    assert config.language == "en"
    assert get_org_config("org-new").id == config.id


def test_db_upgrade_on_a_migrated_database_is_a_no_op(fresh_db):
    from flask_migrate import upgrade

    with fresh_db.app.app_context():
        before = _schema_fingerprint()
        upgrade()
        assert _schema_fingerprint() == before
        version = db.session.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
        assert version == _head_revision()
        db.session.remove()


def test_models_match_the_migration(fresh_db):
    """Nothing in the models is missing from the migrations (autogenerate finds no difference)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with fresh_db.app.app_context():
        with db.engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": False, "render_as_batch": True})
            diff = compare_metadata(ctx, db.metadata)
    assert diff == []


def _schema_fingerprint():
    insp = sa.inspect(db.engine)
    return {t: sorted(c["name"] for c in insp.get_columns(t)) for t in insp.get_table_names()}


def _head_revision() -> str:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(_alembic_config())
    heads = script.get_heads()
    assert len(heads) == 1, f"migrations have several heads: {heads}"
    return heads[0]


def _alembic_config():
    from alembic.config import Config

    from pieced_admin.config import PROJECT_ROOT

    cfg = Config()
    cfg.set_main_option("script_location", str(PROJECT_ROOT / "migrations"))
    return cfg
