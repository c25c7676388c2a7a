"""The Celery app, its thin tasks and the embedded broker."""
