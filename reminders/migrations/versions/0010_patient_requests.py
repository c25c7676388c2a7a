"""self-service links: patient requests and their events (issue 9)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

import reminders.models

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("session_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("inbound_id", sa.Integer(), nullable=True),
        sa.Column("preferred_days", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("received_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("handled_at", reminders.models.UTCDateTime(), nullable=True),
        sa.Column("handled_by", sa.String(length=100), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"], ["patients.id"], name=op.f("fk_patient_requests_patient_id_patients")
        ),
        sa.ForeignKeyConstraint(
            ["session_id"], ["sessions.id"], name=op.f("fk_patient_requests_session_id_sessions")
        ),
        sa.ForeignKeyConstraint(
            ["inbound_id"],
            ["inbound_messages.id"],
            name=op.f("fk_patient_requests_inbound_id_inbound_messages"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_requests")),
    )
    with op.batch_alter_table("patient_requests", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_requests_patient_id"), ["patient_id"], unique=False
        )
    op.create_table(
        "patient_request_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["patient_requests.id"],
            name=op.f("fk_patient_request_events_request_id_patient_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_request_events")),
    )
    with op.batch_alter_table("patient_request_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_patient_request_events_request_id"), ["request_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("patient_request_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_request_events_request_id"))
    op.drop_table("patient_request_events")
    with op.batch_alter_table("patient_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_requests_patient_id"))
    op.drop_table("patient_requests")
