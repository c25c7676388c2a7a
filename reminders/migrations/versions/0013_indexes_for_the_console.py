"""indexes for the console's searches at a million sessions (issue 12)

The message log filtered by status (failed, sent, ...) walked `ix_messages_activity` past
every row of the other statuses (2.4 million planned ones at 1M sessions):
`ix_messages_status_activity` is the same order within one status. Filtered by day it
read every message: a day's due rows come from `ix_messages_status_due` (the query names
every status), its sent rows from `ix_messages_sent`, which holds only sent messages.

Patient search matches a typed word anywhere in a name or a phone number (`LIKE '%..%'`),
which no B-tree serves: on PostgreSQL one trigram index (`pg_trgm`) over the columns the
search compares answers it; SQLite keeps scanning the patients, as before.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02 05:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SENT = sa.text("sent_at IS NOT NULL")
# The expressions `reminders.staff.search` compares, as it writes them.
SEARCHED = (
    "lower(first_name)",
    "first_name",
    "lower(last_name)",
    "last_name",
    "phone",
    "lower(external_id)",
)


def upgrade() -> None:
    op.create_index(
        "ix_messages_status_activity",
        "messages",
        [
            "status",
            sa.text("coalesce(provider_status_at, sent_at, attempted_at, created_at) DESC"),
            sa.text("id DESC"),
        ],
    )
    op.create_index(
        "ix_messages_sent", "messages", ["sent_at"], sqlite_where=SENT, postgresql_where=SENT
    )
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        # One extension per database, whatever schema a store uses: its operator class is
        # named with the schema it lives in, which need not be on the store's search path.
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public")
        home = bind.scalar(
            sa.text(
                "SELECT nspname FROM pg_extension JOIN pg_namespace n"
                " ON n.oid = extnamespace WHERE extname = 'pg_trgm'"
            )
        )
        columns = ", ".join(f"({expression}) {home}.gin_trgm_ops" for expression in SEARCHED)
        op.execute(f"CREATE INDEX ix_patients_search ON patients USING gin ({columns})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_patients_search")
    op.drop_index("ix_messages_sent", table_name="messages")
    op.drop_index("ix_messages_status_activity", table_name="messages")
