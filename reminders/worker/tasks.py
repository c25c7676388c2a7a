"""Thin Celery tasks: they take ids and call plain functions of the package."""

from __future__ import annotations

from datetime import UTC, datetime

from celery import shared_task

from reminders.config import get_settings
from reminders.feedback.reconcile import reconcile_unknown
from reminders.sending.dispatch import dispatch_due, send_claimed


def _now() -> datetime:
    return datetime.now(UTC)


def _enqueue(ids: list[int]) -> None:
    send_messages.delay(ids)


@shared_task(name="reminders.dispatch", ignore_result=True)
def dispatch() -> None:
    """Beat calls this every few seconds; two at once are safe (conditional claims)."""
    dispatch_due(get_settings(), _now(), send=_enqueue)


@shared_task(name="reminders.send_messages", ignore_result=True, acks_late=True)
def send_messages(message_ids: list[int]) -> None:
    """Send claimed messages; a redelivered task finds them no longer queued and does nothing."""
    send_claimed(get_settings(), message_ids, _now())


@shared_task(name="reminders.reconcile", ignore_result=True)
def reconcile() -> None:
    reconcile_unknown(get_settings(), _now())
