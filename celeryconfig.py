"""Celery settings, lowercase, every value taken from the one settings object."""

from reminders.config import get_settings

_settings = get_settings()
_settings.state_dir.mkdir(parents=True, exist_ok=True)

if _settings.embedded_broker:
    # kombu's filesystem transport: a real broker in a folder, for a machine with no Redis.
    _folder = _settings.state_dir / "broker"
    _folder.mkdir(parents=True, exist_ok=True)
    broker_url = "filesystem://localhost/"
    broker_transport = "reminders.worker.broker:FolderTransport"
    broker_transport_options = {
        "data_folder_in": str(_folder),
        "data_folder_out": str(_folder),
        "store_processed": False,
    }
else:
    broker_url = _settings.broker_url
    # Tasks here are short and never scheduled ahead (no ETA), so the default hour of
    # visibility only matters for a worker lost mid-task; the database lease covers it.
    broker_transport_options = {"visibility_timeout": 3600}

broker_connection_retry_on_startup = True
task_ignore_result = True
task_acks_late = True
worker_prefetch_multiplier = 4
# Task events for Flower and `celery events`: the worker's (received, started, succeeded,
# failed) and the sender's (sent), so a task stuck between beat and a worker shows up.
worker_send_task_events = True
task_send_sent_event = True
task_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True
beat_schedule_filename = str(_settings.state_dir / "celerybeat-schedule")
beat_schedule = {
    "dispatch-due": {
        "task": "reminders.dispatch",
        "schedule": _settings.dispatch_interval,
        # A pass that could not start in time is dropped: the next one does the same work.
        "options": {"expires": _settings.dispatch_interval * 2},
    },
    "reconcile-unknown": {
        "task": "reminders.reconcile",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}
if _settings.retention_days:
    beat_schedule["purge-old-text"] = {
        "task": "reminders.purge",
        "schedule": 24 * 3600.0,
        "options": {"expires": 3600.0},
    }
