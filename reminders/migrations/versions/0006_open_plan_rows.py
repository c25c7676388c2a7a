"""one open row per session, rule and start; closed ones may repeat (issue 9)

A session moved away and back plans its rule again for a start it once had: the
unique key on (session, rule, start) becomes a unique index over the open rows only.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_PLAN = sa.text("status IN ('planned', 'queued', 'sending')")
COLUMNS = ["session_id", "rule", "planned_for"]


def upgrade() -> None:
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_constraint("uq_messages_plan", type_="unique")
    op.create_index(
        "uq_messages_open_plan",
        "messages",
        COLUMNS,
        unique=True,
        sqlite_where=OPEN_PLAN,
        postgresql_where=OPEN_PLAN,
    )


def downgrade() -> None:
    # Fails where a key has several closed rows: those moves cannot be told apart again.
    op.drop_index("uq_messages_open_plan", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_messages_plan", COLUMNS)
