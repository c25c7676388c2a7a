"""Throughput: due reminders from claim to the loopback Twilio server, through Redis and Celery.

    .venv/bin/python bench/throughput.py [--messages 20000] [--database postgresql+psycopg://...]

Measured in the same run, on the same broker and worker settings: a bare no-op Celery
task per message. Compare the ratio, not the absolute rates (this machine is noisy).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import ROOT, fresh_database, seed, wait_until, worker
from tests.fakes.twilio_api import ACCOUNT_SID, AUTH_TOKEN, FakeTwilio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--no-baseline", action="store_true", help="ours only (for a profile)")
    args = parser.parse_args()

    twilio = FakeTwilio().start()
    with fresh_database(args.database) as url:
        run(args, twilio, url)
    twilio.stop()


def run(args: argparse.Namespace, twilio: FakeTwilio, url: str) -> None:
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
    try:
        with worker(env, args.concurrency, Path("/tmp/bench-worker.log")):
            baseline = float("nan")
            if not args.no_baseline:
                started = time.perf_counter()
                for _ in range(args.messages):
                    noop.delay()
                done = lambda: int(cast(bytes | None, counter.get("bench:noop")) or 0)  # noqa: E731
                baseline = wait_until(done, args.messages, 600)
                baseline = max(baseline, time.perf_counter() - started)

            started = time.perf_counter()
            dispatch_due(get_settings(), now, send=lambda ids: send_messages.delay(ids))
            wait_until(lambda: len(twilio.messages), args.messages, 1200)
            ours = time.perf_counter() - started
    finally:
        counter.flushdb()

    rate_ours, rate_base = args.messages / ours, args.messages / baseline
    print(f"{args.messages} messages, {args.concurrency} worker processes, broker {args.broker}")
    print(f"{'path':44} {'seconds':>8} {'msg/s':>8}")
    print(f"{'bare no-op Celery task per message':44} {baseline:8.1f} {rate_base:8.0f}")
    print(f"{'claim -> worker -> Twilio (loopback)':44} {ours:8.1f} {rate_ours:8.0f}")
    print(f"ratio (ours / baseline): {rate_ours / rate_base:.2f}")


if __name__ == "__main__":
    main()
