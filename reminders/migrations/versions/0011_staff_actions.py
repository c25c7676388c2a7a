"""front desk worklist: what staff did about each call-list item; the log's order (issue 10)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

import reminders.models

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_actions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("item", sa.String(length=120), nullable=False),
        sa.Column("situation", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_staff_actions_patient_id_patients")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_actions")),
    )
    with op.batch_alter_table("staff_actions", schema=None) as batch_op:
        batch_op.create_index("ix_staff_actions_item", ["item", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_staff_actions_patient_id"), ["patient_id"], unique=False
        )
    op.create_index("ix_patients_name", "patients", ["last_name", "first_name", "id"])
    op.create_index("ix_sessions_day", "sessions", ["starts_at"])
    # The message log's order, latest activity first (see models.py).
    op.create_index(
        "ix_messages_activity",
        "messages",
        [
            sa.text("coalesce(provider_status_at, sent_at, attempted_at, created_at) DESC"),
            sa.text("id DESC"),
        ],
    )


def downgrade() -> None:
    op.drop_index("ix_messages_activity", table_name="messages")
    op.drop_index("ix_patients_name", table_name="patients")
    op.drop_index("ix_sessions_day", table_name="sessions")
    with op.batch_alter_table("staff_actions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_staff_actions_patient_id"))
        batch_op.drop_index("ix_staff_actions_item")
    op.drop_table("staff_actions")
