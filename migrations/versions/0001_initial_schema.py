"""Initial schema: every table of SPEC §2, the immutability triggers (PostgreSQL), and the seeds

Revision ID: 0001
Revises: 
Create Date: 2026-11-21 12:57:24.676295

"""
from alembic import op
import sqlalchemy as sa


GUARD_SQL = r"""
CREATE OR REPLACE FUNCTION pieced_guard_invoice() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    RAISE EXCEPTION 'invoice % is issued and cannot be deleted', OLD.number
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.number IS DISTINCT FROM OLD.number
     OR NEW.zitadel_org_id IS DISTINCT FROM OLD.zitadel_org_id
     OR NEW.billing_entity_id IS DISTINCT FROM OLD.billing_entity_id
     OR NEW.period_start IS DISTINCT FROM OLD.period_start
     OR NEW.period_end IS DISTINCT FROM OLD.period_end
     OR NEW.issued_at IS DISTINCT FROM OLD.issued_at
     OR NEW.due_date IS DISTINCT FROM OLD.due_date
     OR NEW.currency IS DISTINCT FROM OLD.currency
     OR NEW.net_chf IS DISTINCT FROM OLD.net_chf
     OR NEW.vat_rate IS DISTINCT FROM OLD.vat_rate
     OR NEW.vat_chf IS DISTINCT FROM OLD.vat_chf
     OR NEW.total_chf IS DISTINCT FROM OLD.total_chf
     OR NEW.vat_note IS DISTINCT FROM OLD.vat_note
     OR NEW.language IS DISTINCT FROM OLD.language
     OR NEW.payment_terms_days IS DISTINCT FROM OLD.payment_terms_days
     OR NEW.issued_by IS DISTINCT FROM OLD.issued_by
     OR NEW.customer_snapshot::text IS DISTINCT FROM OLD.customer_snapshot::text
     OR NEW.entity_snapshot::text IS DISTINCT FROM OLD.entity_snapshot::text
     OR (OLD.pdf_sha256 IS NOT NULL AND NEW.pdf_sha256 IS DISTINCT FROM OLD.pdf_sha256)
  THEN
    RAISE EXCEPTION 'invoice % is issued: its number, org, entity, period, amounts, currency, dates and PDF cannot change', OLD.number
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status
     AND NOT (OLD.status = 'issued' AND NEW.status IN ('paid', 'void')) THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.number, OLD.status, NEW.status
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION pieced_guard_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION '% rows are never changed or deleted (%)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER invoices_immutable BEFORE UPDATE OR DELETE ON invoices
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_invoice();
CREATE TRIGGER invoice_lines_immutable BEFORE UPDATE OR DELETE ON invoice_lines
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
CREATE TRIGGER invoice_documents_immutable BEFORE UPDATE OR DELETE ON invoice_documents
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
CREATE TRIGGER tenant_skill_events_append_only BEFORE UPDATE OR DELETE ON tenant_skill_events
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
CREATE TRIGGER tenant_suspension_events_append_only BEFORE UPDATE OR DELETE ON tenant_suspension_events
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
CREATE TRIGGER tenant_usage_append_only BEFORE UPDATE OR DELETE ON tenant_usage
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
"""

GUARD_DROP_SQL = r"""
DROP TRIGGER IF EXISTS tenant_usage_append_only ON tenant_usage;
DROP TRIGGER IF EXISTS tenant_suspension_events_append_only ON tenant_suspension_events;
DROP TRIGGER IF EXISTS tenant_skill_events_append_only ON tenant_skill_events;
DROP TRIGGER IF EXISTS invoice_documents_immutable ON invoice_documents;
DROP TRIGGER IF EXISTS invoice_lines_immutable ON invoice_lines;
DROP TRIGGER IF EXISTS invoices_immutable ON invoices;
DROP FUNCTION IF EXISTS pieced_guard_append_only();
DROP FUNCTION IF EXISTS pieced_guard_invoice();
"""


# revision identifiers, used by Alembic.
revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('billing_entities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('invoice_prefix', sa.String(length=20), nullable=False),
    sa.Column('country', sa.String(length=2), server_default='CH', nullable=False),
    sa.Column('vat_number', sa.String(length=40), nullable=True),
    sa.Column('iban', sa.String(length=34), nullable=True),
    sa.Column('currency', sa.String(length=3), server_default='CHF', nullable=False),
    sa.Column('is_default', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('street', sa.String(length=70), nullable=True),
    sa.Column('building_number', sa.String(length=16), nullable=True),
    sa.Column('postal_code', sa.String(length=16), nullable=True),
    sa.Column('city', sa.String(length=35), nullable=True),
    sa.Column('email', sa.String(length=200), nullable=True),
    sa.Column('website', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_entities')),
    sa.UniqueConstraint('code', name=op.f('uq_billing_entities_code')),
    sa.UniqueConstraint('invoice_prefix', name=op.f('uq_billing_entities_invoice_prefix'))
    )
    with op.batch_alter_table('billing_entities', schema=None) as batch_op:
        batch_op.create_index('uq_billing_entities_one_default', ['is_default'], unique=True, postgresql_where=sa.text('is_default'), sqlite_where=sa.text('is_default'))

    op.create_table('billing_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('period', sa.String(length=7), nullable=False),
    sa.Column('shard', sa.String(length=20), nullable=True),
    sa.Column('dry_run', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('status', sa.String(length=20), server_default='running', nullable=False),
    sa.Column('started_by', sa.String(length=254), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('orgs_total', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('orgs_done', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('orgs_failed', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('invoices_issued', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('summary', sa.JSON(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_billing_runs'))
    )
    with op.batch_alter_table('billing_runs', schema=None) as batch_op:
        batch_op.create_index('ix_billing_runs_started_at', ['started_at'], unique=False)

    op.create_table('platform_pricing',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('tenant_monthly_fee_chf', sa.Numeric(precision=10, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('tenant_setup_fee_chf', sa.Numeric(precision=10, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('threema_message_chf', sa.Numeric(precision=10, scale=5), server_default=sa.text('0'), nullable=False),
    sa.Column('llm_usd_to_chf', sa.Numeric(precision=10, scale=5), server_default=sa.text('1'), nullable=False),
    sa.Column('llm_markup_pct', sa.Numeric(precision=5, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('vat_rate_chli', sa.Numeric(precision=5, scale=2), server_default=sa.text('8.10'), nullable=False),
    sa.Column('payment_terms_days', sa.Integer(), server_default=sa.text('30'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.CheckConstraint('id = 1', name=op.f('ck_platform_pricing_single_row')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_platform_pricing'))
    )
    op.create_table('skill_pricing',
    sa.Column('skill_id', sa.String(length=120), nullable=False),
    sa.Column('daily_price_chf', sa.Numeric(precision=10, scale=5), server_default=sa.text('0'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.PrimaryKeyConstraint('skill_id', name=op.f('pk_skill_pricing'))
    )
    op.create_table('stripe_events',
    sa.Column('id', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=100), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('processed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=300), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_stripe_events'))
    )
    op.create_table('users',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sub', sa.String(length=255), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('roles', sa.JSON(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_users')),
    sa.UniqueConstraint('sub', name=op.f('uq_users_sub'))
    )
    op.create_table('audit_log',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('actor', sa.String(length=254), nullable=False),
    sa.Column('action', sa.String(length=80), nullable=False),
    sa.Column('object_type', sa.String(length=60), nullable=False),
    sa.Column('object_id', sa.String(length=200), nullable=True),
    sa.Column('before', sa.JSON(), nullable=True),
    sa.Column('after', sa.JSON(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_audit_log_user_id_users')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log'))
    )
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.create_index('ix_audit_log_object', ['object_type', 'object_id', 'occurred_at'], unique=False)
        batch_op.create_index('ix_audit_log_occurred_at', ['occurred_at'], unique=False)

    op.create_table('invoice_number_counters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('billing_entity_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['billing_entity_id'], ['billing_entities.id'], name=op.f('fk_invoice_number_counters_billing_entity_id_billing_entities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_number_counters')),
    sa.UniqueConstraint('billing_entity_id', 'year', name=op.f('uq_invoice_number_counters_billing_entity_id_year'))
    )
    op.create_table('org_billing_config',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('zitadel_org_id', sa.String(length=100), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=True),
    sa.Column('billing_email', sa.String(length=254), nullable=True),
    sa.Column('country', sa.String(length=2), server_default='CH', nullable=False),
    sa.Column('vat_number', sa.String(length=40), nullable=True),
    sa.Column('street', sa.String(length=70), nullable=True),
    sa.Column('building_number', sa.String(length=16), nullable=True),
    sa.Column('postal_code', sa.String(length=16), nullable=True),
    sa.Column('city', sa.String(length=35), nullable=True),
    sa.Column('pay_by_invoice', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('auto_invoice_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('auto_reminders_enabled', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('billing_entity_id', sa.Integer(), nullable=True),
    sa.Column('payment_terms_days', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=2), server_default='en', nullable=False),
    sa.Column('stripe_customer_id', sa.String(length=100), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.CheckConstraint("language IN ('en', 'de')", name=op.f('ck_org_billing_config_language')),
    sa.ForeignKeyConstraint(['billing_entity_id'], ['billing_entities.id'], name=op.f('fk_org_billing_config_billing_entity_id_billing_entities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_billing_config')),
    sa.UniqueConstraint('stripe_customer_id', name=op.f('uq_org_billing_config_stripe_customer_id')),
    sa.UniqueConstraint('zitadel_org_id', name=op.f('uq_org_billing_config_zitadel_org_id'))
    )
    op.create_table('tenant_billing_lifecycle',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_name', sa.String(length=253), nullable=False),
    sa.Column('zitadel_org_id', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('billing_entity_id', sa.Integer(), nullable=True),
    sa.Column('namespace', sa.String(length=253), nullable=True),
    sa.Column('litellm_team_id', sa.String(length=253), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['billing_entity_id'], ['billing_entities.id'], name=op.f('fk_tenant_billing_lifecycle_billing_entity_id_billing_entities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_billing_lifecycle')),
    sa.UniqueConstraint('tenant_name', name=op.f('uq_tenant_billing_lifecycle_tenant_name'))
    )
    with op.batch_alter_table('tenant_billing_lifecycle', schema=None) as batch_op:
        batch_op.create_index('ix_tenant_billing_lifecycle_org', ['zitadel_org_id', 'created_at'], unique=False)

    op.create_table('invoices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('zitadel_org_id', sa.String(length=100), nullable=False),
    sa.Column('billing_entity_id', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('status', sa.String(length=16), server_default='issued', nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='CHF', nullable=False),
    sa.Column('net_chf', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=5, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('vat_chf', sa.Numeric(precision=10, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('total_chf', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('paid_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('payment_reference', sa.String(length=200), nullable=True),
    sa.Column('stripe_payment_intent_id', sa.String(length=100), nullable=True),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('voided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('void_reason', sa.Text(), nullable=True),
    sa.Column('payment_method', sa.String(length=20), nullable=True),
    sa.Column('paid_by', sa.String(length=254), nullable=True),
    sa.Column('voided_by', sa.String(length=254), nullable=True),
    sa.Column('issued_by', sa.String(length=254), nullable=True),
    sa.Column('vat_note', sa.String(length=200), nullable=True),
    sa.Column('payment_terms_days', sa.Integer(), nullable=True),
    sa.Column('language', sa.String(length=2), server_default='en', nullable=False),
    sa.Column('customer_snapshot', sa.JSON(), nullable=True),
    sa.Column('entity_snapshot', sa.JSON(), nullable=True),
    sa.Column('charge_status', sa.String(length=40), nullable=True),
    sa.Column('charge_message', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('issued', 'paid', 'void')", name=op.f('ck_invoices_status')),
    sa.ForeignKeyConstraint(['billing_entity_id'], ['billing_entities.id'], name=op.f('fk_invoices_billing_entity_id_billing_entities')),
    sa.ForeignKeyConstraint(['zitadel_org_id'], ['org_billing_config.zitadel_org_id'], name=op.f('fk_invoices_zitadel_org_id_org_billing_config')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoices')),
    sa.UniqueConstraint('number', name=op.f('uq_invoices_number')),
    sa.UniqueConstraint('stripe_payment_intent_id', name=op.f('uq_invoices_stripe_payment_intent_id'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index('ix_invoices_entity_issued', ['billing_entity_id', 'issued_at'], unique=False)
        batch_op.create_index('ix_invoices_issued_at', ['issued_at'], unique=False)
        batch_op.create_index('ix_invoices_org_period', ['zitadel_org_id', 'period_start'], unique=False)
        batch_op.create_index('ix_invoices_status_due', ['status', 'due_date'], unique=False)
        batch_op.create_index('uq_invoices_org_entity_period_live', ['zitadel_org_id', 'billing_entity_id', 'period_start'], unique=True, postgresql_where=sa.text("status <> 'void'"), sqlite_where=sa.text("status <> 'void'"))

    op.create_table('org_payment_methods',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('zitadel_org_id', sa.String(length=100), nullable=False),
    sa.Column('stripe_payment_method_id', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=40), server_default='card', nullable=False),
    sa.Column('brand', sa.String(length=40), nullable=True),
    sa.Column('last4', sa.String(length=4), nullable=True),
    sa.Column('exp_month', sa.Integer(), nullable=True),
    sa.Column('exp_year', sa.Integer(), nullable=True),
    sa.Column('is_default', sa.Boolean(), server_default=sa.false(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['zitadel_org_id'], ['org_billing_config.zitadel_org_id'], name=op.f('fk_org_payment_methods_zitadel_org_id_org_billing_config')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_org_payment_methods')),
    sa.UniqueConstraint('stripe_payment_method_id', name=op.f('uq_org_payment_methods_stripe_payment_method_id'))
    )
    with op.batch_alter_table('org_payment_methods', schema=None) as batch_op:
        batch_op.create_index('ix_org_payment_methods_org', ['zitadel_org_id'], unique=False)

    op.create_table('tenant_skill_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_name', sa.String(length=253), nullable=False),
    sa.Column('skill_id', sa.String(length=120), nullable=False),
    sa.Column('event_kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), server_default='app', nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.CheckConstraint("event_kind IN ('enabled', 'disabled')", name=op.f('ck_tenant_skill_events_event_kind')),
    sa.ForeignKeyConstraint(['tenant_name'], ['tenant_billing_lifecycle.tenant_name'], name=op.f('fk_tenant_skill_events_tenant_name_tenant_billing_lifecycle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_skill_events'))
    )
    with op.batch_alter_table('tenant_skill_events', schema=None) as batch_op:
        batch_op.create_index('ix_tenant_skill_events_tenant_time', ['tenant_name', 'occurred_at'], unique=False)

    op.create_table('tenant_suspension_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_name', sa.String(length=253), nullable=False),
    sa.Column('event_kind', sa.String(length=16), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('source', sa.String(length=32), server_default='app', nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.CheckConstraint("event_kind IN ('suspended', 'resumed')", name=op.f('ck_tenant_suspension_events_event_kind')),
    sa.ForeignKeyConstraint(['tenant_name'], ['tenant_billing_lifecycle.tenant_name'], name=op.f('fk_tenant_suspension_events_tenant_name_tenant_billing_lifecycle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_suspension_events'))
    )
    with op.batch_alter_table('tenant_suspension_events', schema=None) as batch_op:
        batch_op.create_index('ix_tenant_suspension_events_tenant_time', ['tenant_name', 'occurred_at'], unique=False)

    op.create_table('tenant_usage',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('tenant_name', sa.String(length=253), nullable=False),
    sa.Column('metric', sa.String(length=40), server_default='threema_messages', nullable=False),
    sa.Column('quantity', sa.Integer(), server_default=sa.text('1'), nullable=False),
    sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('external_id', sa.String(length=200), nullable=False),
    sa.Column('recorded_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.CheckConstraint('quantity >= 0', name=op.f('ck_tenant_usage_quantity_not_negative')),
    sa.ForeignKeyConstraint(['tenant_name'], ['tenant_billing_lifecycle.tenant_name'], name=op.f('fk_tenant_usage_tenant_name_tenant_billing_lifecycle')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tenant_usage')),
    sa.UniqueConstraint('metric', 'external_id', name=op.f('uq_tenant_usage_metric_external_id'))
    )
    with op.batch_alter_table('tenant_usage', schema=None) as batch_op:
        batch_op.create_index('ix_tenant_usage_tenant_metric_time', ['tenant_name', 'metric', 'occurred_at'], unique=False)

    op.create_table('invoice_charge_attempts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('idempotency_key', sa.String(length=200), nullable=False),
    sa.Column('stripe_payment_intent_id', sa.String(length=100), nullable=True),
    sa.Column('amount_minor', sa.Integer(), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='CHF', nullable=False),
    sa.Column('status', sa.String(length=40), server_default='creating', nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('requested_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_charge_attempts_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_charge_attempts')),
    sa.UniqueConstraint('idempotency_key', name=op.f('uq_invoice_charge_attempts_idempotency_key')),
    sa.UniqueConstraint('invoice_id', 'attempt', name=op.f('uq_invoice_charge_attempts_invoice_id_attempt'))
    )
    op.create_table('invoice_documents',
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_documents_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('invoice_id', name=op.f('pk_invoice_documents'))
    )
    op.create_table('invoice_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('sent_to', sa.String(length=254), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.String(length=300), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_emails_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_emails')),
    sa.UniqueConstraint('invoice_id', name=op.f('uq_invoice_emails_invoice_id'))
    )
    op.create_table('invoice_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('tenant_name', sa.String(length=253), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('skill_id', sa.String(length=120), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('quantity', sa.Numeric(precision=16, scale=6), nullable=False),
    sa.Column('unit_price_chf', sa.Numeric(precision=10, scale=5), nullable=False),
    sa.Column('amount_chf', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.CheckConstraint("kind IN ('setup_fee', 'monthly_fee', 'skill', 'llm', 'threema')", name=op.f('ck_invoice_lines_kind')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_lines_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_lines')),
    sa.UniqueConstraint('invoice_id', 'position', name=op.f('uq_invoice_lines_invoice_id_position'))
    )
    op.create_table('invoice_reminders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('level', sa.Integer(), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('sent_to', sa.String(length=254), nullable=True),
    sa.Column('pdf', sa.LargeBinary(), nullable=True),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('message_id', sa.String(length=300), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_invoice_reminders_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_reminders')),
    sa.UniqueConstraint('invoice_id', 'level', name=op.f('uq_invoice_reminders_invoice_id_level'))
    )

    # Seeds: the single pricing row (zeros, VAT 8.10 %, 1 USD = 1 CHF, 30 days)
    # and a default billing entity to issue under until real ones are set up.
    op.execute("INSERT INTO platform_pricing (id) VALUES (1)")
    op.execute(
        "INSERT INTO billing_entities (code, name, invoice_prefix, country, currency, is_default) "
        "VALUES ('pieced', 'PieCed', 'PC', 'CH', 'CHF', " + ("true" if op.get_bind().dialect.name == "postgresql" else "1") + ")"
    )

    if op.get_bind().dialect.name == "postgresql":
        # The database is the last line: whatever writes to it (a script, psql,
        # another service) meets the same rules as the application.
        op.execute(GUARD_SQL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD_DROP_SQL)
    op.drop_table('invoice_reminders')
    op.drop_table('invoice_lines')
    op.drop_table('invoice_emails')
    op.drop_table('invoice_documents')
    op.drop_table('invoice_charge_attempts')
    with op.batch_alter_table('tenant_usage', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_usage_tenant_metric_time')

    op.drop_table('tenant_usage')
    with op.batch_alter_table('tenant_suspension_events', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_suspension_events_tenant_time')

    op.drop_table('tenant_suspension_events')
    with op.batch_alter_table('tenant_skill_events', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_skill_events_tenant_time')

    op.drop_table('tenant_skill_events')
    with op.batch_alter_table('org_payment_methods', schema=None) as batch_op:
        batch_op.drop_index('ix_org_payment_methods_org')

    op.drop_table('org_payment_methods')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index('uq_invoices_org_entity_period_live', postgresql_where=sa.text("status <> 'void'"), sqlite_where=sa.text("status <> 'void'"))
        batch_op.drop_index('ix_invoices_status_due')
        batch_op.drop_index('ix_invoices_org_period')
        batch_op.drop_index('ix_invoices_issued_at')
        batch_op.drop_index('ix_invoices_entity_issued')

    op.drop_table('invoices')
    with op.batch_alter_table('tenant_billing_lifecycle', schema=None) as batch_op:
        batch_op.drop_index('ix_tenant_billing_lifecycle_org')

    op.drop_table('tenant_billing_lifecycle')
    op.drop_table('org_billing_config')
    op.drop_table('invoice_number_counters')
    with op.batch_alter_table('audit_log', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_log_occurred_at')
        batch_op.drop_index('ix_audit_log_object')

    op.drop_table('audit_log')
    op.drop_table('users')
    op.drop_table('stripe_events')
    op.drop_table('skill_pricing')
    op.drop_table('platform_pricing')
    with op.batch_alter_table('billing_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_billing_runs_started_at')

    op.drop_table('billing_runs')
    with op.batch_alter_table('billing_entities', schema=None) as batch_op:
        batch_op.drop_index('uq_billing_entities_one_default', postgresql_where=sa.text('is_default'), sqlite_where=sa.text('is_default'))

    op.drop_table('billing_entities')
