"""`reminders`: import schedules, send what is due, read the log, resend, run the service."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reminders.config import ConfigError, Settings, get_settings

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


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.intake.importer import import_schedule
    from reminders.intake.progress import bar
    from reminders.intake.schedule_file import ScheduleError, read_schedule

    now = parse_now(args.now, settings)
    try:
        rows = read_schedule(Path(args.file), settings.clinic.zone, progress=bar("validating"))
        summary = import_schedule(settings, rows, now, dry_run=args.dry_run)
    except ScheduleError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        count = len(exc.problems)
        print(
            f"import failed: {count} problem{'s' * (count != 1)}; nothing was written",
            file=sys.stderr,
        )
        return 1
    except OSError as exc:
        print(f"import failed: {exc}", file=sys.stderr)
        return 1
    prefix = "dry run, nothing written: " if args.dry_run else "imported "
    print(prefix + str(summary))
    return 0


def cmd_tick(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.feedback.reconcile import reconcile_unknown
    from reminders.sending.dispatch import dispatch_due

    now = parse_now(args.now, settings)
    report = dispatch_due(settings, now)
    found = reconcile_unknown(settings, now)
    print(
        f"tick at {now.isoformat()}: {report}" + (f"; {found} unknown found sent" if found else "")
    )
    return 0


def _print_table(records: list[dict[str, Any]], settings: Settings, when: str) -> None:
    for r in records:
        print(
            f"{r['id']:>5}  {local(r[when], settings):16}  {r['status']:10} {r['channel']:5} "
            f"{r['kind']:17} {r['session_id']:>10}  {r['recipient'] or '-':28} {r['reason']}"
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
    _print_table(records, settings, "due_at")
    return 0


def cmd_resend(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.sending.resend import ResendRefused, resend

    now = parse_now(args.now, settings)
    try:
        message = resend(settings, args.session_id, args.channel, args.by, args.reason, now)
    except ResendRefused as exc:
        print(f"resend refused: {exc}", file=sys.stderr)
        return 1
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
            f"{r['days_overdue']:>3} days overdue  last: {last['session_id']} "
            f"{local(last['starts_at'], settings)} {last['status']}  "
            f"{r['sessions_done']}/{r['planned_sessions']} done  {r['phone'] or r['email']}  "
            f"({sent})"
        )
    return 0


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


def _password(args: argparse.Namespace) -> str:
    if sys.stdin.isatty():
        import getpass

        first = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != first:
            raise SystemExit("the passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_users(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.staff.accounts import AccountError, add_user, list_users

    if args.action == "list":
        for user in list_users(settings):
            print(f"{user.name:24} {user.role}")
        return 0
    if not args.name:
        print("users add: name the user", file=sys.stderr)
        return 2
    try:
        user = add_user(settings, args.name, args.role, _password(args), parse_now(None, settings))
    except AccountError as exc:
        print(f"users add refused: {exc}", file=sys.stderr)
        return 1
    print(f"user {user.name} added ({user.role})")
    return 0


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

    app = create_app(settings, demo=args.demo)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.intake.demo import load_demo

    now = parse_now(args.now, settings)
    summary = load_demo(settings, now)
    print(f"demo clinic loaded: {summary}")
    print(
        f"reminders fall due within the next minute; sent messages appear in {settings.outbox_dir}/"
    )
    return 0


def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    from reminders.worker.app import run_worker

    run_worker(settings, loglevel=args.loglevel, concurrency=args.concurrency)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reminders", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    now_help = "act as if it were this instant (ISO 8601; clinic time without an offset)"

    p = sub.add_parser("import", help="import a CSV or JSON schedule")
    p.add_argument("file")
    p.add_argument("--dry-run", action="store_true", help="validate only, write nothing")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("tick", help="claim and send everything due, once, in this process")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_tick)

    p = sub.add_parser("messages", help="the message log")
    p.add_argument("--json", action="store_true")
    p.add_argument("--status")
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
    p.set_defaults(func=cmd_resend)

    p = sub.add_parser("drift", help="patients whose series is drifting, for staff to call")
    p.add_argument("--json", action="store_true")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_drift)

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
    p.set_defaults(func=cmd_templates)

    p = sub.add_parser("users", help="staff accounts for the web console")
    p.add_argument("action", choices=["add", "list"])
    p.add_argument("name", nargs="?")
    p.add_argument("--role", choices=["staff", "admin"], default="staff")
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
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="load a demo clinic whose reminders fall due within a minute")
    p.add_argument("--now", help=now_help)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
        settings.check()
        result: int = args.func(args, settings)
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    sys.exit(main())
