"""SMS through Twilio's Messages API, with its errors sorted into retry, give up, or unknown."""

from __future__ import annotations

import logging
import os
import re
from base64 import b64encode
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import urllib3
from requests.utils import DEFAULT_CA_BUNDLE_PATH, get_environ_proxies
from twilio.base.exceptions import TwilioException
from twilio.http import HttpClient
from twilio.http.response import Response
from twilio.rest import Client
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    LocationValueError,
    NewConnectionError,
    ProxyError,
    SSLError,
)

from reminders.channels.base import (
    ChannelError,
    OptedOut,
    Outgoing,
    PermanentError,
    TransientError,
    UnknownOutcome,
)
from reminders.config import Settings

# Twilio codes worth another try: rate limit, unreachable handset, internal, unknown.
TRANSIENT_CODES = frozenset({20429, 30003, 30500, 30008})
# Invalid number, STOP, not mobile, blocked, unknown number, landline, spam filter.
PERMANENT_CODES = frozenset({21211, 21610, 21614, 21635, 30004, 30005, 30006, 30007})
# "Attempt to send to unsubscribed recipient": the number replied STOP to Twilio.
UNSUBSCRIBED = 21610
MAX_VALIDITY_SECONDS = 36000
# A patient gets a few messages a week: this many back covers any reconciliation window.
RECONCILE_LOOKBACK = 100

# Twilio's delivery statuses in the order a message goes through them; rank 3 is final.
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 0,
    "sending": 1,
    "sent": 2,
    "delivered": 3,
    "undelivered": 3,
    "failed": 3,
    "canceled": 3,
}
# Statuses after which Twilio reports nothing more about a message.
FINAL_STATUSES = ("delivered", "undelivered", "failed", "read", "canceled")
# Errors meaning the number will not take SMS: in a delivery report (unreachable, unknown)
# or refusing the send (landline, invalid number, not SMS-capable, region not enabled).
CANNOT_RECEIVE_SMS = frozenset({"30003", "30005", "30006", "21614", "21211", "21612", "21408"})

# Errors in which the request never left this machine, so a retry cannot duplicate it
# (urllib3 raises them as they are: its pool makes no retries of its own).
_NEVER_SENT = (ConnectTimeoutError, NewConnectionError, ProxyError, SSLError, LocationValueError)
# twilio-python logs every request's query string at INFO; a listing's query holds the number.
_HTTP_LOG = logging.getLogger(f"{__name__}.http")
_HTTP_LOG.setLevel(logging.WARNING)
_PHONE = re.compile(r"\+?\(?\d[\d ().-]{4,}\d")


def mask_phones(text: str) -> str:
    """Hide every phone number in `text` but its last two digits."""
    return _PHONE.sub(lambda match: "***" + re.sub(r"\D", "", match.group())[-2:], text)


class PooledHttp(HttpClient):  # type: ignore[misc]  # twilio ships no type hints
    """The twilio client's HTTP layer on one urllib3 connection, kept alive between calls.

    twilio's own `TwilioHttpClient` goes through requests, which merges settings, hooks and
    the environment again on every call: half a send's CPU, for what one form-encoded
    request needs. Each instance serves one thread at a time (one per TwilioSMS), like a
    requests session would, and makes no retries: a retried send could go out twice.
    """

    def __init__(self, timeout: float, api_url: str) -> None:
        super().__init__(_HTTP_LOG, False, timeout)
        self._timeout = urllib3.Timeout(connect=timeout, read=timeout)
        settings: dict[str, Any] = {
            "maxsize": 1,
            "retries": False,
            "timeout": self._timeout,
            # The CA bundle requests would use (REQUESTS_CA_BUNDLE, else certifi's).
            "ca_certs": os.environ.get("REQUESTS_CA_BUNDLE") or DEFAULT_CA_BUNDLE_PATH,
        }
        proxies = get_environ_proxies(api_url)  # HTTPS_PROXY and NO_PROXY, read once
        proxy = proxies.get(api_url.partition(":")[0].lower()) or proxies.get("all")
        self.pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **settings) if proxy else urllib3.PoolManager(**settings)
        )
        self.retry_after: str | None = None  # the last answer's Retry-After header

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        sent = dict(headers or {})
        if auth is not None:
            sent["Authorization"] = "Basic " + b64encode(":".join(auth).encode()).decode()
        if params:
            url += "?" + _form(params)
        body = None
        if data is not None:
            body = _form(data)
            sent.setdefault("Content-Type", "application/x-www-form-urlencoded")
        answer = self.pool.request(
            method.upper(),
            url,
            body=body,
            headers=sent,
            redirect=allow_redirects,
            # None would mean no timeout at all: the pool's own applies instead.
            timeout=urllib3.Timeout(connect=timeout, read=timeout) if timeout else self._timeout,
        )
        self.retry_after = answer.headers.get("Retry-After")
        return Response(answer.status, answer.data.decode("utf-8"), answer.headers)

    def close(self) -> None:
        self.pool.clear()


def _form(values: dict[str, object]) -> str:
    """Form-encoded as requests would: a list is one field per item, None is left out."""
    pairs = [
        (key, item)
        for key, value in values.items()
        for item in (value if isinstance(value, list | tuple) else [value])
        if item is not None
    ]
    return urlencode(pairs)


class TwilioSMS:
    """`send()` returns the message SID; `find_sent()` looks for an earlier accepted send."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # One client, one kept-alive connection: reconnecting per message costs a handshake.
        self.http = PooledHttp(settings.twilio_timeout, settings.twilio_api_url)
        self.client = Client(
            settings.twilio_account_sid, settings.twilio_auth_token, http_client=self.http
        )
        self.client.api.base_url = settings.twilio_api_url

    def send(self, outgoing: Outgoing) -> str:
        try:
            message = self.client.messages.create(**self._create_params(outgoing))
        except TwilioException as exc:
            error = classify_twilio_error(exc)
            if isinstance(error, TransientError) and getattr(exc, "status", None) == 429:
                error.retry_after = self._retry_after()
            raise error from None
        except HTTPError as exc:
            raise self._network_error(exc) from None
        sid: str = message.sid
        return sid

    def close(self) -> None:
        self.http.close()

    def _retry_after(self) -> float | None:
        """Twilio's Retry-After on a 429, in seconds."""
        try:
            return max(float(self.http.retry_after or ""), 0.0)
        except ValueError:
            return None

    def find_sent(self, to: str, since: datetime, body: str) -> str | None:
        # Not filtered by DateSent: Twilio compares it by whole day, and a message still
        # queued has no date_sent at all, so that filter would hide the very send we look for.
        try:
            messages = self.client.messages.list(to=to, limit=RECONCILE_LOOKBACK)
        except (TwilioException, HTTPError) as exc:
            # A lookup changes nothing at Twilio: whatever went wrong, asking again is safe.
            raise TransientError(f"Twilio listing failed ({type(exc).__name__})") from None
        # Twilio's dates have whole seconds: a message created in the same second counts.
        since_utc = _as_utc(since).replace(microsecond=0)
        for message in messages:
            created = message.date_created
            if message.body == body and created is not None and created >= since_utc:
                sid: str = message.sid
                return sid
        return None

    def _create_params(self, outgoing: Outgoing) -> dict[str, Any]:
        settings = self.settings
        params: dict[str, Any] = {"to": outgoing.to, "body": outgoing.body}
        if settings.twilio_messaging_service_sid:
            params["messaging_service_sid"] = settings.twilio_messaging_service_sid
        else:
            params["from_"] = settings.twilio_from
        if settings.public_url:
            params["status_callback"] = f"{settings.public_url.rstrip('/')}/webhooks/twilio/status"
        if outgoing.expires_at is not None:
            params["validity_period"] = validity_seconds(outgoing)
        return params

    @staticmethod
    def _network_error(exc: HTTPError) -> ChannelError:
        name = type(exc).__name__
        if isinstance(exc, _NEVER_SENT):
            return TransientError(f"could not reach Twilio ({name})")
        return UnknownOutcome(f"no answer from Twilio ({name}); it may have accepted the message")


def validity_seconds(outgoing: Outgoing) -> int:
    """Seconds until the message is useless, within Twilio's 1..36000."""
    assert outgoing.expires_at is not None
    now = outgoing.now or datetime.now(UTC)
    seconds = int((outgoing.expires_at - now).total_seconds())
    return max(1, min(MAX_VALIDITY_SECONDS, seconds))


def classify_twilio_error(exc: Exception) -> ChannelError:
    """TwilioRestException and TwilioServiceException both carry `.status` and `.code`."""
    status: int | None = getattr(exc, "status", None)
    code: int | None = getattr(exc, "code", None) or status
    text = f"Twilio HTTP {status} error {code}: {mask_phones(_twilio_message(exc))}"
    code_text = None if code is None else str(code)
    if status is None:
        # A bare TwilioException comes after the request went out (e.g. an unreadable page).
        return UnknownOutcome(text, code=code_text)
    if code == UNSUBSCRIBED:
        return OptedOut(text, code=code_text, where="the number unsubscribed at Twilio")
    if code in PERMANENT_CODES:
        return PermanentError(text, code=code_text)
    if status == 429 or status >= 500 or code in TRANSIENT_CODES:
        return TransientError(text, code=code_text)
    return PermanentError(text, code=code_text)  # any other 4xx: the request itself is wrong


def _twilio_message(exc: Exception) -> str:
    for attribute in ("msg", "detail", "title"):
        value = getattr(exc, attribute, None)
        if value:
            return str(value)
    return type(exc).__name__


def _as_utc(moment: datetime) -> datetime:
    # The store may hand back naive UTC datetimes (SQLite).
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
