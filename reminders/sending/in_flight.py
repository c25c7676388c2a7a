"""A live worker's provider calls in flight, and the leases it keeps fresh meanwhile."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import SQLAlchemyError

from reminders import store
from reminders.channels.base import ChannelError, Outgoing
from reminders.config import Settings
from reminders.sending.claims import extend_leases

log = logging.getLogger(__name__)

# How long a pass waits, once a call has returned, for others to return with it.
GATHER_SECONDS = 0.005

Outcome = str | ChannelError | Exception
# Makes one call: waits for its slot (`Call.at`), then sends, noting outcome and time taken.
Make = Callable[["Call"], None]


@dataclass
class Call:
    """One provider call: what it sent, under which attempt, and (once back) its outcome."""

    outgoing: Outgoing
    token: str
    at: float = 0.0  # when to start it (time.monotonic()): its slot under a rate limit
    outcome: Outcome = ""
    elapsed_ms: int = 0


_idle_threads: dict[tuple[int, int], list[ThreadPoolExecutor]] = {}
_threads_lock = threading.Lock()


@contextmanager
def sending_threads(size: int) -> Iterator[ThreadPoolExecutor]:
    """Sending threads for one batch, kept for the next one when it is done: starting 48
    threads for every batch cost a sixth of a worker's time. Two batches at once (a thread
    pool) get threads of their own; a forked child makes its own."""
    key = (os.getpid(), size)
    with _threads_lock:
        idle = _idle_threads.setdefault(key, [])
        threads = idle.pop() if idle else ThreadPoolExecutor(size, thread_name_prefix="send")
    try:
        yield threads
    finally:
        with _threads_lock:
            _idle_threads[key].append(threads)


class Calls:
    """Provider calls in flight, each in a thread of its own, at most `workers` at once."""

    def __init__(self, make: Make, workers: int, threads: ThreadPoolExecutor) -> None:
        self.make = make
        self.workers = workers
        self._pool = threads
        self._running: dict[Future[Call], Call] = {}

    def __enter__(self) -> Calls:
        return self

    def __exit__(self, *_: object) -> None:
        wait(self._running)  # leaving early (an error): let the calls made so far return

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def free(self) -> int:
        return self.workers - len(self._running)

    def submit(self, outgoing: Outgoing, token: str, at: float = 0.0) -> None:
        call = Call(outgoing, token, at)
        self._running[self._pool.submit(self._make, call)] = call

    def finished(self, timeout: float | None) -> list[Call]:
        """The calls that came back, waiting up to `timeout` (None: until one does)."""
        if not self._running:
            if timeout:
                time.sleep(timeout)
            return []
        done, _ = wait(self._running, timeout=timeout, return_when=FIRST_COMPLETED)
        if done and len(done) < len(self._running):
            # A moment more gathers the calls about to return: one record for many.
            done, _ = wait(self._running, timeout=GATHER_SECONDS, return_when=ALL_COMPLETED)
        for future in done:
            del self._running[future]
        return [future.result() for future in done]

    def _make(self, call: Call) -> Call:
        self.make(call)
        return call


class Clock:
    """The dispatcher's `now` (virtual under `tick --now`) moving on with real time."""

    def __init__(self, start: datetime) -> None:
        self.start, self._began = start, time.monotonic()

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=time.monotonic() - self._began)


class Holding:
    """The rows a live worker holds: a thread extends their leases until each is released.

    Without it a slow provider would make a working worker's rows look dead once a batch
    ran longer than the lease, and they would be declared unknown and sent again.
    """

    def __init__(self, settings: Settings, ids: Iterable[int], clock: Clock) -> None:
        self.settings, self.clock = settings, clock
        self._held = set(ids)
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="lease", daemon=True)

    def __enter__(self) -> Holding:
        self.extend()  # the task may have waited in the broker since its claim
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def release(self, message_id: int) -> None:
        with self._lock:
            self._held.discard(message_id)

    def extend(self) -> None:
        with self._lock:
            held = list(self._held)
        until = self.clock() + timedelta(seconds=self.settings.lease_seconds)
        try:
            with store.transaction(self.settings.database_url) as db:
                extend_leases(db, held, until)
        except SQLAlchemyError as exc:
            log.warning("could not extend %d leases: %s", len(held), type(exc).__name__)

    def _beat(self) -> None:
        while not self._done.wait(self.settings.lease_seconds / 3):
            self.extend()
