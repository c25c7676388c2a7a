"""The last sign of life of each part: `beat` when a dispatch pass ran, `worker:<host>` from
each worker's timer. Kept in the database, so it works with any broker, and is read by
`/healthz`, `/metrics` and `reminders doctor`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from reminders import store
from reminders.config import Settings
from reminders.models import Heartbeat

BEAT = "beat"
WORKER_PREFIX = "worker:"
# A worker's timer writes this often; one missing a few of them is taken for gone.
WORKER_INTERVAL = 15.0
WORKER_STALE = timedelta(seconds=4 * WORKER_INTERVAL)


def beat_stale(settings: Settings) -> timedelta:
    """Beat asks for a pass every dispatch_interval; a busy worker may take a while to run one."""
    return max(timedelta(minutes=2), timedelta(seconds=10 * settings.dispatch_interval))


def record(settings: Settings, name: str, now: datetime) -> None:
    """An update, or the first insert; two writers racing on the insert both succeed."""
    with store.transaction(settings.database_url) as db:
        changed = db.execute(update(Heartbeat).where(Heartbeat.name == name).values(at=now))
        if changed.rowcount:  # type: ignore[attr-defined]
            return
    try:
        with store.transaction(settings.database_url) as db:
            db.add(Heartbeat(name=name, at=now))
    except IntegrityError:
        pass  # the other writer's row is as fresh as ours


@dataclass(frozen=True)
class Pulse:
    """What the heartbeats say at `now`."""

    beat: datetime | None
    workers: dict[str, datetime]
    now: datetime
    beat_limit: timedelta

    @property
    def beat_age(self) -> float | None:
        return None if self.beat is None else max((self.now - self.beat).total_seconds(), 0.0)

    @property
    def live_workers(self) -> list[str]:
        return sorted(name for name, at in self.workers.items() if self.now - at <= WORKER_STALE)

    @property
    def youngest_worker_age(self) -> float | None:
        if not self.workers:
            return None
        return max((self.now - max(self.workers.values())).total_seconds(), 0.0)

    def worker_problem(self) -> str | None:
        if self.live_workers:
            return None
        age = self.youngest_worker_age
        if age is None:
            return "no worker has been seen yet"
        return f"no worker seen for {age:.0f} s (limit {WORKER_STALE.total_seconds():.0f} s)"

    def beat_problem(self) -> str | None:
        age = self.beat_age
        if age is None:
            return "beat has not run a dispatch pass yet"
        limit = self.beat_limit.total_seconds()
        if age > limit:
            return f"no dispatch pass for {age:.0f} s (limit {limit:.0f} s): beat stopped?"
        return None


def pulse(settings: Settings, now: datetime) -> Pulse:
    with store.transaction(settings.database_url) as db:
        rows = db.execute(select(Heartbeat.name, Heartbeat.at)).all()
    seen = {name: at for name, at in rows}
    workers = {
        name.removeprefix(WORKER_PREFIX): at
        for name, at in seen.items()
        if name.startswith(WORKER_PREFIX)
    }
    return Pulse(seen.get(BEAT), workers, now, beat_stale(settings))
