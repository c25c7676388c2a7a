"""How a patient stops follow-up emails (CASL: every such message offers a way out).

Until the web pages exist, the way out is an email to the clinic: staff record the
opt-out, and the next import or reply takes effect for every unsent message.
"""

from __future__ import annotations

from email.utils import parseaddr
from urllib.parse import quote

from reminders.config import Settings


def unsubscribe_url(settings: Settings) -> str:
    """A mailto: link to the clinic, or "" when the clinic has no address at all."""
    address = settings.clinic.email or parseaddr(settings.email_from)[1]
    if not address:
        return ""
    return f"mailto:{address}?subject={quote('unsubscribe')}"


def unsubscribe_headers(settings: Settings) -> dict[str, str]:
    """RFC 2369 `List-Unsubscribe`, which mail apps show as an unsubscribe button."""
    url = unsubscribe_url(settings)
    return {"List-Unsubscribe": f"<{url}>"} if url else {}
