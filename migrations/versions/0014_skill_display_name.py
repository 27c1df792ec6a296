"""Skills get a display name for invoices (the skill id when none is set)

Revision ID: 0014_skill_display_name
Revises: 0013_late_usage
Create Date: 2026-12-01 16:10:00

"""
from alembic import op
import sqlalchemy as sa


revision = "0014_skill_display_name"
down_revision = "0013_late_usage"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("skill_pricing") as batch:
        batch.add_column(sa.Column("display_name", sa.String(length=120), nullable=True))


def downgrade():
    with op.batch_alter_table("skill_pricing") as batch:
        batch.drop_column("display_name")
