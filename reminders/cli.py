"""`reminders`: import schedules, send what is due, read the log, resend, run the service."""

from __future__ import annotations

import argparse
import gc
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError
from sqlalchemy.exc import ArgumentError, InterfaceError, OperationalError

from reminders.config import ConfigError, Settings, get_settings
from reminders.models import MessageStatus

Command = Callable[[argparse.Namespace, Settings], int]


def parse_now(text: str | None, settings: Settings) -> datetime:
    """`--now`: ISO 8601; without an offset it is the clinic's wall-clock time."""
    if text is None:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise SystemExit(f"--now: {text!r} is not an ISO 8601 date and time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=settings.clinic.zone)
    return moment.astimezone(UTC)


def local(moment: str | None, settings: Settings) -> str:
    if moment is None:
        return "-"
    value = datetime.fromisoformat(moment).astimezone(settings.clinic.zone)
    return value.strftime("%Y-%m-%d %H:%M")


SHOWN_PROBLEMS = 50


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    import time

    from reminders.intake.importer import import_file
    from reminders.intake.progress import stages
    from reminders.intake.schedule_file import ScheduleError

    now = parse_now(args.now, settings)
    started = time.monotonic()
    try:
        summary = import_file(settings, Path(args.file), now, dry_run=args.dry_run, stages=stages())
    except ScheduleError as exc:
        return _import_failed(args, [str(problem) for problem in exc.problems])
    except OSError as exc:
        return _import_failed(args, [str(exc)])
    if args.json:
        seconds = round(time.monotonic() - started, 3)
        out = {"ok": True, "dry_run": args.dry_run, "seconds": seconds, **summary.as_dict()}
        print(json.dumps(out, indent=2))
        return 0
    prefix = "dry run, nothing written: " if args.dry_run else "imported "
    print(prefix + str(summary))
    return 0


def _import_failed(args: argparse.Namespace, problems: list[str]) -> int:
    """Every problem is counted; the first 50 are shown unless `--all-problems`."""
    shown = problems if args.all_problems else problems[:SHOWN_PROBLEMS]
    hidden = len(problems) - len(shown)
    if args.json:
        out = {"ok": False, "problem_count": len(problems), "problems": shown, "not_shown": hidden}
        print(json.dumps(out, indent=2, ensure_ascii=False))
        return 1
    for problem in shown:
        print(problem, file=sys.stderr)
    if hidden:
        print(f"... and {hidden} more (--all-problems shows every one)", file=sys.stderr)
    count = len(problems)
    print(
        f"import failed: {count} problem{'s' * (count != 1)}; nothing was written",
        file=sys.stderr,
    )
    return 1


def cmd_tick(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.feedback.reconcile import reconcile_unknown
    from reminders.sending.dispatch import dispatch_due

    now = parse_now(args.now, settings)
    report = dispatch_due(settings, now)
    found = reconcile_unknown(settings, now)
    if args.json:
        outcomes = dict(sorted(report.outcomes.items()))
        tick = {"now": now.isoformat(), "claimed": report.claimed, "outcomes": outcomes}
        print(json.dumps(tick | {"unknown_found_sent": found}, indent=2))
        return 0
    print(
        f"tick at {now.isoformat()}: {report}" + (f"; {found} unknown found sent" if found else "")
    )
    return 0


def _print_table(records: list[dict[str, Any]], settings: Settings, when: str) -> None:
    from reminders.staff.reasons import explain  # the console's words for what went wrong

    for r in records:
        reason = r["reason"]
        if r["status"] in ("failed", "undelivered", "unknown", "suppressed"):
            reason = f"{explain(r['status'], reason)} [{reason}]"
        print(
            f"{r['id']:>5}  {local(r[when], settings):16}  {r['status']:10} {r['channel']:5} "
            f"{r['kind']:17} {r['session_id']:>10}  {r['recipient'] or '-':28} {reason}"
        )


def cmd_messages(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.staff.message_log import messages

    records = messages(settings, status=args.status, session_id=args.session, channel=args.channel)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    else:
        _print_table(records, settings, "due_at")
    return 0


def cmd_preview(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.staff.message_log import preview

    now = parse_now(args.now, settings)
    records = preview(settings, now, args.days)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    print(f"{len(records)} message(s) due in the next {args.days:g} day(s); nothing is sent")
    for record in records:
        _print_table([record], settings, "due_at")
        _print_preview_text(record)
    return 0


def _print_preview_text(record: dict[str, Any]) -> None:
    """The text under its row, indented: the subject of an email, the body of an SMS."""
    if record["body"] is None:
        return
    if record["channel"] == "email":
        print(f"       Subject: {record['subject']}")
        return
    print(f"       [{record['segments']} segment(s)]")
    for line in str(record["body"]).splitlines():
        print(f"       | {line}")


def cmd_resend(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.sending.resend import ResendRefused, resend

    now = parse_now(args.now, settings)
    try:
        message = resend(settings, args.session_id, args.channel, args.by, args.reason, now)
    except ResendRefused as exc:
        print(f"resend refused: {exc}", file=sys.stderr)
        return 1
    if args.json:
        fields = ("id", "channel", "recipient", "status", "reason")
        print(json.dumps({name: getattr(message, name) for name in fields}, indent=2))
    else:
        print(f"message {message.id} to {message.recipient}: {message.status} ({message.reason})")
    return 0 if message.status in ("sent", "delivered") else 1


def cmd_drift(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.staff.drift import drifting

    now = parse_now(args.now, settings)
    records = drifting(settings, now)
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
        return 0
    print(f"{len(records)} drifting series as of {local(now.isoformat(), settings)}")
    for r in records:
        last = r["last_session"]
        sent = ", ".join(f"{s['kind']} by {s['channel']}" for s in r["sent"]) or "nothing sent"
        print(
            f"{r['patient_id']:>10} {r['series_id']:>10}  {r['first_name']} {r['last_name']:16} "
            f"{r['reason']:>7} since {r['since']}  {r['days_overdue']:>3} days overdue  "
            f"last: {last['session_id']} "
            f"{local(last['starts_at'], settings)} {last['status']}  "
            f"{r['sessions_done']}/{r['planned_sessions']} done  {r['phone'] or r['email']}  "
            f"({sent})"
        )
    return 0


def cmd_adherence(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.staff.adherence import adherence

    figures = adherence(settings, parse_now(args.now, settings))
    if args.json:
        print(json.dumps(figures.as_dict(), indent=2, ensure_ascii=False))
        return 0
    print(f"adherence as of {local(figures.as_of.isoformat(), settings)}")
    header = "completed  median/target  in window  drift  no-show  nudge->booked"
    for title, groups in (
        ("clinic", (figures.overall,)),
        ("by treatment", figures.by_treatment),
        ("by practitioner", figures.by_practitioner),
    ):
        print(f"\n{title:28} {header}")
        for f in groups:
            print(f"{f.name[:28]:28} {_adherence_line(f)}")
    return 0


def _adherence_line(f: Any) -> str:
    def pct(rate: float | None) -> str:
        return "-" if rate is None else f"{rate:.0%}"

    def days(value: float | None) -> str:
        return "-" if value is None else f"{value:g}"

    return (
        f"{pct(f.completion_rate):>4} of {f.series_started:<3} "
        f"{days(f.median_interval_days):>5}/{days(f.median_target_days):<7} "
        f"{pct(f.in_window_share):>9} {pct(f.drift_rate):>6} {pct(f.no_show_rate):>8} "
        f"{pct(f.nudge_follow_rate):>6} of {f.nudged}"
    )


def cmd_series(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.planning.followups import set_paused

    now = parse_now(args.now, settings)
    try:
        changed = set_paused(settings, args.series_id, args.action == "pause", now)
    except LookupError as exc:
        print(f"series {args.action} refused: {exc}", file=sys.stderr)
        return 1
    state = "paused: no follow-ups" if args.action == "pause" else "resumed"
    print(f"series {args.series_id} {state} ({changed} planned follow-ups changed)")
    return 0


def cmd_templates(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.wording.template_tools import check_templates, preview_template
    from reminders.wording.templating import TemplateProblem

    if args.action == "check" and args.json:
        return _templates_check_json(settings)
    if args.action == "check":
        return check_templates(settings, sys.stdout)
    if not args.kind:
        print("templates preview: name a kind, e.g. aftercare", file=sys.stderr)
        return 2
    try:
        preview = preview_template(settings, args.kind, args.channel, args.lang)
    except TemplateProblem as exc:
        print(f"templates preview: {exc}", file=sys.stderr)
        return 1
    if preview.sms is not None:
        print(f"{preview.text}\n\n[{preview.sms.describe()}]\n")
    else:  # the subject, the text part, then the HTML after a separator line
        print(f"Subject: {preview.subject}\n\n{preview.text}\n{'-' * 30} HTML\n{preview.html}")
    return 0


def _templates_check_json(settings: Settings) -> int:
    import io

    from reminders.wording.template_tools import check_templates, template_kinds

    report = io.StringIO()
    status = check_templates(settings, report)
    lines = report.getvalue().splitlines()
    problems = [line.removeprefix("PROBLEM ") for line in lines if line.startswith("PROBLEM ")]
    result = {
        "ok": status == 0,
        "kinds": template_kinds(settings),
        "folders": [str(folder) for folder in settings.template_dirs],
        "problems": problems,
        "summary": lines[-1] if lines else "",
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    return status


def cmd_doctor(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.ops.doctor import diagnose, report

    findings = diagnose(settings, parse_now(None, settings), args.only or ())
    return report(findings, sys.stdout)


def cmd_migrate(args: argparse.Namespace, settings: Settings) -> int:
    from reminders import store

    store.sessions(settings.database_url)
    print("the database schema is up to date")
    return 0


def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.ops.retention import purge

    result = purge(settings, parse_now(args.now, settings), dry_run=args.dry_run)
    if result.before is None:
        print(str(result))
    elif args.dry_run:
        print(f"dry run, nothing erased: would erase the text and addresses of {result}")
    else:
        print(f"erased the text and addresses of {result}; statuses and events kept")
    return 0


def _password(args: argparse.Namespace) -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.staff.accounts import AccountError, list_users

    if args.action == "list" and args.json:
        users = [
            {"name": user.name, "role": user.role, "disabled": user.disabled}
            for user in list_users(settings)
        ]
        print(json.dumps(users, indent=2, ensure_ascii=False))
        return 0
    if args.action == "list":
        for user in list_users(settings):
            print(f"{user.name:24} {user.role:6} {'disabled' if user.disabled else 'enabled'}")
        return 0
    if not args.name:
        print(f"users {args.action}: name the user", file=sys.stderr)
        return 2
    try:
        print(_USER_ACTIONS[args.action](args, settings))
    except AccountError as exc:
        print(f"users {args.action} refused: {exc}", file=sys.stderr)
        return 1
    return 0


def _user_add(args: argparse.Namespace, settings: Settings) -> str:
    from reminders.staff.accounts import add_user

    user = add_user(settings, args.name, args.role, _password(args), parse_now(None, settings))
    return f"user {user.name} added ({user.role})"


def _user_disable(args: argparse.Namespace, settings: Settings) -> str:
    from reminders.staff.accounts import set_disabled

    set_disabled(settings, args.name, True, parse_now(None, settings))
    return f"user {args.name} disabled; their sessions have ended"


def _user_enable(args: argparse.Namespace, settings: Settings) -> str:
    from reminders.staff.accounts import set_disabled

    set_disabled(settings, args.name, False, parse_now(None, settings))
    return f"user {args.name} enabled"


def _user_reset_password(args: argparse.Namespace, settings: Settings) -> str:
    from reminders.staff.accounts import reset_password

    reset_password(settings, args.name, _password(args), parse_now(None, settings))
    return f"new password set for {args.name}; their sessions have ended"


def _user_unlock(args: argparse.Namespace, settings: Settings) -> str:
    from reminders.staff.accounts import unlock

    cleared = unlock(settings, args.name)
    return f"user {args.name} unlocked ({cleared} failed sign-in count(s) cleared)"


_USER_ACTIONS: dict[str, Callable[[argparse.Namespace, Settings], str]] = {
    "add": _user_add,
    "disable": _user_disable,
    "enable": _user_enable,
    "reset-password": _user_reset_password,
    "unlock": _user_unlock,
}


def cmd_tokens(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.staff.accounts import AccountError, create_token, revoke_token

    now = parse_now(None, settings)
    try:
        if args.action == "create":
            token = create_token(settings, args.name, now)
            print(f"token {args.name}: {token}")
            print("it is shown once: store it in the integration's configuration now")
        else:
            revoke_token(settings, args.name, now)
            print(f"token {args.name} revoked")
    except AccountError as exc:
        print(f"tokens {args.action} refused: {exc}", file=sys.stderr)
        return 1
    return 0


def cmd_web(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from reminders.web.app import create_app
    from reminders.web.pages.adherence import count_at_start

    app = create_app(settings, demo=args.demo)
    count_at_start(settings, datetime.now(UTC))
    # What is loaded by now lives as long as the process: out of the collector's sight, a
    # full collection no longer walks it (it added about 100 ms to every other call list
    # at 1M sessions).
    gc.freeze()
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


DEMO_USER = "demo"


def _demo_login(settings: Settings) -> Path:
    return settings.state_dir / "demo-login"


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    import secrets

    from reminders.feedback.replies import receive
    from reminders.intake.demo import REPLIES, load_demo
    from reminders.staff.accounts import ensure_user

    now = parse_now(args.now, settings)
    summary = load_demo(settings, now)
    print(f"demo clinic loaded: {summary}")
    for sid, phone, body in REPLIES:  # as Twilio would post them; each is taken in once
        receive(settings, sid, phone, body, now)
    print(
        "within a minute: an after-care email, a missed-session email, reminders, a landline's"
        " SMS refused and sent by email instead; two patient replies and two patients to call"
        f" are in the console; what was sent is in {settings.outbox_dir}/"
    )
    # One password per state folder, kept there, so every run prints the same one.
    login = _demo_login(settings)
    if not login.is_file():
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        login.touch(mode=0o600)
        login.write_text(secrets.token_urlsafe(12))
    ensure_user(settings, DEMO_USER, "admin", login.read_text().strip(), now)
    print(f"demo console account: {DEMO_USER} / {login.read_text().strip()} (an admin)")
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.worker.app import run_worker

    if not args.console:
        run_worker(settings, loglevel=args.loglevel, concurrency=args.concurrency)
        return 0
    console = _start_console(args.port)
    if console is None:
        print(f"the console could not start on 127.0.0.1:{args.port}: try --port", file=sys.stderr)
        return 1
    login = _demo_login(settings)
    account = f"; sign in as {DEMO_USER} / {login.read_text().strip()}" if login.is_file() else ""
    try:
        run_worker(
            settings,
            loglevel=args.loglevel,
            concurrency=args.concurrency,
            announce=f"console: http://127.0.0.1:{args.port}/{account}",
        )
    finally:
        _stop(console)
    return 0


def _start_console(port: int) -> Any:
    """`reminders web --demo` in a child process, once it answers; None if it could not."""
    import socket
    import subprocess
    import time

    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:  # taken: a console already answering there would not be ours
            return None
    args = ["web", "--demo", "--host", "127.0.0.1", "--port", str(port)]
    child = subprocess.Popen([sys.executable, "-m", "reminders.cli", *args])
    deadline = time.monotonic() + 30
    while child.poll() is None and time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return child
        except OSError:
            time.sleep(0.2)
    _stop(child)
    return None


def _stop(child: Any) -> None:
    """Ctrl-C reached the child too (one process group); anything else ends it here."""
    import subprocess

    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=10)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()


def _version() -> str:
    try:
        return version("clinic-reminders")
    except PackageNotFoundError:  # a bare checkout on PYTHONPATH, not installed
        return "unknown (not installed)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reminders", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    now_help = "act as if it were this instant (ISO 8601; clinic time without an offset)"

    p = sub.add_parser("import", help="import a CSV or JSON schedule")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    p.add_argument("--now", help=now_help)
    p.add_argument("--json", action="store_true", help="print the summary (or problems) as JSON")
    p.add_argument(
        "--all-problems", action="store_true", help="list every problem, not the first 50"
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("tick", help="claim and send everything due, once, in this process")
    p.add_argument("--now", help=now_help)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_tick)

    p = sub.add_parser("messages", help="the message log")
    p.add_argument("--json", action="store_true")
    p.add_argument("--status", choices=[status.value for status in MessageStatus])
    p.add_argument("--channel", choices=["sms", "email"])
    p.add_argument("--session", help="a session_id")
    p.set_defaults(func=cmd_messages)

    p = sub.add_parser("preview", help="what would be sent, when and to whom")
    p.add_argument("--days", type=float, default=7)
    p.add_argument("--json", action="store_true")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("resend", help="send a session reminder again, now")
    p.add_argument("session_id")
    p.add_argument("--channel", choices=["sms", "email"], required=True)
    p.add_argument("--by", required=True, help="who asks (recorded)")
    p.add_argument("--reason", default="")
    p.add_argument("--now", help=now_help)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_resend)

    p = sub.add_parser("drift", help="patients whose series is drifting, for staff to call")
    p.add_argument("--json", action="store_true")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_drift)

    p = sub.add_parser(
        "adherence", help="how well series keep their rhythm, by treatment and practitioner"
    )
    p.add_argument("--json", action="store_true")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_adherence)

    p = sub.add_parser("series", help="pause or resume a series' follow-ups")
    p.add_argument("action", choices=["pause", "resume"])
    p.add_argument("series_id")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_series)

    p = sub.add_parser("templates", help="check every template, or preview one")
    p.add_argument("action", choices=["check", "preview"])
    p.add_argument("kind", nargs="?", help="for preview: session_reminder, aftercare, ...")
    p.add_argument("--channel", choices=["sms", "email"], default="sms")
    p.add_argument("--lang", choices=["en", "fr"], default="en")
    p.add_argument("--json", action="store_true", help="for check")
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("users", help="staff accounts for the web console")
    p.add_argument("action", choices=["list", *_USER_ACTIONS])
    p.add_argument("name", nargs="?")
    p.add_argument("--role", choices=["staff", "admin"], default="staff", help="for add")
    p.add_argument("--json", action="store_true", help="for list")
    p.set_defaults(func=cmd_users)

    p = sub.add_parser("tokens", help="bearer tokens for the REST API")
    p.add_argument("action", choices=["create", "revoke"])
    p.add_argument("name")
    p.set_defaults(func=cmd_tokens)

    p = sub.add_parser("web", help="serve the staff console and the API")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", help="allow a missing REMINDERS_SECRET_KEY")
    p.set_defaults(func=cmd_web)

    p = sub.add_parser("run", help="run the Celery worker and beat together")
    p.add_argument("--loglevel", default="INFO")
    p.add_argument("--concurrency", type=int, default=2)
    p.add_argument("--console", action="store_true", help="also serve the console on 127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="the console's port, with --console")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="load a demo clinic whose reminders fall due within a minute")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("doctor", help="check every part the service needs; exit 1 on a problem")
    parts = ["configuration", "database", "broker", "worker", "beat", "twilio", "smtp", "templates"]
    p.add_argument(
        "--only",
        type=lambda text: text.split(","),
        help=f"comma-separated parts (a container's healthcheck): {', '.join(parts)}",
    )
    p.set_defaults(func=cmd_doctor)

    p = sub.add_parser(
        "migrate", help="bring the database schema up to date (before starting many processes)"
    )
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("purge", help="erase message text and addresses past retention_days")
    p.add_argument("--dry-run", action="store_true", help="count only, erase nothing")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_purge)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    doctor = args.command == "doctor"
    try:
        settings = get_settings()
        if not doctor:  # the doctor reports missing credentials among its findings
            settings.check()
        result: int = args.func(args, settings)
    except ConfigError as exc:
        if doctor:
            from reminders.ops.doctor import unusable

            return unusable(exc, sys.stdout)
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, InterfaceError, ArgumentError) as exc:
        print(_store_problem(exc), file=sys.stderr)
        return 2
    except (RedisError, KombuOperationalError) as exc:
        print(f"broker unreachable (REMINDERS_BROKER_URL): {_first_line(exc)}", file=sys.stderr)
        return 2
    return result


def _store_problem(exc: Exception) -> str:
    """One line, the password left out: run `reminders doctor` for the whole picture."""
    from reminders.ops.checks import reason

    said = reason(exc, get_settings())
    if isinstance(exc, ArgumentError):
        return f"configuration error: REMINDERS_DATABASE_URL: {said}"
    return f"database unreachable (REMINDERS_DATABASE_URL): {said}"


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"


if __name__ == "__main__":
    sys.exit(main())
