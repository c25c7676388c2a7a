"""The way out offered in every follow-up email (CASL): a signed link, or mail to the clinic.

With a public address and a secret key the way out is a signed link to this service
(`/unsubscribe/TOKEN`), offered in the footer and as an RFC 8058 one-click
`List-Unsubscribe` header. Without them it falls back to an email to the clinic.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from email.utils import parseaddr
from urllib.parse import quote

from reminders.config import Settings
from reminders.models import Patient

# Separates the signatures of unsubscribe links from anything else signed with the key.
_PURPOSE = b"unsubscribe:"


def unsubscribe_url(settings: Settings, patient: Patient) -> str:
    """The patient's signed https link, else a mailto: link, else "" (no address at all)."""
    if signed_links(settings):
        return f"{settings.public_url.rstrip('/')}/unsubscribe/{make_token(settings, patient)}"
    return _mailto(settings)


def unsubscribe_headers(settings: Settings, patient: Patient) -> dict[str, str]:
    """RFC 2369 `List-Unsubscribe`, plus RFC 8058 one-click when the link is ours."""
    mailto = _mailto(settings)
    if not signed_links(settings):
        return {"List-Unsubscribe": f"<{mailto}>"} if mailto else {}
    links = [unsubscribe_url(settings, patient), *([mailto] if mailto else [])]
    return {
        "List-Unsubscribe": ", ".join(f"<{link}>" for link in links),
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def signed_links(settings: Settings) -> bool:
    return bool(settings.public_url and settings.secret_key)


def make_token(settings: Settings, patient: Patient) -> str:
    """The patient's external id and its HMAC-SHA256; no expiry (CASL: valid >= 60 days)."""
    name = patient.external_id.encode()
    return f"{b64(name)}.{b64(_signature(settings, name))}"


def patient_of(settings: Settings, token: str) -> str | None:
    """The external id a token names, or None when it was not signed with our key."""
    if not settings.secret_key:
        return None
    encoded, _, signature = token.partition(".")
    try:
        name, sent = unb64(encoded), unb64(signature)
    except (binascii.Error, ValueError):
        return None
    if not hmac.compare_digest(sent, _signature(settings, name)):
        return None
    try:
        return name.decode()
    except UnicodeDecodeError:
        return None


def _mailto(settings: Settings) -> str:
    address = settings.clinic.email or parseaddr(settings.email_from)[1]
    if not address:
        return ""
    return f"mailto:{address}?subject={quote('unsubscribe')}"


def _signature(settings: Settings, name: bytes) -> bytes:
    return hmac.new(settings.secret_key.encode(), _PURPOSE + name, hashlib.sha256).digest()


def b64(data: bytes) -> str:
    """URL-safe base64 without padding: the parts of a signed token."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text: str) -> bytes:
    """The bytes of a `b64` part; binascii.Error or ValueError when it is not one."""
    if not text:
        raise ValueError("empty")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
