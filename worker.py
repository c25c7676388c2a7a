"""The Celery app: `celery -A worker worker --beat` runs the service."""

from reminders.worker.app import app

__all__ = ["app"]
