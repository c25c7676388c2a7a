"""`reminders doctor`: every part the service needs, checked the way it will be used, each
problem printed with how to fix it. Exit 1 when anything is wrong, 0 when all is well."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from celery import Celery
from requests import RequestException
from twilio.base.exceptions import TwilioException, TwilioRestException

from reminders.channels.base import ChannelError
from reminders.channels.smtp import smtp_connection
from reminders.channels.twilio import TwilioSMS
from reminders.config import ConfigError, Settings
from reminders.kinds import KINDS
from reminders.ops import checks, heartbeat
from reminders.wording.template_tools import check_templates, template_kinds

PING_TIMEOUT = 2.0


@dataclass(frozen=True)
class Finding:
    part: str
    problem: str | None = None
    fix: str = ""
    detail: str = ""

    def lines(self) -> list[str]:
        if self.problem is None:
            return [f"ok    {self.part}" + (f": {self.detail}" if self.detail else "")]
        return [f"FAIL  {self.part}: {self.problem}", f"      fix: {self.fix}"]


def configuration(settings: Settings, now: datetime) -> Finding:
    try:
        settings.check()
    except ConfigError as exc:
        return Finding("configuration", str(exc), "set them (or their *_FILE variants)")
    source = os.environ.get("REMINDERS_CONFIG") or "environment only"
    kept = f"{settings.retention_days} days" if settings.retention_days else "forever"
    detail = (
        f"{source}; sms={settings.sms_backend}, email={settings.email_backend}; "
        f"message text kept {kept}"
    )
    return Finding("configuration", detail=detail)


def database(settings: Settings, now: datetime) -> Finding:
    said = checks.schema(settings)
    if said == "ok":
        return Finding("database", detail="reachable, schema up to date")
    if said.startswith("unreachable"):
        fix = "check REMINDERS_DATABASE_URL (host, port, name, password) and that the server runs"
        return Finding("database", said, fix)
    fix = (
        "run `reminders migrate` (every command also migrates on first use); "
        "a database newer than this code needs the newer release"
    )
    return Finding("database", said, fix)


def broker(settings: Settings, now: datetime) -> Finding:
    said = checks.broker(settings)
    if said == "ok":
        return Finding("broker", detail=(settings.broker_url and "reachable") or "embedded folder")
    fix = "check REMINDERS_BROKER_URL and that Redis runs (`redis-cli ping`)"
    if settings.broker_url is None:
        fix = (
            f"start the worker once (it makes the folder) or fix the rights on {settings.state_dir}"
        )
    return Finding("broker", said, fix)


def worker(settings: Settings, now: datetime) -> Finding:
    fix = "start one: `celery -A worker worker` (deploy/: `docker compose up -d worker`)"
    if settings.broker_url is not None:
        answered = _ping(settings.broker_url)
        if answered:
            return Finding("worker", detail="answered: " + ", ".join(answered))
        return Finding("worker", f"no worker answered a ping within {PING_TIMEOUT:g} s", fix)
    # The embedded (folder) broker carries no broadcasts: the heartbeat is the evidence.
    pulse = heartbeat.pulse(settings, now)
    problem = pulse.worker_problem()
    if problem is None:
        return Finding("worker", detail="seen: " + ", ".join(pulse.live_workers))
    return Finding("worker", problem, fix)


def _ping(broker_url: str) -> list[str]:
    app = Celery("doctor", broker=broker_url)
    app.conf.broker_connection_timeout = checks.TIMEOUT
    try:
        replies = app.control.ping(timeout=PING_TIMEOUT)
    finally:
        app.close()
    return sorted(name for reply in replies for name in reply)


def beat(settings: Settings, now: datetime) -> Finding:
    problem = heartbeat.pulse(settings, now).beat_problem()
    if problem is None:
        return Finding("beat", detail="dispatch passes are running")
    fix = (
        "run exactly one `celery -A worker beat` (or `reminders run` on a single host; "
        "deploy/: the beat service), and a worker to run its passes"
    )
    return Finding("beat", problem, fix)


def twilio(settings: Settings, now: datetime) -> Finding:
    if settings.sms_backend != "twilio":
        return Finding("twilio", detail="not used (sms_backend=outbox)")
    fix = "check REMINDERS_TWILIO_ACCOUNT_SID and REMINDERS_TWILIO_AUTH_TOKEN (Twilio console)"
    sms = TwilioSMS(settings)
    try:
        account = sms.client.api.v2010.accounts(settings.twilio_account_sid).fetch()
    except TwilioRestException as exc:
        return Finding("twilio", f"Twilio refused: HTTP {exc.status}, code {exc.code}", fix)
    except (TwilioException, RequestException) as exc:
        problem = "unreachable: " + checks.reason(exc, settings)
        return Finding("twilio", problem, "check REMINDERS_TWILIO_API_URL and the network")
    finally:
        sms.close()
    if account.status != "active":
        return Finding("twilio", f"the account is {account.status}", "reactivate it with Twilio")
    return Finding("twilio", detail=f"account {account.friendly_name!r} is active")


def smtp(settings: Settings, now: datetime) -> Finding:
    if settings.email_backend != "smtp":
        return Finding("smtp", detail="not used (email_backend=outbox)")
    try:
        with smtp_connection(settings):
            pass
    except ChannelError as exc:
        fix = (
            "check REMINDERS_SMTP_HOST, _PORT, _USERNAME, _PASSWORD and _STARTTLS "
            "(port 587 with STARTTLS is the usual submission port)"
        )
        return Finding("smtp", checks.reason(exc, settings), fix)
    logged_in = "logged in" if settings.smtp_username else "connected (no login configured)"
    return Finding("smtp", detail=f"{settings.smtp_host}:{settings.smtp_port} {logged_in}")


def templates(settings: Settings, now: datetime) -> Finding:
    fix = "run `reminders templates check` and fix the files it names"
    missing = sorted(set(KINDS) - set(template_kinds(settings)))
    if missing:
        folders = ", ".join(str(folder) for folder in settings.template_dirs)
        problem = f"no templates for {', '.join(missing)} in {folders}"
        return Finding("templates", problem, "reinstall the package or " + fix)
    report = io.StringIO()
    if check_templates(settings, report) != 0:
        return Finding("templates", report.getvalue().strip().splitlines()[-1], fix)
    return Finding("templates", detail=f"{len(template_kinds(settings))} kinds render")


def diagnose(settings: Settings, now: datetime, only: Collection[str] = ()) -> list[Finding]:
    """Every finding (or those of the parts in `only`), in the order a person would fix them;
    the worker and beat are checked once the database (and broker) they rely on answer."""
    found: dict[str, Finding] = {}
    for check in (configuration, database, broker):
        found[check.__name__] = _run(check, settings, now)
    reachable = found["database"].problem is None
    broker_ok = found["broker"].problem is None or settings.broker_url is None
    if not only or "worker" in only:
        found["worker"] = (
            _run(worker, settings, now)
            if reachable and broker_ok
            else Finding("worker", "not checked", "fix the database and the broker first")
        )
    if not only or "beat" in only:
        found["beat"] = (
            _run(beat, settings, now)
            if reachable
            else Finding("beat", "not checked", "fix the database first")
        )
    for check in (twilio, smtp, templates):
        if not only or check.__name__ in only:
            found[check.__name__] = _run(check, settings, now)
    return [finding for part, finding in found.items() if not only or part in only]


def _run(
    check: Callable[[Settings, datetime], Finding], settings: Settings, now: datetime
) -> Finding:
    try:
        return check(settings, now)
    except Exception as exc:  # a check that cannot finish is itself the finding
        problem = "the check failed: " + checks.reason(exc, settings)
        return Finding(check.__name__, problem, "see the error; `reminders doctor` again after")


def report(findings: list[Finding], out: TextIO) -> int:
    for finding in findings:
        for line in finding.lines():
            print(line, file=out)
    problems = sum(finding.problem is not None for finding in findings)
    print(f"{problems} problem{'s' * (problems != 1)}" if problems else "all good", file=out)
    return 1 if problems else 0


def unusable(error: ConfigError, out: TextIO) -> int:
    """The configuration itself cannot be read: nothing else can be checked."""
    fix = "correct the names and values above (README: configuration reference)"
    return report([Finding("configuration", str(error), fix)], out)
