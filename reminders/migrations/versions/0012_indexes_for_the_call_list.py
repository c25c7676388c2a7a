"""indexes for the call list and the stale-SMS list at a million sessions (issue 12)

The call list (`staff/drift.py`) groups the completed and no-show sessions per series:
`ix_sessions_status_series` hands it those rows alone, index only, and answers "anything
booked from today on?" for the few series left. `ix_series_own_interval` lists the
intervals series set for themselves without reading every series (few rows have one).

The stale-SMS list reads sent SMS of the last week oldest first: `ix_messages_sms_sent`
holds only sent SMS, so the claim's status changes of planned rows never touch it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02 02:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

SENT_SMS = sa.text("status = 'sent' AND channel = 'sms'")
OWN_INTERVAL = sa.text("target_interval_days IS NOT NULL")


def upgrade() -> None:
    op.create_index(
        "ix_sessions_status_series", "sessions", ["status", "series_id", "starts_at", "number"]
    )
    op.create_index(
        "ix_series_own_interval",
        "series",
        ["target_interval_days"],
        sqlite_where=OWN_INTERVAL,
        postgresql_where=OWN_INTERVAL,
    )
    op.create_index(
        "ix_messages_sms_sent",
        "messages",
        ["sent_at", "id"],
        sqlite_where=SENT_SMS,
        postgresql_where=SENT_SMS,
    )


def downgrade() -> None:
    op.drop_index("ix_messages_sms_sent", table_name="messages")
    op.drop_index("ix_series_own_interval", table_name="series")
    op.drop_index("ix_sessions_status_series", table_name="sessions")
