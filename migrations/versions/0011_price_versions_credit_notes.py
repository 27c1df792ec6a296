"""Billing over time: price versions, credit notes (numbered, immutable), re-issues naming what they replace

Revision ID: 0011
Revises: 0001
Create Date: 2026-12-01 16:00:00

Existing data keeps its meaning: with no price version every month is billed at
the base rows, as before; no invoice replaces another.
"""
from alembic import op
import sqlalchemy as sa


revision = '0011'
down_revision = '0001'
branch_labels = None
depends_on = None

# An issued credit note, its lines and its PDF never change (as invoice lines and PDFs).
GUARD_SQL = r"""
CREATE TRIGGER credit_notes_immutable BEFORE UPDATE OR DELETE ON credit_notes
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
CREATE TRIGGER credit_note_lines_immutable BEFORE UPDATE OR DELETE ON credit_note_lines
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
CREATE TRIGGER credit_note_documents_immutable BEFORE UPDATE OR DELETE ON credit_note_documents
  FOR EACH ROW EXECUTE FUNCTION pieced_guard_append_only();
"""

GUARD_DROP_SQL = r"""
DROP TRIGGER IF EXISTS credit_note_documents_immutable ON credit_note_documents;
DROP TRIGGER IF EXISTS credit_note_lines_immutable ON credit_note_lines;
DROP TRIGGER IF EXISTS credit_notes_immutable ON credit_notes;
"""


def upgrade():
    op.create_table('price_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('effective_month', sa.Date(), nullable=False),
    sa.Column('tenant_monthly_fee_chf', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('tenant_setup_fee_chf', sa.Numeric(precision=10, scale=2), nullable=True),
    sa.Column('threema_message_chf', sa.Numeric(precision=10, scale=5), nullable=True),
    sa.Column('llm_usd_to_chf', sa.Numeric(precision=10, scale=5), nullable=True),
    sa.Column('llm_markup_pct', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('vat_rate_chli', sa.Numeric(precision=5, scale=2), nullable=True),
    sa.Column('skill_prices', sa.JSON(), server_default=sa.text("'{}'"), nullable=False),
    sa.Column('note', sa.String(length=300), nullable=True),
    sa.Column('created_by', sa.String(length=254), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('updated_by', sa.String(length=254), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_price_versions')),
    sa.UniqueConstraint('effective_month', name=op.f('uq_price_versions_effective_month'))
    )
    op.create_table('credit_note_number_counters',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('billing_entity_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('last_number', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.ForeignKeyConstraint(['billing_entity_id'], ['billing_entities.id'], name=op.f('fk_credit_note_number_counters_billing_entity_id_billing_entities')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_note_number_counters')),
    sa.UniqueConstraint('billing_entity_id', 'year', name=op.f('uq_credit_note_number_counters_billing_entity_id_year'))
    )
    op.create_table('credit_notes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=40), nullable=False),
    sa.Column('invoice_id', sa.Integer(), nullable=False),
    sa.Column('billing_entity_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('issued_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    sa.Column('currency', sa.String(length=3), server_default='CHF', nullable=False),
    sa.Column('net_chf', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('vat_rate', sa.Numeric(precision=5, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('vat_chf', sa.Numeric(precision=10, scale=2), server_default=sa.text('0'), nullable=False),
    sa.Column('total_chf', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.Column('pdf_sha256', sa.String(length=64), nullable=True),
    sa.Column('kind', sa.String(length=16), server_default='partial', nullable=False),
    sa.Column('issued_by', sa.String(length=254), nullable=True),
    sa.Column('language', sa.String(length=2), server_default='en', nullable=False),
    sa.Column('customer_snapshot', sa.JSON(), nullable=True),
    sa.Column('entity_snapshot', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['billing_entity_id'], ['billing_entities.id'], name=op.f('fk_credit_notes_billing_entity_id_billing_entities')),
    sa.ForeignKeyConstraint(['invoice_id'], ['invoices.id'], name=op.f('fk_credit_notes_invoice_id_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_notes')),
    sa.UniqueConstraint('number', name=op.f('uq_credit_notes_number'))
    )
    op.create_index(op.f('ix_credit_notes_invoice_id'), 'credit_notes', ['invoice_id'], unique=False)
    op.create_table('credit_note_lines',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_note_id', sa.Integer(), nullable=False),
    sa.Column('invoice_line_id', sa.Integer(), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('amount_chf', sa.Numeric(precision=10, scale=2), nullable=False),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id'], name=op.f('fk_credit_note_lines_credit_note_id_credit_notes')),
    sa.ForeignKeyConstraint(['invoice_line_id'], ['invoice_lines.id'], name=op.f('fk_credit_note_lines_invoice_line_id_invoice_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_note_lines'))
    )
    op.create_index(op.f('ix_credit_note_lines_credit_note_id'), 'credit_note_lines', ['credit_note_id'], unique=False)
    op.create_table('credit_note_documents',
    sa.Column('credit_note_id', sa.Integer(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id'], name=op.f('fk_credit_note_documents_credit_note_id_credit_notes')),
    sa.PrimaryKeyConstraint('credit_note_id', name=op.f('pk_credit_note_documents'))
    )
    op.create_table('credit_note_emails',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('credit_note_id', sa.Integer(), nullable=False),
    sa.Column('sent_to', sa.String(length=254), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='pending', nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('message_id', sa.String(length=300), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), server_default=sa.text('0'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=True),
    sa.ForeignKeyConstraint(['credit_note_id'], ['credit_notes.id'], name=op.f('fk_credit_note_emails_credit_note_id_credit_notes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_credit_note_emails')),
    sa.UniqueConstraint('credit_note_id', name=op.f('uq_credit_note_emails_credit_note_id'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.add_column(sa.Column('replaces_invoice_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_invoices_replaces_invoice_id_invoices'), 'invoices',
                                    ['replaces_invoice_id'], ['id'])

    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD_SQL)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute(GUARD_DROP_SQL)
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_invoices_replaces_invoice_id_invoices'), type_='foreignkey')
        batch_op.drop_column('replaces_invoice_id')
    op.drop_table('credit_note_emails')
    op.drop_table('credit_note_documents')
    op.drop_index(op.f('ix_credit_note_lines_credit_note_id'), table_name='credit_note_lines')
    op.drop_table('credit_note_lines')
    op.drop_index(op.f('ix_credit_notes_invoice_id'), table_name='credit_notes')
    op.drop_table('credit_notes')
    op.drop_table('credit_note_number_counters')
    op.drop_table('price_versions')
