"""The whole service as it runs: import, then Celery beat and a real worker process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import row, write_csv
from tests.sending.test_exactly_once import provider_env

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


def wait_for(check: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    """A Redis database of its own, empty, so no earlier run's tasks are waiting in it (8
    past the tests' own: each pytest-xdist worker has one)."""
    base, database = redis_url.rsplit("/", 1)
    url = f"{base}/{int(database) + 8}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def cli(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "reminders.cli", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def start(command: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def patients_due_tomorrow(count: int) -> list[dict[str, Any]]:
    """One session each, 23 hours from now: every reminder rule is due at once."""
    soon = datetime.now(UTC) + timedelta(hours=23)
    return [
        row(
            patient_id=f"P{i}",
            phone=f"+1403555{i:04d}",
            email=f"pat{i}@example.com",
            series_id=f"S{i}",
            session_id=f"S{i}-1",
            starts_at=soon.isoformat(),
        )
        for i in range(count)
    ]


def test_import_then_beat_and_worker_deliver_each_message_once(
    database_url: str,
    broker: str,
    twilio_api: FakeTwilio,
    smtp_server: FakeSMTP,
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        **provider_env(database_url, twilio_api, smtp_server, tmp_path),
        "REMINDERS_BROKER_URL": broker,
        "REMINDERS_DISPATCH_INTERVAL": "1",
        "REMINDERS_QUIET_HOURS__START": "00:00",
        "REMINDERS_QUIET_HOURS__END": "00:00",
    }
    rows = patients_due_tomorrow(5)
    schedule = write_csv(tmp_path / "schedule.csv", rows)
    imported = cli(env, ROOT, "import", str(schedule))
    assert imported.returncode == 0, imported.stderr

    worker = start(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "worker",
            "worker",
            "--beat",
            "--loglevel=INFO",
            "--concurrency=2",
            "--without-gossip",
            "--without-mingle",
        ],
        env,
        ROOT,
        tmp_path / "worker.log",
    )
    try:
        wait_for(
            lambda: len(twilio_api.messages) >= 5 and len(smtp_server.messages) >= 5,
            90,
            "five SMS and five emails",
        )
        time.sleep(4)  # several more beat passes: nothing may go out twice
    finally:
        stop(worker)

    log = (tmp_path / "worker.log").read_text()
    assert sorted(sms.to for sms in twilio_api.messages) == [
        f"+1403555{i:04d}" for i in range(5)
    ], log
    assert sorted(str(m["To"]) for m in smtp_server.messages) == [
        f"pat{i}@example.com" for i in range(5)
    ]
    listed = cli(env, ROOT, "messages", "--json")
    assert {m["status"] for m in json.loads(listed.stdout)} == {"sent"}


def test_the_embedded_default_runs_the_demo_with_no_redis_twilio_or_smtp(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REMINDERS_")}
    env["PYTHONPATH"] = str(ROOT)
    demo = cli(env, tmp_path, "demo")
    assert demo.returncode == 0, demo.stderr
    assert "demo clinic loaded" in demo.stdout

    service = start(
        [sys.executable, "-m", "reminders.cli", "run"], env, tmp_path, tmp_path / "run.log"
    )
    outbox = tmp_path / "outbox"

    def sent() -> list[dict[str, object]]:
        listed = cli(env, tmp_path, "messages", "--json")
        return [m for m in json.loads(listed.stdout) if m["status"] == "sent"]

    def sent_files() -> list[int]:
        # "<time>-<message id>-<channel>-...": id 0 is an automatic answer to a patient's text.
        ids = [int(f.name.split("-")[1]) for f in outbox.iterdir()]
        return sorted(i for i in ids if i)

    try:
        wait_for(lambda: len(list(outbox.glob("*.eml"))) >= 2, 60, "demo emails in the outbox")
        # A file is written just before its row records the send: wait for the records.
        wait_for(lambda: len(sent()) >= len(sent_files()), 30, "sends recorded")
    finally:
        stop(service)

    assert sorted(int(str(m["id"])) for m in sent()) == sent_files(), (
        tmp_path / "run.log"
    ).read_text()
    assert len(sent_files()) >= 2
