"""The service's Celery app plus a bare no-op task: the baseline on the same broker and worker."""

from __future__ import annotations

import os

import redis

from reminders.worker.app import app

_counter = redis.Redis.from_url(os.environ["BENCH_COUNTER_URL"])


@app.task(name="bench.noop", ignore_result=True)
def noop() -> None:
    _counter.incr("bench:noop")


__all__ = ["app", "noop"]
