"""Real parts for the tests: Redis, PostgreSQL and SQLite, loopback Twilio and SMTP servers."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import create_engine, text

from reminders import store
from reminders.config import Settings, get_settings
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import Clinic, reminders_only
from tests.sending.test_exactly_once import provider_clinic

pytest_plugins = ["tests.fakes.fixtures"]

IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_URL = os.environ.get(
    "REMINDERS_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No REMINDERS_* variable from the developer's shell leaks into a test."""
    for name in list(os.environ):
        if name.startswith("REMINDERS_") and not name.startswith("REMINDERS_TEST_"):
            monkeypatch.delenv(name)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _postgres_available() -> bool:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_base() -> str:
    if not _postgres_available():
        if IN_CI:
            pytest.fail(f"PostgreSQL is required in CI and does not answer at {POSTGRES_URL}")
        pytest.skip(f"no PostgreSQL at {POSTGRES_URL}")
    return POSTGRES_URL


def _postgres_schema(base: str) -> Iterator[str]:
    """A fresh schema per test: the real server, nothing shared between tests."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{base}?options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        store.forget(url)
        with engine.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on SQLite (the embedded default) and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'reminders.db'}"
        yield url
        store.forget(url)
    else:
        base = request.getfixturevalue("postgres_base")
        yield from _postgres_schema(base)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'reminders.db'}"
    yield url
    store.forget(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Outbox channels on the store under test, quiet hours at their default."""
    return Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        state_dir=tmp_path / "state",
    )


def _redis_answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The machine's Redis when it answers, else a redis-server of our own on a free port.

    Under pytest-xdist each worker process takes a database of its own (1, 2, ...): tests
    empty theirs, and one worker's flush must not take another's queued tasks."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    database = int(worker[2:]) + 1 if worker.startswith("gw") else 0
    url = os.environ.get("REMINDERS_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{database}")
    if _redis_answers(url):
        yield url
        return
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail(
            "no Redis answers and redis-server is not installed (apt-get install redis-server)"
        )
    port = free_port()
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/{database}"
    deadline = time.monotonic() + 10
    while not _redis_answers(url):
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    yield url
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def providers(
    database_url: str,
    twilio_api: FakeTwilio,
    smtp_server: FakeSMTP,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Clinic:
    """A clinic sending session reminders alone to the loopback Twilio and SMTP servers."""
    clinic = provider_clinic(database_url, twilio_api, smtp_server, tmp_path, monkeypatch)
    return Clinic(reminders_only(clinic.settings), tmp_path)
