"""A real worker and beat: task events reach Celery's event receiver (what Flower and
`celery events` read), both heartbeats are written, and `reminders doctor` is content."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from celery import Celery

from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.scenarios.test_end_to_end import start, stop
from tests.sending.test_exactly_once import provider_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    """The test Redis database, emptied before and after."""
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()


def capture_until(
    app: Celery, wanted: set[tuple[str, str]], seconds: float
) -> set[tuple[str, str]]:
    """(event type, task name) pairs seen on the event exchange until all wanted are seen."""
    seen: set[tuple[str, str]] = set()
    names: dict[str, str] = {}

    def on_event(event: dict[str, Any]) -> None:
        if event.get("name"):
            names[event["uuid"]] = event["name"]
        if event["type"].startswith("task-"):
            seen.add((event["type"], names.get(event.get("uuid", ""), "")))

    deadline = time.monotonic() + seconds
    with app.connection() as connection:
        receiver = app.events.Receiver(connection, handlers={"*": on_event})
        while not wanted <= seen and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                receiver.capture(limit=20, timeout=2, wakeup=False)
    return seen


def test_a_real_worker_sends_task_events_and_heartbeats_and_the_doctor_is_content(
    broker: str, twilio_api: FakeTwilio, smtp_server: FakeSMTP, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        **provider_env(f"sqlite:///{tmp_path / 'reminders.db'}", twilio_api, smtp_server, tmp_path),
        "REMINDERS_BROKER_URL": broker,
        "REMINDERS_DISPATCH_INTERVAL": "1",
    }
    command = [sys.executable, "-m", "celery", "-A", "worker", "worker", "--beat"]
    worker = start(
        [*command, "--loglevel=INFO", "--concurrency=1", "--hostname=events@%h"],
        env,
        ROOT,
        tmp_path / "worker.log",
    )
    app = Celery("watcher", broker=broker)
    try:
        wanted = {
            ("task-sent", "reminders.dispatch"),
            ("task-received", "reminders.dispatch"),
            ("task-succeeded", "reminders.dispatch"),
        }
        seen = capture_until(app, wanted, 90)
        doctor = subprocess.run(
            [sys.executable, "-m", "reminders.cli", "doctor"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        app.close()
        stop(worker)

    log = (tmp_path / "worker.log").read_text()
    assert wanted <= seen, log
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr + log
    assert "ok    worker: answered: events@" in doctor.stdout
    assert "ok    beat: dispatch passes are running" in doctor.stdout
    assert "ok    twilio: account 'Clinic' is active" in doctor.stdout
