"""The self-service link in reminder and nudge emails: a signed, expiring token per session.

`/appointment/TOKEN` lets the patient confirm the session or ask for another time, with no
login: the token is the authority, so it names one session and carries its own end. It is
signed with the secret key under a purpose of its own (an unsubscribe token never passes
for one). Offered only with a public address and a secret key, like the unsubscribe link.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from reminders.config import Settings
from reminders.models import Session
from reminders.wording.unsubscribe_links import b64, signed_links, unb64

_PURPOSE = b"session-link:"
# A link works this long after the later of its email and the session's start: long enough
# for a nudge read late, or for "the session has passed, call us" to be the page's answer.
LIFETIME = timedelta(days=14)
PATH = "/appointment/"


class LinkProblem(StrEnum):
    INVALID = "invalid"  # not signed with our key, cut, or not a token at all
    EXPIRED = "expired"  # ours, but past its end


@dataclass(frozen=True)
class SessionLink:
    session_id: str  # the session's external id
    expires_at: datetime


def session_url(settings: Settings, session: Session, now: datetime) -> str:
    """The session's self-service link, or "" when links cannot be signed."""
    if not signed_links(settings):
        return ""
    return f"{settings.public_url.rstrip('/')}{PATH}{make_token(settings, session, now)}"


def make_token(settings: Settings, session: Session, now: datetime) -> str:
    """`<session id>.<expiry>.<signature>`, each part URL-safe base64."""
    expires = max(session.starts_at, now) + LIFETIME
    name, until = session.external_id.encode(), str(int(expires.timestamp())).encode()
    return f"{b64(name)}.{b64(until)}.{b64(_signature(settings, name, until))}"


def read_token(settings: Settings, token: str, now: datetime) -> SessionLink | LinkProblem:
    """The session a token names, or why it names none (a forged token is never `EXPIRED`)."""
    if not settings.secret_key:
        return LinkProblem.INVALID
    parts = token.split(".")
    if len(parts) != 3:
        return LinkProblem.INVALID
    try:
        name, until, sent = (unb64(part) for part in parts)
        expires = datetime.fromtimestamp(int(until.decode("ascii")), UTC)
        session_id = name.decode()
    except (binascii.Error, ValueError, OverflowError, OSError):
        return LinkProblem.INVALID
    if not hmac.compare_digest(sent, _signature(settings, name, until)):
        return LinkProblem.INVALID
    if now >= expires:
        return LinkProblem.EXPIRED
    return SessionLink(session_id=session_id, expires_at=expires)


def _signature(settings: Settings, name: bytes, until: bytes) -> bytes:
    message = _PURPOSE + name + b"|" + until
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).digest()
