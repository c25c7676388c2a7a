"""A loopback SMTP server (aiosmtpd) that keeps what it receives and fails on cue.

Chaos tests may also opt in to connections dropped at random (`drop_randomly`).
"""

from __future__ import annotations

import asyncio
import email
import random
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

Command = Literal["MAIL", "RCPT", "DATA"]
DropPoint = Literal["connect", "mail", "data"]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage
    raw: bytes = b""  # the DATA as it came over the wire, for tests of header bytes


@dataclass(frozen=True)
class RandomDrops:
    """Chances that the server drops the connection (a reset, no reply) at each point.

    `connect`: as the client connects, before the greeting; `mail`: on MAIL FROM, nothing
    handed over; `data`: after the whole message arrived and was kept, before the 250
    reply, so the sender cannot know the server has it.
    """

    connect: float = 0.0
    mail: float = 0.0
    data: float = 0.0
    seed: int | None = None


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    failures: dict[str, deque[str]] = field(default_factory=dict)
    delays: deque[float] = field(default_factory=deque)
    drops: RandomDrops | None = None
    rng: random.Random = field(default_factory=random.Random)
    dropped: Counter[str] = field(default_factory=Counter)


class FakeSMTP:
    """`start()` it, point `Settings.smtp_host`/`smtp_port` at it, read `messages`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _State()
        self._controller: _LoopbackController | None = None

    def start(self) -> FakeSMTP:
        self._controller = _LoopbackController(_Handler(self), hostname="127.0.0.1", port=0)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def reset(self) -> None:
        with self._lock:
            self._state = _State()

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        assert self._controller is not None, "FakeSMTP is not started"
        return int(self._controller.port)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._state.received)

    @property
    def messages(self) -> list[EmailMessage]:
        """Every message the server accepted, parsed, oldest first."""
        return [item.message for item in self.received]

    def fail_next(self, command: Command, code: int, text: str | None = None) -> None:
        """Answer the next MAIL, RCPT or end of DATA with this reply (e.g. 451, 550)."""
        reply = f"{code} {text or _DEFAULT_TEXT.get(code, 'Error')}"
        with self._lock:
            self._state.failures.setdefault(command, deque()).append(reply)

    def delay_next(self, seconds: float) -> None:
        """Keep the next message, but answer its end of DATA `seconds` late."""
        with self._lock:
            self._state.delays.append(seconds)

    def drop_randomly(self, drops: RandomDrops | None) -> None:
        """Drop connections at random from now on, until `drop_randomly(None)` or `reset()`."""
        with self._lock:
            self._state.drops = drops
            self._state.rng = random.Random(drops.seed if drops else None)

    @property
    def dropped(self) -> dict[str, int]:
        """Connections dropped so far by `drop_randomly`, per point (connect, mail, data)."""
        with self._lock:
            return dict(self._state.dropped)

    def _drops_at(self, point: DropPoint) -> bool:
        with self._lock:
            drops = self._state.drops
            if drops is None or self._state.rng.random() >= getattr(drops, point):
                return False
            self._state.dropped[point] += 1
            return True

    def _failure(self, command: Command) -> str | None:
        with self._lock:
            queue = self._state.failures.get(command)
            return queue.popleft() if queue else None

    def _keep(self, envelope: Any) -> float:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        item = Received(envelope.mail_from, tuple(envelope.rcpt_tos), message, envelope.content)
        with self._lock:
            self._state.received.append(item)
            return self._state.delays.popleft() if self._state.delays else 0.0


_DEFAULT_TEXT = {
    421: "4.3.2 Service not available, closing transmission channel",
    451: "4.3.0 Requested action aborted: try again later",
    452: "4.5.3 Too many recipients",
    550: "5.1.1 Mailbox unavailable",
    552: "5.3.4 Message too big",
    554: "5.7.1 Message rejected",
}


class _Handler:
    def __init__(self, fake: FakeSMTP) -> None:
        self.fake = fake

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.fake._drops_at("mail"):
            return _hang_up(server)
        failure = self.fake._failure("MAIL")
        if failure is not None:
            return failure
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        failure = self.fake._failure("RCPT")
        if failure is not None:
            return failure
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        failure = self.fake._failure("DATA")
        if failure is not None:
            return failure
        # Kept before the slow answer: a real server may have queued it by then.
        delay = self.fake._keep(envelope)
        if self.fake._drops_at("data"):
            return _hang_up(server)
        if delay:
            await asyncio.sleep(delay)
        return "250 2.0.0 OK: queued"


def _hang_up(server: Any) -> str:
    """Reset the connection; the reply returned for it goes nowhere."""
    if server.transport is not None:
        server.transport.abort()
    return "421 4.3.2 Connection dropped"


class _DroppingSMTP(SMTP):
    """aiosmtpd's server, which may drop a connection as it arrives (`RandomDrops.connect`)."""

    def __init__(self, fake: FakeSMTP, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._fake = fake

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        if self._fake._drops_at("connect"):
            transport.abort()


class _LoopbackController(Controller):
    """Listens on a free port chosen by the OS (port 0), then connects to the real one."""

    def factory(self) -> SMTP:
        handler: _Handler = self.handler
        return _DroppingSMTP(handler.fake, handler, **self.SMTP_kwargs)

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.base_events.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]
