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

from bench.support import ROOT, cpu_seconds, fresh_database, seed, wait_until, worker
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
        with worker(env, args.concurrency, Path("/tmp/bench-worker.log")) as node:
            baseline = baseline_cpu = float("nan")
            if not args.no_baseline:
                started, cpu = time.perf_counter(), cpu_seconds(node)
                for _ in range(args.messages):
                    noop.delay()
                done = lambda: int(cast(bytes | None, counter.get("bench:noop")) or 0)  # noqa: E731
                baseline = wait_until(done, args.messages, 600)
                baseline = max(baseline, time.perf_counter() - started)
                baseline_cpu = cpu_seconds(node) - cpu

            started, cpu = time.perf_counter(), cpu_seconds(node)
            dispatch_due(get_settings(), now, send=lambda ids: send_messages.delay(ids))
            wait_until(lambda: len(twilio.messages), args.messages, 1200)
            ours = time.perf_counter() - started
            ours_cpu = cpu_seconds(node) - cpu
    finally:
        counter.flushdb()

    rate_ours, rate_base = args.messages / ours, args.messages / baseline
    per_ours, per_base = 1000 * ours_cpu / args.messages, 1000 * baseline_cpu / args.messages
    print(f"{args.messages} messages, {args.concurrency} worker processes, broker {args.broker}")
    print(f"{'path':40} {'seconds':>8} {'msg/s':>8} {'worker CPU ms/msg':>18}")
    rows = [
        ("bare no-op Celery task per message", baseline, rate_base, per_base),
        ("claim -> worker -> Twilio (loopback)", ours, rate_ours, per_ours),
    ]
    for name, seconds, rate, per in rows:
        print(f"{name:40} {seconds:8.1f} {rate:8.0f} {per:18.2f}")
    print(f"ratio (ours / baseline), wall clock: {rate_ours / rate_base:.2f}")
    # The worker node's CPU per message: what a CPU-bound node's rate follows, and, unlike
    # the wall clock, not what else this shared machine is doing at the time.
    print(f"ratio (ours / baseline), messages per worker CPU second: {per_base / per_ours:.2f}")


if __name__ == "__main__":
    main()
