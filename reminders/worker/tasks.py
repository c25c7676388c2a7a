"""Thin Celery tasks: they take ids and call plain functions of the package."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import shared_task

from reminders.config import get_settings
from reminders.feedback.reconcile import reconcile_unknown
from reminders.ops import heartbeat, retention
from reminders.sending.dispatch import dispatch_due, send_claimed
from reminders.worker.batch_log import describe_batch

_log = logging.getLogger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


def _enqueue(ids: list[int]) -> None:
    send_messages.delay(ids)


@shared_task(name="reminders.dispatch", ignore_result=True)
def dispatch() -> None:
    """Beat calls this every few seconds; two at once are safe (conditional claims)."""
    settings = get_settings()
    dispatch_due(settings, _now(), send=_enqueue)
    # Stamped after the pass: the heartbeat says a whole pass ran, not that one began.
    heartbeat.record(settings, heartbeat.BEAT, _now())


@shared_task(name="reminders.send_messages", ignore_result=True, acks_late=True)
def send_messages(message_ids: list[int]) -> None:
    """Send claimed messages; a redelivered task finds them no longer queued and does nothing."""
    settings, now = get_settings(), _now()
    if send_claimed(settings, message_ids, now).outcomes:
        _log.info(describe_batch(settings, message_ids, now))


@shared_task(name="reminders.reconcile", ignore_result=True)
def reconcile() -> None:
    reconcile_unknown(get_settings(), _now())


@shared_task(name="reminders.purge", ignore_result=True)
def purge() -> None:
    """Daily: erase message text and addresses past retention_days (0 keeps them)."""
    retention.purge(get_settings(), _now())
