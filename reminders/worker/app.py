"""The Celery application, configured from `celeryconfig`, with the tasks registered."""

from __future__ import annotations

import gc
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from celery import Celery, bootsteps
from celery.signals import after_setup_logger, worker_init, worker_process_init, worker_ready

from reminders import store
from reminders.channels import warm_up as warm_channels
from reminders.config import Settings, get_settings
from reminders.ops import heartbeat

_log = logging.getLogger(__name__)
app = Celery("reminders")
app.config_from_object("celeryconfig")

import reminders.worker.tasks  # noqa: E402,F401  (registers the tasks with this app)


@worker_init.connect
def _warm_up(**_: Any) -> None:
    """Migrate and import the database driver and the channels once, in the main process
    before the pool forks: each pool process (and each one started again after a crash)
    would otherwise spend seconds of CPU on it before its first send."""
    settings = get_settings()
    try:
        store.sessions(settings.database_url)
        warm_channels(settings)
    except Exception:  # the pool processes try again on first use, and say why
        _log.warning("could not prepare the database or channels before forking", exc_info=True)
    # Modules, engine and channels live as long as the processes: a full collection in a
    # pool process no longer walks them, nor writes to the pages it shares with this one.
    gc.freeze()


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    store.after_fork()


class Heartbeat(bootsteps.StartStopStep):
    """Every WORKER_INTERVAL seconds the worker's own timer writes `worker:<hostname>`: a
    worker is seen alive even when nothing is due (and even when beat has stopped)."""

    requires = ("celery.worker.components:Timer",)

    def __init__(self, worker: Any, **kwargs: Any) -> None:
        super().__init__(worker, **kwargs)
        self.tref: Any = None

    def start(self, worker: Any) -> None:
        self._beat(worker)
        self.tref = worker.timer.call_repeatedly(
            heartbeat.WORKER_INTERVAL, self._beat, (worker,), priority=10
        )

    def stop(self, worker: Any) -> None:
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None

    def _beat(self, worker: Any) -> None:
        try:
            name = heartbeat.WORKER_PREFIX + worker.hostname
            heartbeat.record(get_settings(), name, datetime.now(UTC))
        except Exception:  # a missed heartbeat shows as age; it must not stop the worker
            _log.warning("heartbeat not recorded", exc_info=True)


app.steps["worker"].add(Heartbeat)


# Celery's own lines at INFO say nothing a clinic needs ("Task ... received", "Task ...
# succeeded in 0.1s: None", beat's "Sending due task" every few seconds); the send task
# logs each batch in words instead. Warnings and errors from these loggers still show.
QUIETED = ("celery.app.trace", "celery.worker.strategy", "celery.beat")


@after_setup_logger.connect
def _quiet_celery(loglevel: int | str = logging.INFO, **_: Any) -> None:
    level = loglevel if isinstance(loglevel, int) else logging.getLevelName(loglevel.upper())
    if level == logging.DEBUG:
        return  # asked for everything
    for name in QUIETED:
        logging.getLogger(name).setLevel(logging.WARNING)


def run_worker(
    settings: Settings, *, loglevel: str = "INFO", concurrency: int = 2, announce: str = ""
) -> None:
    """Worker and beat in one process tree: the whole service on one machine.

    `announce` is printed once the worker is ready, below Celery's banner, where it is seen.
    """
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    if announce:
        # Celery turns print() into WARNING log lines: the real stdout keeps it plain.
        worker_ready.connect(
            lambda **_: print(announce, file=sys.__stdout__, flush=True), weak=False
        )
    app.worker_main(
        [
            "worker",
            "--beat",
            f"--loglevel={loglevel}",
            f"--concurrency={concurrency}",
            "--without-gossip",
            "--without-mingle",
        ]
    )
