"""The channel contract: `send()` returns the provider's id or raises a classified error."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class ChannelError(Exception):
    """Base of the errors a channel raises; the message is safe to log (no contact details)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientError(ChannelError):
    """Nothing was delivered and trying again later may work (429, 5xx, refused connection)."""

    def __init__(
        self, message: str, code: str | None = None, *, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code)
        # The provider asked us to slow down (HTTP 429 and its Retry-After), in seconds.
        self.retry_after = retry_after


class PermanentError(ChannelError):
    """Trying again will not help (invalid number, unsubscribed, landline, rejected address)."""


class OptedOut(PermanentError):
    """The recipient unsubscribed at the provider (Twilio 21610: the number replied STOP)."""

    def __init__(self, message: str, code: str | None = None, *, where: str) -> None:
        super().__init__(message, code)
        self.where = where  # in staff's words: "the number unsubscribed at Twilio"


class UnknownOutcome(ChannelError):
    """The request may have reached the provider (a timeout after sending): never resend blindly."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # e.g. "text/calendar"
    data: bytes


@dataclass(frozen=True)
class Outgoing:
    """One rendered message, ready for a channel."""

    message_id: int
    channel: str  # "sms" or "email"
    to: str  # E.164 phone or email address
    body: str  # SMS text, or the email's plain-text part
    subject: str | None = None
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    headers: dict[str, str] = field(default_factory=dict)
    # The dispatcher's clock (virtual under `tick --now`): outbox file names, Date header.
    now: datetime | None = None
    # After this the message is useless (the session has started); Twilio's validity_period.
    expires_at: datetime | None = None
    # Email: the Message-ID to carry, the same on every attempt of one message.
    reference: str | None = None


class Channel(Protocol):
    """One instance per sending thread: it may keep a connection open between sends."""

    def send(self, outgoing: Outgoing) -> str:
        """Send one message; return the provider's id (Twilio SID, Message-ID, file name)."""
        ...

    def close(self) -> None:
        """Let go of any open connection; the instance may still send afterwards."""
        ...
