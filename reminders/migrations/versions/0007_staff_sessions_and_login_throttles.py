"""staff accounts: server-side sessions, login throttles by guesser, disabled users (issue 10)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 01:00:00
"""

import sqlalchemy as sa
from alembic import op

import reminders.models

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("created_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("expires_at", reminders.models.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_staff_sessions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_sessions")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_staff_sessions_token_hash")),
    )
    op.create_index(op.f("ix_staff_sessions_user_id"), "staff_sessions", ["user_id"], unique=False)
    op.create_table(
        "login_throttles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("last_failure_at", reminders.models.UTCDateTime(), nullable=False),
        sa.Column("blocked_until", reminders.models.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_throttles")),
        sa.UniqueConstraint("address", "user_name", name=op.f("uq_login_throttles_address")),
    )
    op.create_index(
        op.f("ix_login_throttles_user_name"), "login_throttles", ["user_name"], unique=False
    )
    # The per-name lock (anyone could lock the desk out by typing a name) gives way to the
    # throttles above; a disabled user is refused instead of a locked one.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("disabled_at", reminders.models.UTCDateTime(), nullable=True))
        batch_op.drop_column("locked_until")
        batch_op.drop_column("failed_logins")


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("locked_until", reminders.models.UTCDateTime(), nullable=True)
        )
        batch_op.drop_column("disabled_at")
    op.drop_index(op.f("ix_login_throttles_user_name"), table_name="login_throttles")
    op.drop_table("login_throttles")
    op.drop_index(op.f("ix_staff_sessions_user_id"), table_name="staff_sessions")
    op.drop_table("staff_sessions")
