"""Account numbers per billing entity for the accounting journal (Swiss SME chart defaults)

Revision ID: 0012_entity_accounts
Revises: 0016
Create Date: 2026-12-01 16:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = '0012_entity_accounts'
down_revision = '0016'
branch_labels = None
depends_on = None

# (column, default): debtors, bank, VAT payable, service revenue (KMU-Kontenrahmen)
ACCOUNTS = (("account_debtors", "1100"), ("account_bank", "1020"), ("account_vat_payable", "2200"),
            ("account_revenue", "3400"))


# Plain ADD/DROP COLUMN on both databases (SQLite 3.35+): a batch "move and copy" would drop
# billing_entities, which the invoices' foreign keys refuse while they are enforced.


def upgrade():
    for name, default in ACCOUNTS:
        op.add_column('billing_entities',
                      sa.Column(name, sa.String(length=10), nullable=False, server_default=default))


def downgrade():
    for name, _default in reversed(ACCOUNTS):
        op.drop_column('billing_entities', name)
