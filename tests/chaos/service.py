"""The service as its operator runs it, for the chaos tests: processes, a Redis, the CLI, counts.

Only entry points are used: `reminders` (import, tick, messages), `celery -A worker worker`,
`celery -A worker beat`, `celery -A worker call`, and the REMINDERS_* environment. What
went out is counted at the loopback providers, never in the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import redis

from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import row, write_csv
from tests.sending.test_exactly_once import provider_env

ROOT = Path(__file__).resolve().parents[2]
# A session this far ahead has its 72 h email and its 24 h SMS both due at once.
LEAD_TIME = timedelta(hours=23, minutes=50)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], seconds: float, step: float = 0.25) -> bool:
    """True as soon as `check()` holds, False once `seconds` have passed without it."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def chaos_env(
    database_url: str,
    broker_url: str,
    twilio: FakeTwilio,
    smtp: FakeSMTP,
    folder: Path,
    **settings: str,
) -> dict[str, str]:
    """The REMINDERS_* environment aimed at the fakes; `settings` name further variables.

    Twilio's client timeout stays at its default (10 s) unless a test names one; the beat
    dispatches every second; quiet hours are off, so SMS go out at any hour.
    """
    env = {**os.environ, **provider_env(database_url, twilio, smtp, folder)}
    del env["REMINDERS_TWILIO_TIMEOUT"]
    env |= {
        "REMINDERS_BROKER_URL": broker_url,
        "REMINDERS_DISPATCH_INTERVAL": "1",
        "REMINDERS_QUIET_HOURS__START": "00:00",
        "REMINDERS_QUIET_HOURS__END": "00:00",
    }
    env |= {f"REMINDERS_{name.upper()}": value for name, value in settings.items()}
    return env


# -- processes ---------------------------------------------------------------------------


@dataclass
class Processes:
    """Every process group started; `kill_all()` ends them, orphans of a killed leader too."""

    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(
        self, command: list[str], env: dict[str, str], cwd: Path, log: Path
    ) -> subprocess.Popen[bytes]:
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as output:
            process = subprocess.Popen(
                command,
                cwd=cwd,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: the pool children go with it
            )
        self.started.append(process)
        return process

    def stop(self, processes: Iterable[subprocess.Popen[bytes]], grace: float) -> None:
        """SIGTERM each group (a warm shutdown), then SIGKILL whatever is left after `grace`."""
        groups = list(processes)
        for process in groups:
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in groups:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
        for process in groups:
            _signal_group(process.pid, signal.SIGKILL)
            _reap(process)

    def kill_all(self) -> None:
        for process in self.started:
            _signal_group(process.pid, signal.SIGKILL)
        for process in self.started:
            _reap(process)


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _reap(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=10)


def children_of(pid: int) -> list[int]:
    """Live child processes of `pid` (a worker's pool), read from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces, so split after its ')'.
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def talking_to(pids: Iterable[int], ports: Iterable[int]) -> list[int]:
    """Those of `pids` with a connection open to one of these local ports: mid-send."""
    wanted = {f"{port:04X}" for port in ports}
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # remote address "0100007F:1F90", state 01 (established), inode
            if fields[2].rsplit(":", 1)[1] in wanted and fields[3] == "01":
                sockets.add(f"socket:[{fields[9]}]")
    busy = []
    for pid in pids:
        try:
            links = {os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()}
        except OSError:
            continue
        if links & sockets:
            busy.append(pid)
    return busy


# -- Redis -------------------------------------------------------------------------------


class OwnRedis:
    """A redis-server on a free port, append-only in its own folder, that can be restarted."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary is not None, "redis-server is not installed (apt-get install redis-server)"
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        command += ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.folder)]
        with (self.folder / "redis.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if not wait_until(self._answers, 10, step=0.05):
            self.stop()
            raise AssertionError(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        """SIGTERM: Redis finishes its append-only file and exits."""
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def restart(self, down_seconds: float) -> None:
        self.stop()
        time.sleep(down_seconds)
        self.start()
        self.restarts += 1

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis.from_url(self.url, socket_timeout=0.5).ping())
        except redis.RedisError:
            return False


# -- the service -------------------------------------------------------------------------


@dataclass
class Service:
    """Workers and beats started as an operator would, the CLI, and what chaos did to them."""

    env: dict[str, str]
    folder: Path
    processes: Processes
    root: Path = ROOT
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    beats: list[subprocess.Popen[bytes]] = field(default_factory=list)
    chaos: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)

    def start_worker(self, name: str, concurrency: int = 2) -> None:
        command = [sys.executable, "-m", "celery", "-A", "worker", "worker"]
        command += ["-n", f"{name}@%h", "--pool", "prefork", f"--concurrency={concurrency}"]
        command += ["--loglevel=INFO", "--without-gossip", "--without-mingle"]
        log = self.folder / f"{name}.log"
        self.workers[name] = self.processes.start(command, self.env, self.root, log)

    def start_beat(self, name: str) -> None:
        # Each beat keeps its own schedule file: two at once on one shelve file corrupt it.
        schedule = self.folder / f"{name}-schedule"
        command = [sys.executable, "-m", "celery", "-A", "worker", "beat", "-s", str(schedule)]
        command += ["--loglevel=INFO"]
        self.beats.append(self.processes.start(command, self.env, self.root, self.folder / name))

    def stop(self, grace: float = 10.0) -> None:
        self.processes.stop([*self.beats, *self.workers.values()], grace)

    # -- chaos ---------------------------------------------------------------------------

    def kill_pool_child(self, rng: random.Random, provider_ports: Iterable[int]) -> int | None:
        """kill -9 one prefork child, one talking to a provider when there is one (mid-send)."""
        children = [pid for w in self.workers.values() for pid in children_of(w.pid)]
        if not children:
            return None
        busy = talking_to(children, provider_ports)
        victim = rng.choice(busy or children)
        self.chaos["pool child killed mid-send" if busy else "pool child killed idle"] += 1
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            return None
        return victim

    def kill_main(self, name: str, down_seconds: float = 1.0) -> None:
        """kill -9 a worker's main process, then restart it as a supervisor would.

        Like systemd (KillMode=control-group): the rest of the group gets SIGTERM, then
        SIGKILL, and a new worker of the same name starts.
        """
        process = self.workers[name]
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        self.chaos["worker main killed"] += 1
        time.sleep(down_seconds)
        self.processes.stop([process], grace=5)
        self.start_worker(name)

    def publish_twice(self, ids: list[int]) -> None:
        """The same `reminders.send_messages` task on the broker twice, as a redelivery."""
        for _ in range(2):
            called = self.celery("call", "reminders.send_messages", "--args", json.dumps([ids]))
            assert called.returncode == 0, called.stderr
        self.chaos["send task published twice"] += 1

    # -- the command lines ---------------------------------------------------------------

    def cli(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "reminders.cli", *args]
        return subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def celery(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "celery", "-A", "worker", *args]
        return subprocess.run(
            command, cwd=self.root, env=self.env, capture_output=True, text=True, timeout=60
        )

    def import_patients(self, rows: list[dict[str, Any]], name: str) -> None:
        schedule = write_csv(self.folder / f"{name}.csv", rows)
        imported = self.cli("import", str(schedule))
        assert imported.returncode == 0, imported.stderr

    def messages(self) -> list[dict[str, Any]]:
        listed = self.cli("messages", "--json")
        assert listed.returncode == 0, listed.stderr
        records: list[dict[str, Any]] = json.loads(listed.stdout)
        return records

    def tick(self, now: datetime) -> str:
        ticked = self.cli("tick", "--now", now.isoformat())
        assert ticked.returncode == 0, ticked.stderr
        return ticked.stdout.strip()

    def logs(self) -> str:
        """The tail of every log, for an assertion message."""
        tails = []
        for path in sorted(self.folder.glob("*.log")):
            lines = path.read_text(errors="replace").splitlines()[-15:]
            tails.append(f"--- {path.name}\n" + "\n".join(lines))
        return "\n".join(tails)


def patients(first: int, count: int, *, email: bool = True) -> list[dict[str, Any]]:
    """Patients with a phone (and an email) of their own and one session LEAD_TIME from now."""
    starts = (datetime.now(UTC) + LEAD_TIME).isoformat()
    return [
        row(
            patient_id=f"P{i}",
            first_name=f"Pat{i}",
            phone=phone(i),
            email=email_address(i) if email else "",
            series_id=f"S{i}",
            session_id=f"S{i}-1",
            starts_at=starts,
        )
        for i in range(first, first + count)
    ]


def phone(i: int) -> str:
    return f"+1403555{i:04d}"


def email_address(i: int) -> str:
    return f"pat{i}@example.com"


# -- counting at the providers -----------------------------------------------------------


@dataclass
class Tally:
    """Arrivals at one provider against what was due: each expected recipient exactly once."""

    expected: set[str]
    arrivals: Counter[str]

    @property
    def accepted(self) -> int:
        return sum(self.arrivals.values())

    @property
    def duplicates(self) -> int:
        return sum(n - 1 for n in self.arrivals.values() if n > 1)

    @property
    def lost(self) -> set[str]:
        return self.expected - set(self.arrivals)

    @property
    def unexpected(self) -> set[str]:
        return set(self.arrivals) - self.expected

    def line(self) -> str:
        distinct, due = len(self.arrivals), len(self.expected)
        return (
            f"accepted {self.accepted} (distinct {distinct} of {due} due), "
            f"duplicates {self.duplicates}, lost {len(self.lost)}, "
            f"unexpected {len(self.unexpected)}"
        )


def sms_tally(twilio: FakeTwilio, expected: Iterable[str]) -> Tally:
    return Tally(set(expected), Counter(sms.to for sms in twilio.messages))


@dataclass
class EmailTally(Tally):
    """Raw SMTP arrivals, deduplicated by nothing; also counted per Message-ID."""

    by_message_id: Counter[str] = field(default_factory=Counter)
    # Recipients that got the same Message-ID more than once (a retry a mail system
    # may fold into one), and recipients that got two different Message-IDs (no one folds).
    same_id_repeats: int = 0
    new_id_repeats: int = 0

    def line(self) -> str:
        return (
            f"{super().line()}; per Message-ID: {len(self.by_message_id)} distinct, "
            f"repeats with the same Message-ID {self.same_id_repeats}, "
            f"with a new Message-ID {self.new_id_repeats}"
        )


def email_tally(smtp: FakeSMTP, expected: Iterable[str]) -> EmailTally:
    arrivals: Counter[str] = Counter()
    by_id: Counter[str] = Counter()
    ids_per_recipient: dict[str, Counter[str]] = {}
    for message in smtp.messages:
        to, message_id = str(message["To"]), str(message["Message-ID"])
        arrivals[to] += 1
        by_id[message_id] += 1
        ids_per_recipient.setdefault(to, Counter())[message_id] += 1
    same = sum(n - 1 for ids in ids_per_recipient.values() for n in ids.values())
    new = sum(len(ids) - 1 for ids in ids_per_recipient.values())
    return EmailTally(set(expected), arrivals, by_id, same, new)


def statuses(records: list[dict[str, Any]], channel: str) -> Counter[str]:
    return Counter(r["status"] for r in records if r["channel"] == channel)


def retried(records: list[dict[str, Any]]) -> Counter[str]:
    """Rows that needed more than one provider attempt, by channel."""
    return Counter(r["channel"] for r in records if (r["attempts"] or 0) > 1)


def unknown_rows(
    records: list[dict[str, Any]], tallies: dict[str, Tally]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows left `unknown`: explained when the provider has that message exactly once."""
    explained: list[dict[str, Any]] = []
    unexplained: list[dict[str, Any]] = []
    for record in records:
        if record["status"] != "unknown":
            continue
        tally = tallies[record["channel"]]
        (explained if tally.arrivals[record["recipient"]] == 1 else unexplained).append(record)
    return explained, unexplained


def reminders_due(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The before-session reminders the import made due; follow-ups come days later."""
    return [r for r in records if r["kind"] == "session_reminder"]
