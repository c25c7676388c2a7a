"""a lease per message: when it ends, and the token of the attempt that holds it

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 21:30:00
"""

import sqlalchemy as sa
from alembic import op

import reminders.models

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_until", reminders.models.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("attempt_token", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("attempt_token")
        batch_op.drop_column("lease_until")
