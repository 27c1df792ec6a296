"""The payments ledger (SPEC §2 `payments`, §6): append-only, a paid invoice may reopen, paid invoices carried over

Also `invoices.credit_applied_chf` (default 0): the org's credit balance an
invoice used when it was issued, printed on it with the amount due; and on
charge attempts the Checkout session (payment link) e-mailed when the bank
wants the card holder to authenticate.

Every invoice already marked paid gets the ledger row that says so (its total,
on the day it was paid, with its method and reference), so balances computed
from the ledger keep the meaning the data had: paid invoices owe nothing, open
ones their total. Card payments keep their PaymentIntent id as the Stripe
source id, so a late webhook for them records nothing twice.

Revision ID: 0016
Revises: 0014_skill_display_name
Create Date: 2026-12-01 15:00:00
"""
import os

from alembic import op
import sqlalchemy as sa


revision = '0016'
down_revision = '0014_skill_display_name'
branch_labels = None
depends_on = None

APPEND_ONLY_SQL = r"""
CREATE TRIGGER payments_append_only BEFORE UPDATE OR DELETE ON payments
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
"""

# The invoice guard of 0001 with one status change more: paid -> issued (a reversal reopens the balance).
INVOICE_GUARD_SQL = r"""
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
     OR NEW.credit_applied_chf IS DISTINCT FROM OLD.credit_applied_chf
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
     AND NOT (OLD.status = 'issued' AND NEW.status IN ('paid', 'void'))
     AND NOT (OLD.status = 'paid' AND NEW.status = 'issued') THEN
    RAISE EXCEPTION 'invoice % cannot go from % to %', OLD.number, OLD.status, NEW.status
      USING ERRCODE = 'restrict_violation';
  END IF;
  IF OLD.status = 'paid' AND NEW.status = 'issued'
     AND NEW.total_chf - COALESCE((SELECT SUM(amount_chf) FROM payments WHERE invoice_id = NEW.id), 0)
       - COALESCE((SELECT SUM(total_chf) FROM credit_notes WHERE invoice_id = NEW.id), 0) <= 0 THEN
    RAISE EXCEPTION 'invoice % cannot go from paid to issued: its payments and credit notes cover it', OLD.number
      USING ERRCODE = 'restrict_violation';
  END IF;
  RETURN NEW;
END
$$ LANGUAGE plpgsql;
"""

def _guard_of_0001() -> str:
    start = INVOICE_GUARD_SQL.index("  IF OLD.status = 'paid' AND NEW.status = 'issued'")
    end = INVOICE_GUARD_SQL.index("  RETURN NEW;")
    return (INVOICE_GUARD_SQL[:start] + INVOICE_GUARD_SQL[end:]).replace(
        "\n     AND NOT (OLD.status = 'paid' AND NEW.status = 'issued')", "").replace(
        "     OR NEW.credit_applied_chf IS DISTINCT FROM OLD.credit_applied_chf\n", "")


INVOICE_GUARD_0001_SQL = _guard_of_0001()


def _carry_paid_invoices(dialect: str) -> None:
    zone = os.environ.get("BILLING_TIMEZONE") or "Europe/Zurich"
    if dialect == "postgresql":
        booked = f"(paid_at AT TIME ZONE '{zone}')::date"
    else:
        booked = "date(paid_at)"  # stored as UTC wall time; a past day was recorded at local noon
    op.execute(f"""
        INSERT INTO payments (invoice_id, zitadel_org_id, amount_chf, currency, booked_on, method, reference,
                              source, source_id, created_by, created_at, kind, note)
        SELECT id, zitadel_org_id, total_chf, currency, {booked},
               CASE WHEN payment_method IN ('bank_transfer', 'card') THEN payment_method ELSE 'other' END,
               payment_reference,
               CASE WHEN payment_method = 'card' AND stripe_payment_intent_id IS NOT NULL THEN 'stripe'
                    ELSE 'manual' END,
               CASE WHEN payment_method = 'card' AND stripe_payment_intent_id IS NOT NULL
                    THEN stripe_payment_intent_id ELSE 'invoice-' || id || '-paid' END,
               COALESCE(paid_by, 'migration 0016'), paid_at, 'payment',
               'carried over from the invoice marked paid before the ledger existed'
        FROM invoices WHERE status = 'paid' AND paid_at IS NOT NULL
    """)


def upgrade():
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('credit_applied_chf', sa.Numeric(precision=10, scale=2),
                                      server_default=sa.text('0'), nullable=False))

    with op.batch_alter_table('invoice_charge_attempts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('checkout_session_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('payment_link_url', sa.Text(), nullable=True))
        batch_op.create_unique_constraint(op.f('uq_invoice_charge_attempts_checkout_session_id'),
                                          ['checkout_session_id'])

    op.create_table('payments',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=True),
    sa.Column('zitadel_org_id', sa.String(length=100), nullable=True),
    sa.Column('amount_chf', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='CHF', nullable=False),
    sa.Column('booked_on', sa.Date(), nullable=False),
    sa.Column('method', sa.String(length=20), server_default='other', nullable=False),
    sa.Column('reference', sa.String(length=200), nullable=True),
    sa.Column('source', sa.String(length=20), server_default='manual', nullable=False),
    sa.Column('source_id', sa.String(length=300), nullable=False),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.Column('kind', sa.String(length=20), server_default='payment', nullable=False),
    sa.Column('debtor_name', sa.String(length=200), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('file_name', sa.String(length=300), nullable=True),
    sa.Column('settles_payment_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_payments_invoice_id_invoices')),
    sa.ForeignKeyConstraint(['settles_payment_id'], ['payments.id'], name=op.f('fk_payments_settles_payment_id_payments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payments')),
    sa.UniqueConstraint('source', 'source_id', name=op.f('uq_payments_source_source_id'))
    )
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.create_index('ix_payments_invoice', ['invoice_id'], unique=False)
        batch_op.create_index('ix_payments_org', ['zitadel_org_id'], unique=False)
        batch_op.create_index('ix_payments_settles', ['settles_payment_id'], unique=False)

    dialect = op.get_bind().dialect.name
    _carry_paid_invoices(dialect)
    if dialect == "postgresql":
        op.execute(APPEND_ONLY_SQL)
        op.execute(INVOICE_GUARD_SQL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS payments_append_only ON payments")
        op.execute(INVOICE_GUARD_0001_SQL)
    with op.batch_alter_table('payments', schema=None) as batch_op:
        batch_op.drop_index('ix_payments_settles')
        batch_op.drop_index('ix_payments_org')
        batch_op.drop_index('ix_payments_invoice')
    op.drop_table('payments')
    with op.batch_alter_table('invoice_charge_attempts', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('uq_invoice_charge_attempts_checkout_session_id'), type_='unique')
        batch_op.drop_column('payment_link_url')
        batch_op.drop_column('checkout_session_id')
    # A plain ALTER TABLE … DROP COLUMN (SQLite 3.35+): rebuilding `invoices` would trip its foreign keys.
    op.drop_column('invoices', 'credit_applied_chf')
