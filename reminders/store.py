"""Engine, transactions and migrations: a fresh database URL works with no manual step."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import sessionmaker

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        return _sqlite_engine(url)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_engine(url: str) -> Engine:
    engine = create_engine(url, connect_args={"timeout": 60, "isolation_level": None})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    # Take the write lock when the transaction starts: a deferred transaction that
    # reads and then writes can fail at once under concurrent writers instead of waiting.
    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def migrate(engine: Engine) -> None:
    # Alembic announces its dialect at INFO on every start; only problems are worth a line.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


_factories: dict[str, sessionmaker[DB]] = {}
# Threads of one process (a threads pool, the sending threads) migrate once, not each:
# several would wait on one another under the database's migration lock.
_first_use = threading.Lock()


def sessions(url: str) -> sessionmaker[DB]:
    """The session factory for a database, migrated to the latest schema on first use."""
    factory = _factories.get(url)
    if factory is not None:
        return factory
    with _first_use:
        factory = _factories.get(url)
        if factory is None:
            engine = make_engine(url)
            migrate(engine)
            factory = _factories[url] = sessionmaker(engine, expire_on_commit=False)
    return factory


def forget(url: str) -> None:
    """Close the database's connections (tests use a database each)."""
    factory = _factories.pop(url, None)
    if factory is not None and isinstance(factory.kw.get("bind"), Engine):
        factory.kw["bind"].dispose()


@contextmanager
def transaction(url: str) -> Iterator[DB]:
    with sessions(url).begin() as db:
        yield db


def after_fork() -> None:
    """A forked worker must not share its parent's connections: open its own."""
    for factory in _factories.values():
        bind = factory.kw.get("bind")
        if isinstance(bind, Engine):
            bind.dispose(close=False)
