"""Channels by name, imported on first use (like kombu's transport aliases)."""

from __future__ import annotations

from functools import lru_cache
from importlib import import_module

from reminders.channels.base import Channel
from reminders.config import Settings

REGISTRY = {
    "twilio": "reminders.channels.twilio:TwilioSMS",
    "smtp": "reminders.channels.smtp:SMTPEmail",
    "outbox": "reminders.channels.outbox:Outbox",
}


def backend_for(settings: Settings, channel: str) -> str:
    return settings.sms_backend if channel == "sms" else settings.email_backend


@lru_cache(maxsize=16)
def _load(path: str) -> type:
    module, name = path.split(":")
    cls: type = getattr(import_module(module), name)
    return cls


def channel_for(settings: Settings, channel: str) -> Channel:
    """A ready channel object; each class takes the settings and nothing else."""
    cls = _load(REGISTRY[backend_for(settings, channel)])
    instance: Channel = cls(settings)
    return instance


def warm_up(settings: Settings) -> None:
    """Import the configured channels' modules (and their clients' dependencies) now."""
    for channel in ("sms", "email"):
        _load(REGISTRY[backend_for(settings, channel)])
