"""Throughput: due reminders from claim to the loopback Twilio server, through Redis and Celery.

    .venv/bin/python bench/throughput.py [--messages 20000] [--database postgresql+psycopg://...]

Measured in the same run, on the same broker and worker settings: a bare no-op Celery
task per message. Compare the ratio, not the absolute rates (this machine is noisy).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
from sqlalchemy import create_engine, insert, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reminders import store  # noqa: E402
from reminders.models import Message, Patient, Series, Session  # noqa: E402
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio  # noqa: E402


def seed(url: str, count: int, now: datetime) -> None:
    """`count` patients, each with one session tomorrow and one SMS reminder due now."""
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
                    "due_at": now,
                    "expires_at": starts,
                    "before_session": True,
                    "attempts": 0,
                    "triggered_by": "planner",
                    "created_at": now,
                }
                for i in range(1, count + 1)
            ],
        )


def fresh_postgres_schema(base: str) -> str:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    engine = create_engine(base)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    engine.dispose()
    return f"{base}?options=-csearch_path%3D{schema}"


def start_worker(env: dict[str, str], concurrency: int, log: Path) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.app",
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


def wait_until(check: object, total: int, seconds: float) -> float:
    started = time.perf_counter()
    while (done := check()) < total:  # type: ignore[operator]
        if time.perf_counter() - started > seconds:
            raise SystemExit(f"timed out: {done} of {total} after {seconds:.0f} s")
        time.sleep(0.05)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()

    twilio = FakeTwilio().start()
    url = (
        fresh_postgres_schema(args.database)
        if args.database.startswith("postgres")
        else args.database
    )
    counter = redis.Redis.from_url(args.broker)
    counter.flushdb()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "BENCH_COUNTER_URL": args.broker,
        "REMINDERS_DATABASE_URL": url,
        "REMINDERS_BROKER_URL": args.broker,
        "REMINDERS_SMS_BACKEND": "twilio",
        "REMINDERS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "REMINDERS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "REMINDERS_TWILIO_FROM": "+15877000000",
        "REMINDERS_TWILIO_API_URL": twilio.url,
        "REMINDERS_QUIET_HOURS__START": "00:00",
        "REMINDERS_QUIET_HOURS__END": "00:00",
    }
    os.environ.update(env)
    from bench.app import noop  # after the environment: the app reads its settings at import
    from reminders.config import get_settings
    from reminders.sending.dispatch import dispatch_due
    from reminders.worker.tasks import send_messages

    now = datetime.now(UTC)
    seed(url, args.messages, now)
    worker = start_worker(env, args.concurrency, Path("/tmp/bench-worker.log"))
    try:
        time.sleep(3)  # let the worker connect before the clock starts
        started = time.perf_counter()
        for _ in range(args.messages):
            noop.delay()
        baseline = wait_until(lambda: int(counter.get("bench:noop") or 0), args.messages, 600)
        baseline = max(baseline, time.perf_counter() - started)

        started = time.perf_counter()
        dispatch_due(get_settings(), now, send=lambda ids: send_messages.delay(ids))
        wait_until(lambda: len(twilio.messages), args.messages, 1200)
        ours = time.perf_counter() - started
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)
        twilio.stop()
        counter.flushdb()

    rate_ours, rate_base = args.messages / ours, args.messages / baseline
    print(f"{args.messages} messages, {args.concurrency} worker processes, broker {args.broker}")
    print(f"{'path':44} {'seconds':>8} {'msg/s':>8}")
    print(f"{'bare no-op Celery task per message':44} {baseline:8.1f} {rate_base:8.0f}")
    print(f"{'claim -> worker -> Twilio (loopback)':44} {ours:8.1f} {rate_ours:8.0f}")
    print(f"ratio (ours / baseline): {rate_ours / rate_base:.2f}")


if __name__ == "__main__":
    main()
