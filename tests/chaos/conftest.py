"""Fixtures for the chaos suite: a Redis of its own, a PostgreSQL schema, fresh fakes, processes.

Nothing here is shared with other tests: each chaos test gets its own redis-server (on a
free port, append-only, so it can be restarted mid-run without losing queued tasks), its
own loopback Twilio and SMTP servers (their fault modes are switched on), and a registry
that kills every process group it started, whatever the test did.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from reminders import store
from tests.chaos.service import OwnRedis, Processes
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "chaos: fault injection against real worker, beat and Redis processes"
    )


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    """A redis-server of this test's own, never the machine's: it gets restarted."""
    server = OwnRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chaos_database(postgres_base: str) -> Iterator[str]:
    """A fresh PostgreSQL schema: the production store, where claims race for real."""
    schema = f"chaos_{uuid.uuid4().hex[:12]}"
    engine = create_engine(postgres_base)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{postgres_base}?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        store.forget(url)
        with engine.begin() as connection:
            # Connections of killed processes may linger a moment; do not wait on them.
            connection.execute(text("SET lock_timeout = '30s'"))
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture
def chaos_twilio() -> Iterator[FakeTwilio]:
    """A loopback Twilio of this test's own: its random faults must not reach other tests."""
    api = FakeTwilio().start()
    yield api
    api.stop()


@pytest.fixture
def chaos_smtp() -> Iterator[FakeSMTP]:
    server = FakeSMTP().start()
    yield server
    server.stop()


@pytest.fixture
def processes() -> Iterator[Processes]:
    """Every process group a test starts; all are killed when it ends, pass or fail."""
    started = Processes()
    try:
        yield started
    finally:
        started.kill_all()
