"""What the benchmarks share: seeding due reminders in bulk, a fresh PostgreSQL schema, a worker."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reminders import store  # noqa: E402
from reminders.models import Message, Patient, Series, Session  # noqa: E402
from tests.conftest import _postgres_schema  # noqa: E402


def seed(url: str, count: int, now: datetime, due: Sequence[datetime] | None = None) -> None:
    """`count` patients, each with one session tomorrow and one SMS reminder due now
    (or at `due[i]`)."""
    store.sessions(url)  # migrate
    starts = now + timedelta(days=1)
    with store.transaction(url) as db:
        db.execute(
            insert(Patient),
            [
                {
                    "id": i,
                    "external_id": f"P{i}",
                    "first_name": "Avery",
                    "last_name": "Nguyen",
                    "phone": f"+1403{5550000 + i:07d}",
                    "email": None,
                    "language": "en",
                    "sms_opt_out": False,
                    "email_opt_out": False,
                }
                for i in range(1, count + 1)
            ],
        )
        db.execute(
            insert(Series),
            [
                {
                    "id": i,
                    "external_id": f"S{i}",
                    "patient_id": i,
                    "treatment": "prolotherapy",
                    "planned_sessions": 6,
                }
                for i in range(1, count + 1)
            ],
        )
        db.execute(
            insert(Session),
            [
                {
                    "id": i,
                    "external_id": f"S{i}-1",
                    "series_id": i,
                    "number": 1,
                    "starts_at": starts,
                    "duration_minutes": 30,
                    "practitioner": "",
                    "location": "",
                    "status": "booked",
                }
                for i in range(1, count + 1)
            ],
        )
        db.execute(
            insert(Message),
            [
                {
                    "session_id": i,
                    "kind": "session_reminder",
                    "rule": "sms-24h",
                    "channel": "sms",
                    "status": "planned",
                    "reason": "",
                    "planned_for": starts,
                    "due_at": due[i - 1] if due else now,
                    "expires_at": starts,
                    "before_session": True,
                    "attempts": 0,
                    "triggered_by": "planner",
                    "created_at": now,
                }
                for i in range(1, count + 1)
            ],
        )


@contextmanager
def fresh_database(base: str) -> Iterator[str]:
    """A schema of its own on PostgreSQL, dropped afterwards (as each test gets); any other
    URL as it is."""
    if not base.startswith("postgres"):
        yield base
        return
    with contextmanager(_postgres_schema)(base) as url:
        yield url


@contextmanager
def worker(
    env: dict[str, str], concurrency: int, log: Path, app: str = "bench.app"
) -> Iterator[int]:
    """A Celery worker node (prefork, `concurrency` processes) for the length of the block;
    the block gets its process group (see `cpu_seconds`)."""
    process = start_worker(env, concurrency, log, app)
    try:
        time.sleep(3)  # let the worker connect before the clock starts
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # a warm shutdown stuck: the figures are in already
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


def start_worker(
    env: dict[str, str], concurrency: int, log: Path, app: str
) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--loglevel=WARNING",
        f"--concurrency={concurrency}",
        "--without-gossip",
        "--without-mingle",
    ]
    return subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def cpu_seconds(group: int) -> float:
    """CPU time (user + system) used so far by the live processes of a process group: a
    worker node's main process and its pool. Unlike wall-clock time it does not follow
    what else the machine is doing, so it compares two runs on a loaded machine."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == group:  # field 5 of stat: the process group
            ticks += int(fields[11]) + int(fields[12])  # fields 14 and 15: utime, stime
    return ticks / os.sysconf("SC_CLK_TCK")


def wait_until(check: Callable[[], int], total: int, seconds: float) -> float:
    started = time.perf_counter()
    while (done := check()) < total:
        if time.perf_counter() - started > seconds:
            raise SystemExit(f"timed out: {done} of {total} after {seconds:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - started
