"""indexes for a million sessions (issue 12)

The metrics (latency, permanent failures) and the reconciler read the last day's attempts
by attempted_at: without an index on it each scrape scans the whole message log. The claim
needs nothing new: `ix_messages_status_due` already hands it the due rows in order, and
every index on `messages` costs each claim (a status change updates every index).

A patient's series and a series' sessions (the planner after each import, the patient
card, the adherence window over each series' sessions in date order) were found by
scanning the whole table: the foreign keys had no index.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 01:00:00
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_messages_attempted", "messages", ["attempted_at"])
    op.create_index("ix_series_patient", "series", ["patient_id"])
    op.create_index("ix_sessions_series_start", "sessions", ["series_id", "starts_at"])


def downgrade() -> None:
    op.drop_index("ix_sessions_series_start", table_name="sessions")
    op.drop_index("ix_series_patient", table_name="series")
    op.drop_index("ix_messages_attempted", table_name="messages")
