"""The development channel: every send becomes one new file in the outbox folder."""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from email.policy import SMTP
from pathlib import Path
from uuid import uuid4

from reminders.channels.base import Outgoing, PermanentError
from reminders.channels.smtp import build_email
from reminders.config import Settings

# Twilio's own magic test number for "not a mobile number": the outbox refuses it as Twilio
# refuses a landline (error 21614), so the demo clinic can show a refused SMS and its email
# fallback without Twilio. It is outside the 555-01xx range the tests' patients use, and no
# real patient has it.
LANDLINE = "+15005550009"
LANDLINE_CODE = "21614"


class OutboxClash(FileExistsError):
    """Two sends got the same file name: the naming scheme is wrong, not the message."""


class Outbox:
    """Writes `.eml` for email and `.json` for SMS; `send()` returns the file name.

    Each send makes a new file and never replaces one, so a duplicate send shows up as
    a second file: the outbox is the evidence for exactly-once tests.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.folder = Path(settings.outbox_dir)

    def send(self, outgoing: Outgoing) -> str:
        sent_at = _utc(outgoing.now or datetime.now(UTC))
        if outgoing.channel == "email":
            content, suffix = build_email(self.settings, outgoing).as_bytes(policy=SMTP), ".eml"
        elif outgoing.channel == "sms":
            if outgoing.to == LANDLINE:
                raise PermanentError(
                    f"outbox: the demo landline cannot receive SMS (as Twilio: {LANDLINE_CODE})",
                    code=LANDLINE_CODE,
                )
            content, suffix = self._sms_json(outgoing, sent_at), ".json"
        else:
            raise ValueError(f"the outbox has no format for channel {outgoing.channel!r}")
        name = f"{sent_at:%Y%m%dT%H%M%SZ}-{outgoing.message_id:06d}-{outgoing.channel}"
        return write_new(self.folder, f"{name}-{uuid4().hex[:8]}{suffix}", content)

    def close(self) -> None:
        """Nothing stays open between files."""

    def _sms_json(self, outgoing: Outgoing, sent_at: datetime) -> bytes:
        record = {
            "to": outgoing.to,
            "from": self.settings.twilio_from or self.settings.clinic.phone,
            "body": outgoing.body,
            "message_id": outgoing.message_id,
            "sent_at": sent_at.isoformat(),
        }
        return json.dumps(record, ensure_ascii=False, indent=2).encode("utf-8")


def write_new(folder: Path, name: str, content: bytes) -> str:
    """Create `folder/name` with `content` all at once; refuse if it exists."""
    folder.mkdir(parents=True, exist_ok=True)
    # Written under a hidden temporary name, then linked: a reader never sees half a file,
    # and link(), unlike rename(), fails instead of replacing an existing file.
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
        try:
            os.link(temporary, folder / name)
        except FileExistsError:
            raise OutboxClash(
                f"outbox file {name} already exists; nothing was overwritten"
            ) from None
    finally:
        os.unlink(temporary)
    return name


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC) if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
