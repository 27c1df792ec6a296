"""Usage that arrives for a month already invoiced is kept and marked with that invoice (late usage)

Revision ID: 0013_late_usage
Revises: 0013_user_sessions
"""
from alembic import op
import sqlalchemy as sa

revision = '0013_late_usage'
down_revision = '0013_user_sessions'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('tenant_usage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('late_invoice_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key(op.f('fk_tenant_usage_late_invoice_id_invoices'), 'invoices',
                                    ['late_invoice_id'], ['id'])


def downgrade():
    with op.batch_alter_table('tenant_usage', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('fk_tenant_usage_late_invoice_id_invoices'), type_='foreignkey')
        batch_op.drop_column('late_invoice_id')
