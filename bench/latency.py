"""Latency and pace: one 2-core worker node against a loopback Twilio answering after 200 ms.

    .venv/bin/python bench/latency.py [--messages 3000] [--rate 100] [--latency 0.2]

Counted on the provider's side (when each create reached the loopback Twilio), in one run,
with PostgreSQL, Redis and one `celery -A worker worker --concurrency 2` node:

1. capacity: SMS due at once, sustained SMS/s. Baseline in the same run: the same node
   with one provider call at a time per process (`REMINDERS_SEND_CONCURRENCY=1`), which is
   how the service sent before calls overlapped.
2. pace: with `REMINDERS_SMS_RATE_PER_SECOND`, the segments per second reached and the
   busiest 1-second window, which must never exceed the rate.
3. latency at 80% of capacity: reminders falling due steadily at 0.8 x the capacity just
   measured, dispatched every second as beat would; p50 and p99 of arrival minus due time.

These machines are noisy: compare the ratio and the shape, not the absolute rates.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import ROOT, fresh_database, seed, worker
from tests.fakes.twilio_api import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FakeTwilio,
    RandomFaults,
    SentSMS,
    segments,
)

LOG = Path("/tmp/bench-latency-worker.log")


class TimedTwilio(FakeTwilio):
    """The loopback Twilio, also noting when (to the microsecond) it accepted each message."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def _created(self) -> datetime:
        self.arrivals.append(time.time())  # under the fake's lock, in step with `messages`
        return super()._created()

    def arrived(self) -> list[tuple[float, SentSMS]]:
        return list(zip(self.arrivals, self.messages, strict=False))


def environment(url: str, broker: str, twilio: FakeTwilio, **more: str) -> dict[str, str]:
    # Each run names its own settings: none may linger from the run before.
    for name in [n for n in os.environ if n.startswith("REMINDERS_")]:
        del os.environ[name]
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "REMINDERS_DATABASE_URL": url,
        "REMINDERS_BROKER_URL": broker,
        "REMINDERS_SMS_BACKEND": "twilio",
        "REMINDERS_TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "REMINDERS_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "REMINDERS_TWILIO_FROM": "+15877000000",
        "REMINDERS_TWILIO_API_URL": twilio.url,
        "REMINDERS_QUIET_HOURS__START": "00:00",
        "REMINDERS_QUIET_HOURS__END": "00:00",
        **{f"REMINDERS_{k.upper()}": v for k, v in more.items()},
    }


class Dispatcher:
    """What beat does with a 1-second interval: a dispatch pass every second, in a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Dispatcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _run(self) -> None:
        from reminders.config import Settings
        from reminders.sending.dispatch import dispatch_due
        from reminders.worker.tasks import send_messages

        os.environ.update(self.env)
        settings = Settings()
        while not self._done.is_set():
            dispatch_due(settings, datetime.now(UTC), send=lambda ids: send_messages.delay(ids))
            self._done.wait(1.0)


def run(
    args: argparse.Namespace,
    count: int,
    due: list[datetime] | None = None,
    **more: str,
) -> list[tuple[float, SentSMS]]:
    """Seed `count` due SMS, run one worker node and the dispatcher until all arrived."""
    twilio = TimedTwilio()
    twilio.start()
    twilio.inject(RandomFaults(latency=args.latency))
    try:
        with fresh_database(args.database) as url:
            env = environment(url, args.broker, twilio, **more)
            os.environ.update(env)
            from reminders.worker.app import app

            app.conf.broker_url = args.broker
            now = datetime.now(UTC)
            seed(url, count, now, due)
            with worker(env, 2, LOG, app="worker"), Dispatcher(env):
                deadline = time.monotonic() + 600
                while len(twilio.messages) < count and time.monotonic() < deadline:
                    time.sleep(0.1)
            return twilio.arrived()
    finally:
        twilio.stop()


def sustained(arrived: list[tuple[float, SentSMS]]) -> float:
    times = [at for at, _ in arrived]
    return (len(times) - 1) / (max(times) - min(times)) if len(times) > 1 else 0.0


def busiest_second(arrived: list[tuple[float, SentSMS]]) -> int:
    """The most segments that arrived within any 1-second window."""
    timed = sorted((at, segments(sms.body)) for at, sms in arrived)
    best, total, start = 0, 0, 0
    for at, units in timed:
        total += units
        while timed[start][0] <= at - 1.0:
            total -= timed[start][1]
            start += 1
        best = max(best, total)
    return best


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--baseline-messages", type=int, default=200)
    parser.add_argument("--rate", type=float, default=100.0, help="segments per second")
    parser.add_argument("--latency", type=float, default=0.2, help="Twilio's answer, seconds")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the steady load")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--database", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument(
        "--parts",
        default="capacity,pace,latency",
        help="which measures to run, comma-separated (latency needs capacity)",
    )
    args = parser.parse_args()
    parts = set(args.parts.split(","))

    print(f"Twilio answers after {args.latency * 1000:.0f} ms; one node, 2 worker processes")
    if "capacity" in parts:
        capacity = measure_capacity(args)
    if "pace" in parts:
        measure_pace(args)
    if "latency" in parts and "capacity" in parts:
        measure_latency(args, capacity)


def measure_capacity(args: argparse.Namespace) -> float:
    one_at_a_time = sustained(run(args, args.baseline_messages, send_concurrency="1"))
    capacity = sustained(run(args, args.messages))
    print(f"{'capacity':46} {'SMS/s':>8}")
    print(f"{'baseline: one call at a time per process':46} {one_at_a_time:8.1f}")
    print(f"{'ours: calls in flight (default settings)':46} {capacity:8.1f}")
    print(f"ratio (ours / baseline): {capacity / one_at_a_time:.1f}")
    return capacity


def measure_pace(args: argparse.Namespace) -> None:
    pace_count = int(args.rate * 6)
    paced = run(args, pace_count, sms_rate_per_second=str(args.rate))
    units = sum(segments(sms.body) for _, sms in paced)
    span = max(at for at, _ in paced) - min(at for at, _ in paced)
    each = units / pace_count
    print(f"\npace: limit {args.rate:g} segments/s per sender, {pace_count} SMS of {each:.1f}")
    print(f"  reached {units / span:.1f} segments/s ({units / span / args.rate:.0%} of the limit)")
    print(f"  busiest 1-second window: {busiest_second(paced)} segments (limit {args.rate:g})")


def measure_latency(args: argparse.Namespace, capacity: float) -> None:
    steady = 0.8 * capacity
    count = int(steady * args.seconds)
    start = datetime.now(UTC) + timedelta(seconds=15)  # after the seeding and the start
    due = [start + timedelta(seconds=i / steady) for i in range(count)]
    arrived = run(args, count, due)
    due_by_phone = {f"+1403{5550000 + i + 1:07d}": due[i].timestamp() for i in range(count)}
    waits = [at - due_by_phone[sms.to] for at, sms in arrived]
    print(f"\nlatency at 80% of capacity: {count} SMS due at {steady:.0f}/s for {args.seconds:g} s")
    p50, p99 = percentile(waits, 0.5), percentile(waits, 0.99)
    print(f"  arrival minus due: p50 {p50:.2f} s, p99 {p99:.2f} s")


if __name__ == "__main__":
    main()
