"""A loopback SMTP server (aiosmtpd) that keeps what it receives and fails on cue."""

from __future__ import annotations

import asyncio
import email
import threading
from collections import deque
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import default
from typing import Any, Literal

from aiosmtpd.controller import Controller

Command = Literal["MAIL", "RCPT", "DATA"]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    failures: dict[str, deque[str]] = field(default_factory=dict)
    delays: deque[float] = field(default_factory=deque)


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

    def _failure(self, command: Command) -> str | None:
        with self._lock:
            queue = self._state.failures.get(command)
            return queue.popleft() if queue else None

    def _keep(self, envelope: Any) -> float:
        message = email.message_from_bytes(envelope.content, policy=default)
        assert isinstance(message, EmailMessage)
        item = Received(envelope.mail_from, tuple(envelope.rcpt_tos), message)
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
        if delay:
            await asyncio.sleep(delay)
        return "250 2.0.0 OK: queued"


class _LoopbackController(Controller):
    """Listens on a free port chosen by the OS (port 0), then connects to the real one."""

    def _trigger_server(self) -> None:
        assert isinstance(self.server, asyncio.base_events.Server)
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]
