"""Staff pages: sessions with their reminder timelines, patients, the message log, what needs
attention, template previews, and the admin pages. Server-rendered; every form is CSRF-checked.

Pages only read and display: sending, planning and accounts go through the same functions as
the CLI (`resend`, `plan_session`, `add_user`, ...), so the rules live in one place.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import joinedload, selectinload

from reminders import store
from reminders.config import CHANNELS, Settings, format_offset
from reminders.models import (
    PROBLEMS,
    UPCOMING,
    Message,
    MessageStatus,
    Patient,
    Series,
    Session,
    SessionStatus,
)
from reminders.planning.consent import patient_by_id, set_consent
from reminders.planning.planner import why_not
from reminders.planning.standing import Standing, assess
from reminders.sending.resend import ResendRefused, resend
from reminders.staff import attention
from reminders.staff.accounts import ROLES, AccountError, StaffUser, add_user, list_users
from reminders.staff.drift import drifting
from reminders.staff.message_log import as_record
from reminders.web.auth import Admin, CsrfChecked, Staff, now_of, settings_of
from reminders.web.render import page as render_page
from reminders.wording import sms_text
from reminders.wording.template_tools import preview_template, template_kinds
from reminders.wording.templating import LOCALES, TemplateProblem, total_sessions

router = APIRouter(include_in_schema=False)

WINDOW_DAYS = 14  # the sessions page shows the chosen day and this many after it
PAGE_SIZE = 50
ATTENTION_LIMIT = 200
MAX_REASON = 200  # a resend's reason, as the form's maxlength
# preview_template() puts this line between an email's text part and its HTML part.
_HTML_SEPARATOR = "\n" + "-" * 30 + " HTML\n"


# ---------------------------------------------------------------- shared helpers


def _show(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the notice left by the last form post, shown once."""
    flash = request.session.pop("flash", None)
    if isinstance(flash, list) and len(flash) == 2:
        context.setdefault("flash", {"kind": flash[0], "text": flash[1]})
    return render_page(request, template, status_code, **context)


def _flash(request: Request, kind: str, text: str) -> None:
    request.session["flash"] = [kind, text]


def _back(target: str) -> RedirectResponse:
    return RedirectResponse(_same_site(target), status_code=303)


def _same_site(target: str) -> str:
    """Only a path on this site: '//host' and '/\\host' would leave it, CR/LF would split it."""
    leaves = target.startswith(("//", "/\\")) or "\r" in target or "\n" in target
    return target if target.startswith("/") and not leaves else "/"


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _local(moment: datetime | None, zone: ZoneInfo, fmt: str = "%a %d %b %Y %H:%M") -> str:
    return moment.astimezone(zone).strftime(fmt) if moment else ""


def _day_start(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _parse_day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _request_key() -> str:
    # One per rendered form: posting the same form twice sends once (see resend()).
    return secrets.token_urlsafe(24)


def _can_resend(session: Session, now: datetime) -> bool:
    return session.status in UPCOMING and session.starts_at > now


def _name(patient: Patient) -> str:
    return f"{patient.first_name} {patient.last_name}".strip()


def _no_patient(request: Request, user: StaffUser, patient_id: str) -> HTMLResponse:
    text = f"No patient {patient_id!r}."
    return _show(request, "problem.html", 404, user=user, title="No such patient", text=text)


# ---------------------------------------------------------------- view rows


@dataclass(frozen=True)
class MessageRow:
    """One message in a session's reminder timeline."""

    kind: str
    channel: str
    status: str
    reason: str
    label: str  # "due", "tried" or "sent"
    at: str
    by: str


@dataclass(frozen=True)
class SessionRow:
    id: str
    day: date
    time: str
    patient_id: str
    patient_name: str
    number: int
    of: int
    practitioner: str
    location: str
    status: str
    messages: list[MessageRow]
    notes: list[str]  # why a rule of the policy has no message for this session
    can_resend: bool
    request_key: str


@dataclass(frozen=True)
class LogRow:
    """One message of the log: its record (as the CLI prints it) and what the page adds."""

    record: dict[str, Any]
    patient_name: str
    label: str
    at: str
    session_at: str
    can_resend: bool
    request_key: str


def _moment(message: Message) -> tuple[str, datetime]:
    """The time that matters for a message's state, and what it is."""
    if message.sent_at:
        return "sent", message.sent_at
    if message.attempted_at:
        return "tried", message.attempted_at
    return "due", message.due_at


def _message_row(message: Message, zone: ZoneInfo) -> MessageRow:
    label, at = _moment(message)
    return MessageRow(
        kind=message.kind.replace("_", " "),
        channel=message.channel,
        status=message.status,
        reason=message.reason,
        label=label,
        at=_local(at, zone, "%a %d %b %H:%M"),
        by="" if message.triggered_by == "planner" else message.triggered_by,
    )


def _unplanned(settings: Settings, session: Session) -> list[str]:
    """The planner's own reason for each rule that has no message for the session."""
    if session.status not in UPCOMING:
        return []  # a past or cancelled session needs no reminder: nothing to explain
    patient = session.series.patient
    planned = {m.rule for m in session.messages}
    reasons = ((rule.name, why_not(session, patient, rule)) for rule in settings.rules)
    return [f"no {name}: {reason}" for name, reason in reasons if reason and name not in planned]


def _session_row(settings: Settings, session: Session, now: datetime) -> SessionRow:
    zone = settings.clinic.zone
    patient = session.series.patient
    ordered = sorted(session.messages, key=lambda m: (_moment(m)[1], m.id))
    return SessionRow(
        id=session.external_id,
        day=session.starts_at.astimezone(zone).date(),
        time=_local(session.starts_at, zone, "%H:%M"),
        patient_id=patient.external_id,
        patient_name=_name(patient),
        number=session.number,
        of=total_sessions(session),
        practitioner=session.practitioner,
        location=session.location,
        status=session.status,
        messages=[_message_row(m, zone) for m in ordered],
        notes=_unplanned(settings, session),
        can_resend=_can_resend(session, now),
        request_key=_request_key(),
    )


def _log_row(message: Message, zone: ZoneInfo, now: datetime) -> LogRow:
    label, at = _moment(message)
    return LogRow(
        record=as_record(message),
        patient_name=_name(message.session.series.patient),
        label=label,
        at=_local(at, zone),
        session_at=_local(message.session.starts_at, zone),
        can_resend=_can_resend(message.session, now),
        request_key=_request_key(),
    )


def _with_patient() -> Any:
    return joinedload(Message.session).joinedload(Session.series).joinedload(Series.patient)


# ---------------------------------------------------------------- sessions


@router.get("/", response_class=HTMLResponse)
def sessions_page(
    request: Request, user: Staff, day: str = "", practitioner: str = ""
) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    today = now.astimezone(zone).date()
    first = _parse_day(day) or today
    start, end = _day_start(first, zone), _day_start(first + timedelta(days=WINDOW_DAYS + 1), zone)
    with store.transaction(settings.database_url) as db:
        found = _sessions_between(db, start, end, practitioner)
        rows = [_session_row(settings, s, now) for s in found]
        practitioners = _practitioners(db)
    return _show(
        request,
        "sessions.html",
        user=user,
        rows=rows,
        day=first,
        last_day=first + timedelta(days=WINDOW_DAYS),
        today=today,
        practitioner=practitioner,
        practitioners=practitioners,
        bad_day=bool(day) and _parse_day(day) is None,
        here=_here(request),
        channels=CHANNELS,
    )


def _sessions_between(
    db: DB, start: datetime, end: datetime, practitioner: str
) -> Sequence[Session]:
    query = (
        select(Session)
        .where(Session.starts_at >= start, Session.starts_at < end)
        .options(
            selectinload(Session.messages),
            joinedload(Session.series).joinedload(Series.patient),
        )
        .order_by(Session.starts_at, Session.id)
    )
    if practitioner:
        query = query.where(Session.practitioner == practitioner)
    return db.scalars(query).unique().all()


def _practitioners(db: DB) -> list[str]:
    names = db.scalars(select(Session.practitioner).distinct().order_by(Session.practitioner))
    return [name for name in names if name]


# ---------------------------------------------------------------- resend


@router.post("/sessions/{session_id:path}/resend", dependencies=[CsrfChecked])
def resend_session(
    request: Request,
    user: Staff,
    session_id: str,
    channel: Annotated[str, Form()],
    request_key: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Send the session's reminder again now, through the CLI's own resend()."""
    if channel not in CHANNELS:
        _flash(request, "error", f"Resend refused: unknown channel {channel!r}")
        return _back(next)
    try:
        message = resend(
            settings_of(request),
            session_id,
            channel,
            user.name,
            reason.strip()[:MAX_REASON],
            now_of(request),
            # The column holds 64 characters; ours are 32. A longer one was not made here.
            request_key=request_key[:64] or None,
        )
    except ResendRefused as exc:
        _flash(request, "error", f"Resend refused: {exc}")
        return _back(next)
    ok = message.status in (MessageStatus.SENT, MessageStatus.DELIVERED)
    outcome = message.status + ("" if ok else f" ({message.reason})")
    _flash(request, "notice" if ok else "error", f"Resend of {session_id} by {channel}: {outcome}")
    return _back(next)


# ---------------------------------------------------------------- patient


@dataclass(frozen=True)
class Span:
    x: float
    width: float
    title: str


@dataclass(frozen=True)
class Dot:
    x: float
    number: int
    status: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Timeline:
    """A series on a time axis: sessions as dots, target windows shaded, overdue gaps in red."""

    width: int
    dots: list[Dot]
    windows: list[Span]
    gaps: list[Span]
    ticks: list[Tick]
    now_x: float


@dataclass(frozen=True)
class SeriesView:
    id: str
    treatment: str
    status: str
    paused: bool
    done: int
    planned: int
    left: int
    interval_days: int
    recommended_next: str
    next_due: str
    next_booked: str
    days_overdue: int
    timeline: Timeline
    sessions: list[SessionRow]


TIMELINE_WIDTH = 720
_MARGIN = 20
# A wait ends at the next session the patient came to or is booked for; a no-show does not end it.
_ATTENDING = (SessionStatus.COMPLETED, *UPCOMING)


class _Axis:
    """Maps instants onto the chart's x coordinates."""

    def __init__(self, first: datetime, last: datetime) -> None:
        pad = timedelta(days=7)
        self.start, self.span = first - pad, (last - first) + 2 * pad

    def x(self, moment: datetime) -> float:
        inner = TIMELINE_WIDTH - 2 * _MARGIN
        return round(_MARGIN + inner * ((moment - self.start) / self.span), 1)

    def span_of(self, start: datetime, end: datetime, title: str) -> Span:
        return Span(self.x(start), max(self.x(end) - self.x(start), 1.0), title)


def _timeline(settings: Settings, series: Series, standing: Standing, now: datetime) -> Timeline:
    zone = settings.clinic.zone
    sessions = sorted(series.sessions, key=lambda s: s.starts_at)
    completed = [s for s in sessions if s.status == SessionStatus.COMPLETED]
    tolerance = timedelta(days=settings.followups.tolerance_days)
    windows = [
        (s.starts_at + standing.interval - tolerance, s.starts_at + standing.interval + tolerance)
        for s in completed
    ]
    gaps = _gaps(sessions, completed, standing.interval + tolerance, now)
    moments = [now, *(s.starts_at for s in sessions), *(end for _, end in windows)]
    axis = _Axis(min(moments), max(moments))
    day = "%d %b %Y"
    return Timeline(
        width=TIMELINE_WIDTH,
        dots=[_dot(axis, s, zone) for s in sessions],
        windows=[
            axis.span_of(a, b, f"target window {_local(a, zone, day)} to {_local(b, zone, day)}")
            for a, b in windows
        ],
        gaps=[
            axis.span_of(a, b, f"overdue by {(b - a).days} days past the target window")
            for a, b in gaps
        ],
        ticks=_ticks(axis, zone),
        now_x=axis.x(now),
    )


def _gaps(
    sessions: list[Session], completed: list[Session], limit: timedelta, now: datetime
) -> list[tuple[datetime, datetime]]:
    """Where the wait after a completed session ran past the interval plus the tolerance."""
    gaps = []
    for visit in completed:
        following = [
            s for s in sessions if s.starts_at > visit.starts_at and s.status in _ATTENDING
        ]
        end = following[0].starts_at if following else now
        late = visit.starts_at + limit
        if end > late:
            gaps.append((late, end))
    return gaps


def _dot(axis: _Axis, session: Session, zone: ZoneInfo) -> Dot:
    when = _local(session.starts_at, zone)
    title = f"session {session.number}: {when}, {session.status.replace('_', ' ')}"
    return Dot(axis.x(session.starts_at), session.number, session.status, title)


def _ticks(axis: _Axis, zone: ZoneInfo) -> list[Tick]:
    """A tick on the first of each month in view."""
    local = axis.start.astimezone(zone)
    month = date(local.year, local.month, 1)
    ticks: list[Tick] = []
    while (start := _day_start(month, zone)) < axis.start + axis.span:
        if start >= axis.start:
            label = month.strftime("%b %Y" if month.month == 1 or not ticks else "%b")
            ticks.append(Tick(axis.x(start), label))
        month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return ticks


def _series_view(settings: Settings, series: Series, now: datetime) -> SeriesView:
    zone = settings.clinic.zone
    standing = assess(settings, series, now)
    booked = standing.next_booked
    return SeriesView(
        id=series.external_id,
        treatment=series.treatment,
        status=standing.status,
        paused=series.paused,
        done=standing.done,
        planned=standing.planned,
        left=max(standing.planned - standing.done, 0),
        interval_days=standing.interval.days,
        recommended_next=_local(standing.recommended_next, zone, "%a %d %b %Y"),
        next_due=_local(standing.next_due, zone, "%a %d %b %Y"),
        next_booked=_local(booked.starts_at, zone) if booked else "",
        days_overdue=standing.days_overdue(now),
        timeline=_timeline(settings, series, standing, now),
        sessions=[_session_row(settings, s, now) for s in series.sessions],
    )


def _load_patient(db: DB, patient_id: str) -> Patient | None:
    query = (
        select(Patient)
        .where(Patient.external_id == patient_id)
        .options(
            selectinload(Patient.series)
            .selectinload(Series.sessions)
            .selectinload(Session.messages)
        )
    )
    return db.scalars(query).one_or_none()


@router.get("/patients/{patient_id:path}", response_class=HTMLResponse)
def patient_page(request: Request, user: Staff, patient_id: str) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    # Views are built inside the transaction and rendered after it: rendering reads the
    # signed-in user in a transaction of its own, and SQLite has one writer at a time.
    with store.transaction(settings.database_url) as db:
        patient = _load_patient(db, patient_id)
        context = _patient_context(settings, patient, now) if patient else None
    if context is None:
        return _no_patient(request, user, patient_id)
    return _show(
        request, "patient.html", user=user, here=_here(request), channels=CHANNELS, **context
    )


def _patient_context(settings: Settings, patient: Patient, now: datetime) -> dict[str, Any]:
    zone = settings.clinic.zone
    sent = [m for s in patient.series for session in s.sessions for m in session.messages]
    sent.sort(key=lambda m: (_moment(m)[1], m.id), reverse=True)
    return {
        "patient": patient,
        "patient_name": _name(patient),
        "series": [_series_view(settings, s, now) for s in patient.series],
        "log": [_log_row(m, zone, now) for m in sent],
    }


# ---------------------------------------------------------------- message log


@dataclass(frozen=True)
class LogFilters:
    status: str
    channel: str
    kind: str
    start: datetime | None
    end: datetime | None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.status:
            found.append(Message.status == self.status)
        if self.channel:
            found.append(Message.channel == self.channel)
        if self.kind:
            found.append(Message.kind == self.kind)
        if self.start or self.end:
            # A message is "on" a day when it was due or sent then.
            found.append(or_(self._within(Message.due_at), self._within(Message.sent_at)))
        return found

    def _within(self, column: Any) -> ColumnElement[bool]:
        bounds = []
        if self.start:
            bounds.append(column >= self.start)
        if self.end:
            bounds.append(column < self.end)
        return and_(*bounds)


def _log_page(
    db: DB, filters: LogFilters, number: int, zone: ZoneInfo, now: datetime
) -> tuple[list[LogRow], int]:
    """One page of the log, newest first, and how many messages match in all."""
    conditions = filters.conditions()
    total = db.scalar(select(func.count(Message.id)).where(*conditions)) or 0
    newest = func.coalesce(Message.sent_at, Message.due_at)
    query = (
        select(Message)
        .where(*conditions)
        .options(_with_patient())
        .order_by(newest.desc(), Message.id.desc())
        .offset((number - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    )
    return [_log_row(m, zone, now) for m in db.scalars(query).unique()], total


@router.get("/messages", response_class=HTMLResponse)
def messages_page(
    request: Request,
    user: Staff,
    status: str = "",
    channel: str = "",
    kind: str = "",
    since: Annotated[str, Query(alias="from")] = "",
    to: str = "",
    page: int = 1,
) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    first, last = _parse_day(since), _parse_day(to)
    filters = LogFilters(
        status=status,
        channel=channel,
        kind=kind,
        start=_day_start(first, zone) if first else None,
        end=_day_start(last + timedelta(days=1), zone) if last else None,
    )
    number = max(page, 1)
    with store.transaction(settings.database_url) as db:
        rows, total = _log_page(db, filters, number, zone, now)
    chosen = {"status": status, "channel": channel, "kind": kind, "from": since, "to": to}
    return _show(
        request,
        "messages.html",
        user=user,
        rows=rows,
        total=total,
        page=number,
        pages=max(math.ceil(total / PAGE_SIZE), 1),
        chosen=chosen,
        query=urlencode({k: v for k, v in chosen.items() if v}),
        bad_dates=[d for d, parsed in ((since, first), (to, last)) if d and parsed is None],
        statuses=[s.value for s in MessageStatus],
        channels=CHANNELS,
        kinds=template_kinds(settings),
        here=_here(request),
    )


# ---------------------------------------------------------------- needs attention


@router.get("/attention", response_class=HTMLResponse)
def attention_page(request: Request, user: Staff) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    newest = func.coalesce(Message.sent_at, Message.attempted_at, Message.due_at)
    query = (
        select(Message)
        .where(Message.status.in_(PROBLEMS))
        .options(_with_patient())
        .order_by(newest.desc(), Message.id.desc())
        .limit(ATTENTION_LIMIT)
    )
    with store.transaction(settings.database_url) as db:
        problems = [_log_row(m, zone, now) for m in db.scalars(query).unique()]
    return _show(
        request,
        "attention.html",
        user=user,
        problems=problems,
        limit=ATTENTION_LIMIT,
        replies=[_reply_row(r, zone) for r in attention.unhandled(settings, ATTENTION_LIMIT)],
        unconfirmed=[
            {**asdict(sms), "sent_at": _local(sms.sent_at, zone)}
            for sms in attention.stale_sms(settings, now)
        ],
        drifting=[_drift_row(record, zone) for record in drifting(settings, now)],
        here=_here(request),
        channels=CHANNELS,
    )


def _reply_row(reply: attention.StaffReply, zone: ZoneInfo) -> dict[str, Any]:
    return {
        **asdict(reply),
        "received_at": _local(reply.received_at, zone),
        "session_at": _local(reply.session_at, zone),
    }


@router.post("/attention/replies/{inbound_id}/handled", dependencies=[CsrfChecked])
def mark_reply_handled(request: Request, user: Staff, inbound_id: int) -> Response:
    """Staff called the patient back (or read the text): off the list, with who and when."""
    if attention.mark_handled(settings_of(request), inbound_id, user.name, now_of(request)):
        _flash(request, "notice", "Marked as handled.")
    else:
        _flash(request, "error", "That reply was already handled or does not exist.")
    return _back("/attention")


def _drift_row(record: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """drifting()'s record with its UTC instants as clinic days."""
    day = "%a %d %b %Y"
    last = record["last_session"]
    return {
        **record,
        "last_session": {**last, "at": _local(datetime.fromisoformat(last["starts_at"]), zone)},
        "sent": [
            {**sent, "at": _local(datetime.fromisoformat(sent["sent_at"]), zone, day)}
            for sent in record["sent"]
        ],
    }


# ---------------------------------------------------------------- template preview


@dataclass(frozen=True)
class Preview:
    subject: str | None
    text: str
    html: str | None
    encoding: str | None  # SMS only
    length: int | None
    segments: int | None


def _preview(settings: Settings, kind: str, channel: str, language: str) -> Preview:
    """The CLI's preview (`reminders templates preview`), split back into its parts."""
    rendered = preview_template(settings, kind, channel, language)
    if channel == "sms":
        text = rendered.rsplit("\n\n[", 1)[0]
        return Preview(
            None,
            text,
            None,
            sms_text.encoding(text),
            sms_text.length(text),
            sms_text.segments(text),
        )
    head, _, html = rendered.partition(_HTML_SEPARATOR)
    subject_line, _, text = head.partition("\n\n")
    subject = subject_line.removeprefix("Subject: ")
    return Preview(subject, text, html, None, None, None)


@router.get("/templates", response_class=HTMLResponse)
def templates_page(
    request: Request,
    user: Staff,
    kind: str = "session_reminder",
    channel: str = "sms",
    language: str = "en",
) -> HTMLResponse:
    settings = settings_of(request)
    preview, error = None, None
    try:
        preview = _preview(settings, kind, channel, language)
    except TemplateProblem as exc:
        error = str(exc)
    return _show(
        request,
        "templates.html",
        400 if error else 200,
        user=user,
        kinds=template_kinds(settings),
        channels=CHANNELS,
        languages=sorted(LOCALES),
        chosen={"kind": kind, "channel": channel, "language": language},
        preview=preview,
        error=error,
    )


# ---------------------------------------------------------------- admin


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: Admin) -> HTMLResponse:
    return _users(request, user)


def _users(request: Request, user: StaffUser, status_code: int = 200, **form: str) -> HTMLResponse:
    return _show(
        request,
        "users.html",
        status_code,
        user=user,
        users=list_users(settings_of(request)),
        roles=ROLES,
        form=form,
    )


@router.post("/admin/users", response_class=HTMLResponse, dependencies=[CsrfChecked])
def add_user_form(
    request: Request,
    user: Admin,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    name = name.strip()
    try:
        if not name:
            raise AccountError("a name is required")
        add_user(settings_of(request), name, role, password, now_of(request))
    except AccountError as exc:
        return _users(request, user, 400, error=str(exc), name=name, role=role)
    _flash(request, "notice", f"Added {role} {name}.")
    return _back("/admin/users")


@router.get("/admin/patients/{patient_id:path}/opt-out", response_class=HTMLResponse)
def opt_out_page(request: Request, user: Admin, patient_id: str) -> HTMLResponse:
    with store.transaction(settings_of(request).database_url) as db:
        patient = db.scalars(select(Patient).where(Patient.external_id == patient_id)).one_or_none()
    if patient is None:
        return _no_patient(request, user, patient_id)
    return _show(request, "opt_out.html", user=user, patient=patient, patient_name=_name(patient))


@router.post("/admin/patients/{patient_id:path}/opt-out", dependencies=[CsrfChecked])
def change_opt_out(
    request: Request,
    user: Admin,
    patient_id: str,
    sms_opt_out: Annotated[bool, Form()] = False,
    email_opt_out: Annotated[bool, Form()] = False,
) -> Response:
    """An unchecked box is absent from the form: absent means 'not opted out'."""
    settings, now = settings_of(request), now_of(request)
    changed = _set_opt_outs(settings, patient_id, sms_opt_out, email_opt_out, now)
    if changed is None:
        return _no_patient(request, user, patient_id)
    states = f"SMS {'off' if sms_opt_out else 'on'}, email {'off' if email_opt_out else 'on'}"
    _flash(request, "notice", f"Saved: {states}; {changed} planned message(s) changed.")
    return _back(f"/patients/{patient_id}")


def _set_opt_outs(
    settings: Settings, patient_id: str, sms: bool, email: bool, now: datetime
) -> int | None:
    """Set the patient's opt-outs and re-plan their sessions, as an import would; rows changed."""
    with store.transaction(settings.database_url) as db:
        patient = patient_by_id(db, patient_id)
        if patient is None:
            return None
        return set_consent(db, settings, [patient], now, sms_opt_out=sms, email_opt_out=email)


@router.get("/admin/policy", response_class=HTMLResponse)
def policy_page(request: Request, user: Admin) -> HTMLResponse:
    settings = settings_of(request)
    rules = [
        {
            "name": rule.name,
            "kind": rule.kind,
            "channel": rule.channel,
            "offset": format_offset(rule.offset),
            "when": format_offset(abs(rule.offset)).lstrip("+")
            + (" before" if rule.before_session else " after"),
            "template": rule.template,
        }
        for rule in settings.rules
    ]
    return _show(
        request,
        "policy.html",
        user=user,
        rules=rules,
        quiet=settings.quiet_hours,
        followups=settings.followups,
        # Named values only: the settings object also holds the secrets.
        timezone=settings.clinic.timezone,
        resend_limit=settings.resend_limit,
        sms_segment_budget=settings.sms_segment_budget,
        name_treatment_in_sms=settings.clinic.name_treatment_in_sms,
    )
