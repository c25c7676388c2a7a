"""The Celery application, configured from `celeryconfig`, with the tasks registered."""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from reminders import store
from reminders.config import Settings

app = Celery("reminders")
app.config_from_object("celeryconfig")

import reminders.worker.tasks  # noqa: E402,F401  (registers the tasks with this app)


@worker_process_init.connect
def _fresh_connections(**_: Any) -> None:
    store.after_fork()


def run_worker(settings: Settings, *, loglevel: str = "INFO", concurrency: int = 2) -> None:
    """Worker and beat in one process tree: the whole service on one machine."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
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
