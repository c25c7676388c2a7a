from alembic import context
from sqlalchemy import text

from reminders.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
if connection.dialect.name == "postgresql":
    # Several processes may start on a fresh database at once; one migrates, the others wait.
    connection.execute(text("SELECT pg_advisory_xact_lock(727274)"))
with context.begin_transaction():
    context.run_migrations()
