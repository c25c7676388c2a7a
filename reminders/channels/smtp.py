"""Email over SMTP, with the server's answers sorted into retry, give up, or unknown."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address, BaseHeader, HeaderRegistry, UnstructuredHeader
from email.message import EmailMessage
from email.policy import Policy
from email.utils import format_datetime, make_msgid, parseaddr

from reminders.channels.base import (
    Attachment,
    ChannelError,
    Outgoing,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from reminders.config import Settings

# RFC 5322 2.1.1: a line MUST be at most 998 characters (78 is only a SHOULD).
MAX_LINE = 998


class ListHeader(UnstructuredHeader, BaseHeader):
    """A header of <links>, written as given on one line: never encoded.

    RFC 8058 receivers read `List-Unsubscribe` literally; the default folding turns a URL
    longer than a line into RFC 2047 encoded words (`=?utf-8?q?=3Chttps...`), which they
    cannot use (Python's own parser decodes it, so a parsing test would not notice). One
    line is within RFC 5322's hard limit; past it, the line breaks after a comma.
    """

    def fold(self, *, policy: Policy) -> str:
        value = str(self)
        if not value.isascii():
            return super().fold(policy=policy)
        line = f"{self.name}: {value}"
        if len(line) <= MAX_LINE:
            return line + policy.linesep
        items = [item.strip() for item in value.split(",")]
        return f"{self.name}: " + f",{policy.linesep} ".join(items) + policy.linesep


HEADERS = HeaderRegistry()
HEADERS.map_to_type("list-unsubscribe", ListHeader)
HEADERS.map_to_type("list-unsubscribe-post", ListHeader)
# 7-bit bodies (quoted-printable or base64 for accented text): no server can mangle them,
# and we need not ask for 8BITMIME.
POLICY = policy.default.clone(cte_type="7bit", header_factory=HEADERS)
FALLBACK_SENDER = "reminders@localhost"
_LOCAL_PART = re.compile(r"[^\s<>@:;,]+@")


def mask_emails(text: str) -> str:
    """Hide the mailbox names in a server's reply; the domain stays for diagnosis."""
    return _LOCAL_PART.sub("***@", text)


def sender_address(settings: Settings) -> Address:
    name, addr = parseaddr(settings.email_from or settings.clinic.email or FALLBACK_SENDER)
    return Address(display_name=name or settings.clinic.name, addr_spec=addr)


def message_id_for(settings: Settings, message_id: int) -> str:
    """A new, globally unique Message-ID for one of our messages, in the sender's domain."""
    return make_msgid(idstring=f"m{message_id}", domain=sender_address(settings).domain)


def build_email(settings: Settings, outgoing: Outgoing) -> EmailMessage:
    """The complete message: headers, text with an optional HTML twin, attachments."""
    sender = sender_address(settings)
    message = EmailMessage(policy=POLICY)
    message["From"] = sender
    message["To"] = outgoing.to
    if outgoing.subject is not None:
        message["Subject"] = outgoing.subject
    now = outgoing.now or datetime.now(UTC)
    message["Date"] = format_datetime(_aware(now).astimezone(settings.clinic.zone))
    message["Message-ID"] = outgoing.reference or message_id_for(settings, outgoing.message_id)
    message.set_content(outgoing.body)
    if outgoing.html:
        message.add_alternative(outgoing.html, subtype="html")
    for attachment in outgoing.attachments:
        _attach(message, attachment)
    for name, value in outgoing.headers.items():
        del message[name]
        message[name] = value
    return message


def _attach(message: EmailMessage, attachment: Attachment) -> None:
    maintype, _, subtype = attachment.content_type.split(";")[0].strip().lower().partition("/")
    # Calendar clients only offer "add to calendar" for a published event.
    params = {"method": "PUBLISH"} if (maintype, subtype) == ("text", "calendar") else {}
    if maintype == "text":
        text = attachment.data.decode("utf-8")
        message.add_attachment(text, subtype=subtype, filename=attachment.filename, params=params)
    else:
        message.add_attachment(
            attachment.data,
            maintype=maintype,
            subtype=subtype,
            filename=attachment.filename,
            params=params,
        )


class SMTPEmail:
    """`send()` returns the Message-ID header of the message the server accepted.

    One session is kept open between sends (a sending thread owns its instance) and
    opened again when the server has dropped it; `close()` ends it.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def send(self, outgoing: Outgoing) -> str:
        message = build_email(self.settings, outgoing)
        sender = sender_address(self.settings).addr_spec
        reused = self._smtp is not None
        try:
            deliver(self._session(), message, sender, outgoing.to)
        except TransientError:
            self.close()
            if not reused:
                raise
            # An idle session the server closed fails before DATA: nothing was handed over.
            deliver(self._session(), message, sender, outgoing.to)
        except PermanentError:
            self._reset()
            raise
        except ChannelError:
            self.close()
            raise
        return str(message["Message-ID"])

    def close(self) -> None:
        if self._smtp is not None:
            _close(self._smtp)
            self._smtp = None

    def _session(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = open_session(self.settings)
        return self._smtp

    def _reset(self) -> None:
        """After a refused message the session may go on, once reset."""
        if self._smtp is None:
            return
        try:
            self._smtp.rset()
        except (smtplib.SMTPException, OSError):
            self.close()


def open_session(settings: Settings) -> smtplib.SMTP:
    """An open, greeted (and logged-in) session; the caller closes it."""
    with _before_data("connect"):
        smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout)
    try:
        with _before_data("session start"):
            _start_session(smtp, settings)
    except ChannelError:
        _close(smtp)
        raise
    return smtp


@contextmanager
def smtp_connection(settings: Settings) -> Iterator[smtplib.SMTP]:
    """An open session for the length of a `with` block; several `deliver()` calls may share it."""
    smtp = open_session(settings)
    try:
        yield smtp
    finally:
        _close(smtp)


def _start_session(smtp: smtplib.SMTP, settings: Settings) -> None:
    smtp.ehlo()
    if settings.smtp_starttls:
        smtp.starttls(context=ssl.create_default_context())
        smtp.ehlo()
    if settings.smtp_username:
        smtp.login(settings.smtp_username, settings.smtp_password)


def deliver(smtp: smtplib.SMTP, message: EmailMessage, sender: str, recipient: str) -> None:
    """One message over an open session; raises a classified error if it was not accepted.

    After an error, reset (`smtp.rset()`) or drop the session before delivering another.
    """
    with _before_data("MAIL FROM"):
        _expect_ok("MAIL FROM", *smtp.mail(sender))
    with _before_data("RCPT TO"):
        _expect_ok("RCPT TO", *smtp.rcpt(recipient))
    try:
        code, reply = smtp.data(message.as_bytes(policy=policy.SMTP))
    except smtplib.SMTPResponseException as exc:
        # DATA itself was refused (no 354), so the message was never handed over.
        raise reply_error("DATA", exc.smtp_code, exc.smtp_error) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise UnknownOutcome(
            f"SMTP connection lost after the message was sent ({type(exc).__name__}); "
            "the server may have accepted it"
        ) from None
    if code == 250:
        return
    if 400 <= code < 600:
        raise reply_error("end of DATA", code, reply)
    raise UnknownOutcome(f"SMTP answered {code} to the message; it may have been accepted")


def reply_error(stage: str, code: int, reply: bytes | str) -> ChannelError:
    """4xx: try again later; 5xx: the server will not take it."""
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    message = f"SMTP {code} at {stage}: {mask_emails(text)}"
    if 500 <= code < 600:
        return PermanentError(message, code=str(code))
    return TransientError(message, code=str(code))


def _expect_ok(stage: str, code: int, reply: bytes) -> None:
    if code not in (250, 251):
        raise reply_error(stage, code, reply)


@contextmanager
def _before_data(stage: str) -> Iterator[None]:
    """Failures before DATA: nothing was handed over, so a retry cannot duplicate."""
    try:
        yield
    except smtplib.SMTPResponseException as exc:
        raise reply_error(stage, exc.smtp_code, exc.smtp_error) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientError(f"SMTP failed at {stage} ({type(exc).__name__})") from None


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
