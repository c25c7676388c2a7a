"""A loopback server speaking the part of Twilio's Messages API the SMS channel uses.

It answers `POST .../Messages.json` (create) and `GET .../Messages.json` (list) like
Twilio does, checks basic auth, and records every message it accepted, so tests count
sends at the provider's side. Failures are scripted per upcoming create; chaos tests may
also opt in to faults drawn at random (`inject`), hold the answer to a create until they
release it (`hold_next`) and give the fake their own clock (`set_clock`).
"""

from __future__ import annotations

import base64
import json
import operator
import random
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ACCOUNT_SID = "AC" + "feedface" * 4
AUTH_TOKEN = "secret"
API_VERSION = "2010-04-01"
_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(AC\w+)/Messages\.json$")
# Fetching the account: the read-only call `reminders doctor` checks the credentials with.
_ACCOUNT_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(AC\w+)\.json$")

# Twilio's wording; 21211 names the number, as Twilio does, so masking gets tested.
ERROR_MESSAGES = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "The 'To' number {to} is not a valid phone number.",
    21602: "Message body is required.",
    21603: "The 'From' phone number is required.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number {to} is not a valid mobile number",
}

Reply = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class SentSMS:
    """One message Twilio accepted, with the create parameters tests check."""

    sid: str
    to: str
    body: str
    from_: str | None
    messaging_service_sid: str | None
    status_callback: str | None
    validity_period: int | None
    date_created: datetime
    # Held in Twilio's queue: not sent yet, so it has no date_sent.
    queued: bool = False

    def resource(self, account_sid: str, *, just_created: bool = False) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{account_sid}/Messages/{self.sid}.json"
        sent = not (self.queued or just_created)
        return {
            "account_sid": account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": format_datetime(self.date_created),
            "date_sent": format_datetime(self.date_created) if sent else None,
            "date_updated": format_datetime(self.date_created),
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": "sent" if sent else self.initial_status,
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": uri,
        }

    @property
    def initial_status(self) -> str:
        return "accepted" if self.messaging_service_sid else "queued"


def segments(body: str) -> int:
    """Roughly Twilio's count: GSM-7 160/153, UCS-2 70/67 (ASCII stands in for GSM-7)."""
    single, multi = (160, 153) if body.isascii() else (70, 67)
    return 1 if len(body) <= single else -(-len(body) // multi)


@dataclass(frozen=True)
class _Script:
    status: int = 201
    code: int | None = None
    message: str | None = None
    delay: float = 0.0
    rfc9457: bool = False
    hang_up: bool = False


@dataclass(frozen=True)
class RandomFaults:
    """Faults drawn at random for each create that no script or recipient rule covers.

    Probabilities per create; what is left over is accepted, answered `latency` late.
    """

    rate_limited: float = 0.0  # HTTP 429, Twilio 20429: nothing recorded
    server_error: float = 0.0  # HTTP 500, Twilio 20500: nothing recorded
    # Accepted and recorded, then answered `slow_seconds` late: past the client's timeout,
    # the sender cannot know that Twilio has the message.
    slow: float = 0.0
    slow_seconds: float = 0.0
    latency: float = 0.0
    seed: int | None = None


class Hold:
    """One create decided on arrival (accepted and recorded, or refused) and answered only
    after `release()`: a provider slow to answer, for as long as a test needs."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self._released = threading.Event()

    def release(self) -> None:
        self._released.set()

    def wait_for_release(self, timeout: float) -> None:
        self._released.wait(timeout)


@dataclass
class _State:
    messages: list[SentSMS] = field(default_factory=list)
    scripts: deque[_Script] = field(default_factory=deque)
    by_recipient: dict[str, _Script] = field(default_factory=dict)
    hold_in_queue: bool = False
    connections: int = 0
    requests: int = 0
    faults: RandomFaults | None = None
    rng: random.Random = field(default_factory=random.Random)
    injected: Counter[str] = field(default_factory=Counter)
    holds: deque[Hold] = field(default_factory=deque)
    clock: Callable[[], datetime] | None = None


class FakeTwilio:
    """`start()` it, point `Settings.twilio_api_url` at `url`, read `messages`."""

    def __init__(self, account_sid: str = ACCOUNT_SID, auth_token: str = AUTH_TOKEN) -> None:
        self.account_sid = account_sid
        self.auth_token = auth_token
        credentials = base64.b64encode(f"{account_sid}:{auth_token}".encode()).decode()
        self._expected_auth = f"Basic {credentials}"
        self._lock = threading.Lock()
        self._state = _State()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeTwilio:
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget messages, scripted failures and counters (between tests)."""
        with self._lock:
            self._state = _State()

    @property
    def url(self) -> str:
        assert self._server is not None, "FakeTwilio is not started"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- what tests read ---------------------------------------------------------------

    @property
    def messages(self) -> list[SentSMS]:
        """Every message accepted so far, oldest first (a copy)."""
        with self._lock:
            return list(self._state.messages)

    @property
    def connections(self) -> int:
        """TCP connections opened by clients: shows whether they are reused."""
        return self._state.connections

    @property
    def requests(self) -> int:
        return self._state.requests

    @property
    def injected(self) -> dict[str, int]:
        """How many of each random fault `inject` produced so far (429, 500, slow, latency)."""
        with self._lock:
            return dict(self._state.injected)

    # -- failure injection ----------------------------------------------------------

    def fail_next(
        self, status: int, code: int, message: str | None = None, *, rfc9457: bool = False
    ) -> None:
        """The next create gets this error (queued: call again for the one after)."""
        self._script(_Script(status=status, code=code, message=message, rfc9457=rfc9457))

    def delay_next(self, seconds: float) -> None:
        """The next create is accepted and recorded, but answered `seconds` late."""
        self._script(_Script(delay=seconds))

    def hang_up_next(self) -> None:
        """The next create is accepted and recorded, then the connection drops unanswered."""
        self._script(_Script(hang_up=True))

    def fail_by_recipient(self, to: str, status: int, code: int) -> None:
        """Every create to `to` gets this error until `reset()`."""
        with self._lock:
            self._state.by_recipient[to] = _Script(status=status, code=code)

    def hold_in_queue(self, held: bool = True) -> None:
        """Messages accepted from now on stay `queued` (no date_sent), as under load."""
        with self._lock:
            self._state.hold_in_queue = held

    def inject(self, faults: RandomFaults | None) -> None:
        """Draw a fault for every create no script covers, until `inject(None)` or `reset()`."""
        with self._lock:
            self._state.faults = faults
            self._state.rng = random.Random(faults.seed if faults else None)

    def hold_next(self) -> Hold:
        """The next create is decided as usual, then its answer waits for `Hold.release()`.

        `Hold.arrived` is set once Twilio has decided (the message is recorded, if
        accepted). A hold never released lets go after a minute.
        """
        hold = Hold()
        with self._lock:
            self._state.holds.append(hold)
        return hold

    def set_clock(self, clock: Callable[[], datetime] | None) -> None:
        """Date accepted messages by this clock (aware UTC) instead of the real one."""
        with self._lock:
            self._state.clock = clock

    def _script(self, script: _Script) -> None:
        with self._lock:
            self._state.scripts.append(script)

    def _take_hold(self) -> Hold | None:
        with self._lock:
            return self._state.holds.popleft() if self._state.holds else None

    # -- the API ------------------------------------------------------------------------

    def _count(self, *, connection: bool = False) -> None:
        with self._lock:
            if connection:
                self._state.connections += 1
            else:
                self._state.requests += 1

    def _refusal(self, path: str, authorization: str | None) -> Reply | None:
        match = _MESSAGES_PATH.match(path) or _ACCOUNT_PATH.match(path)
        if authorization != self._expected_auth:
            return error_reply(401, 20003)
        if match is None or match.group(1) != self.account_sid:
            return error_reply(404, 20404)
        return None

    def create(self, form: dict[str, str]) -> tuple[Reply, _Script]:
        """Accept or refuse one message; returns the reply and the script for answering it."""
        missing = _missing_parameter(form)
        if missing is not None:
            return error_reply(400, missing), _Script()
        with self._lock:
            script = self._next_script(form["To"])
            if script.status >= 300:
                return _scripted_error(script, form["To"]), script
            sms = _accept(form, queued=self._state.hold_in_queue, created=self._created())
            self._state.messages.append(sms)
        return (201, sms.resource(self.account_sid, just_created=True)), script

    def _next_script(self, to: str) -> _Script:
        if self._state.scripts:
            return self._state.scripts.popleft()
        if to in self._state.by_recipient or self._state.faults is None:
            return self._state.by_recipient.get(to, _Script())
        return self._random_script(self._state.faults)

    def _random_script(self, faults: RandomFaults) -> _Script:
        draw = self._state.rng.random()
        choices = (
            (faults.rate_limited, "429", _Script(status=429, code=20429)),
            (faults.server_error, "500", _Script(status=500, code=20500)),
            (faults.slow, "slow", _Script(delay=faults.slow_seconds)),
        )
        for chance, name, script in choices:
            if draw < chance:
                self._state.injected[name] += 1
                return script
            draw -= chance
        if faults.latency:
            self._state.injected["latency"] += 1
        return _Script(delay=faults.latency)

    def _created(self) -> datetime:
        clock = self._state.clock
        moment = clock() if clock is not None else datetime.now(UTC)
        return moment.astimezone(UTC).replace(microsecond=0)

    def account(self) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}.json"
        return {"sid": self.account_sid, "friendly_name": "Clinic", "status": "active", "uri": uri}

    def list_page(self, path: str, query: dict[str, str]) -> Reply:
        with self._lock:
            found = [sms for sms in self._state.messages if _matches(sms, query)]
        found.reverse()  # newest first, like Twilio
        size = int(query.get("PageSize", "50"))
        page = int(query.get("Page", "0"))
        chunk = found[page * size : (page + 1) * size]
        more = len(found) > (page + 1) * size
        return 200, {
            "messages": [sms.resource(self.account_sid) for sms in chunk],
            "end": page * size + max(len(chunk) - 1, 0),
            "first_page_uri": f"{path}?PageSize={size}&Page=0",
            "next_page_uri": f"{path}?PageSize={size}&Page={page + 1}" if more else None,
            "previous_page_uri": f"{path}?PageSize={size}&Page={page - 1}" if page else None,
            "page": page,
            "page_size": size,
            "start": page * size,
            "uri": f"{path}?PageSize={size}&Page={page}",
        }


def error_reply(status: int, code: int, to: str = "", message: str | None = None) -> Reply:
    """Twilio's legacy JSON error body, the one the Messages API sends."""
    text = message or ERROR_MESSAGES.get(code, "Error").format(to=to)
    return status, {
        "code": code,
        "message": text,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _scripted_error(script: _Script, to: str) -> Reply:
    assert script.code is not None
    status, body = error_reply(script.status, script.code, to, script.message)
    if not script.rfc9457:
        return status, body
    # The newer problem-details body (RFC 9457), which twilio-python raises differently.
    return status, {
        "type": body["more_info"],
        "title": body["message"],
        "status": status,
        "code": script.code,
        "detail": body["message"],
    }


def _missing_parameter(form: dict[str, str]) -> int | None:
    if not form.get("To"):
        return 21604
    if not form.get("Body"):
        return 21602
    if not (form.get("From") or form.get("MessagingServiceSid")):
        return 21603
    return None


def _accept(form: dict[str, str], *, queued: bool, created: datetime) -> SentSMS:
    validity = form.get("ValidityPeriod")
    return SentSMS(
        sid=f"SM{uuid.uuid4().hex}",
        to=form["To"],
        body=form["Body"],
        from_=form.get("From"),
        messaging_service_sid=form.get("MessagingServiceSid"),
        status_callback=form.get("StatusCallback"),
        validity_period=int(validity) if validity else None,
        date_created=created,
        queued=queued,
    )


def _matches(sms: SentSMS, query: dict[str, str]) -> bool:
    if query.get("To", sms.to) != sms.to or query.get("From", sms.from_) != sms.from_:
        return False
    # Twilio compares DateSent by whole UTC day; a queued message has no date_sent.
    sent_day = None if sms.queued else sms.date_created.date().isoformat()
    for key, keep in (
        ("DateSent", operator.eq),
        ("DateSent>", operator.ge),
        ("DateSent<", operator.le),
    ):
        if key in query and (sent_day is None or not keep(sent_day, query[key][:10])):
            return False
    return True


def _first_values(raw: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(raw, keep_blank_values=True).items()}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's pooled session is reused
    disable_nagle_algorithm = True  # headers and body go out as separate writes
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.fake._count(connection=True)

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        fake = self.server.fake
        fake._count()
        refusal = fake._refusal(urlsplit(self.path).path, self.headers.get("Authorization"))
        if refusal is not None:
            return self._reply(*refusal)
        reply, script = fake.create(_first_values(raw))
        hold = fake._take_hold()
        if hold is not None:
            hold.arrived.set()
            hold.wait_for_release(timeout=60)
        if script.hang_up:
            self.close_connection = True
            return None
        if script.delay:
            time.sleep(script.delay)
        return self._reply(*reply)

    def do_GET(self) -> None:
        fake = self.server.fake
        fake._count()
        url = urlsplit(self.path)
        refusal = fake._refusal(url.path, self.headers.get("Authorization"))
        if refusal is not None:
            return self._reply(*refusal)
        if _ACCOUNT_PATH.match(url.path):
            return self._reply(200, fake.account())
        self._reply(*fake.list_page(url.path, _first_values(url.query)))

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up waiting (the delayed answer); Twilio shrugs too.
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256  # a burst of new connections must not wait on SYN retries

    def __init__(self, fake: FakeTwilio) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake
