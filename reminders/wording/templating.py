"""Message text from Jinja2 templates: `templates/<kind>/<channel>.<language>.<part>`.

Parts: `sms.<lang>.txt`; `email.<lang>.subject.txt`, `email.<lang>.txt`, `email.<lang>.html`.
A clinic's template folder is searched first, so any file there overrides the shipped one.
Patient data only ever enters as values of the context, never as template source.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

import phonenumbers
from babel.dates import (
    format_date,
    format_datetime,
    format_time,
    get_date_format,
    get_datetime_format,
    get_time_format,
)
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
    select_autoescape,
)

from reminders.config import Settings
from reminders.models import Patient, Session
from reminders.planning.standing import Standing, assess
from reminders.wording import sms_text

LOCALES = {"en": "en_CA", "fr": "fr_CA"}
DEFAULT_LANGUAGE = "en"
_OF = {"en": "{n} of {total}", "fr": "{n} sur {total}"}
# The files that make up one message, by channel: `<kind>/<channel>.<language>.<part>`.
PARTS = {"sms": ("txt",), "email": ("subject.txt", "txt", "html")}


@dataclass(frozen=True)
class Rendered:
    subject: str | None  # email only
    text: str  # SMS body, or email plain-text part
    html: str | None  # email only


class TemplateProblem(Exception):
    """A template is missing, does not compile, or uses a variable the context lacks."""

    def __init__(self, template: str, problem: str, *, where: str | None = None) -> None:
        super().__init__(f"template {template}: {problem}")
        self.template = template
        self.problem = problem
        # The file at fault: `template` itself, or a layout it extends or includes.
        self.where = where or template


@dataclass(frozen=True)
class PatientView:
    first_name: str
    language: str


@dataclass(frozen=True)
class ClinicView:
    name: str
    phone: str
    address: str
    website: str
    email: str
    booking_url: str


@dataclass(frozen=True)
class SessionView:
    date: str
    time: str
    weekday: str
    datetime: str
    number: int
    of: int
    practitioner: str
    location: str


@dataclass(frozen=True)
class SeriesView:
    treatment: str
    done: int
    left: int
    progress: str  # the anchor session's number: "3 of 6"
    planned: int
    done_text: str  # sessions completed: "3 of 6"
    recommended_next: str  # date text, "" when there is no completed session yet
    recommended_passed: bool  # the recommended date is before today (clinic time)


def patient_language(patient: Patient) -> str:
    """The patient's language if we ship it, else English: a reminder beats no reminder."""
    language = (patient.language or "").strip().lower()[:2]
    return language if language in LOCALES else DEFAULT_LANGUAGE


def progress_text(language: str, number: int, total: int) -> str:
    """'3 of 6' / '3 sur 6'."""
    return _OF[language].format(n=number, total=total)


def session_context(
    settings: Settings,
    session: Session,
    *,
    greet: bool = True,
    channel: str = "email",
    now: datetime | None = None,
    unsubscribe_url: str = "",
) -> dict[str, object]:
    """The variables every template gets, about `session` and where its series stands at `now`.

    Dates and times are in the patient's language and the clinic's zone. For `channel="sms"`
    they are rewritten into the GSM-7 alphabet (`sms_text.gsm_safe`); names never are.
    `greet` is false when the greeting name should be left out (or there is no first name).
    `next_session` is the next booked session after `now`, or None.
    """
    patient = session.series.patient
    language = patient_language(patient)
    sms = channel == "sms"
    now = now or datetime.now(UTC)
    standing = assess(settings, session.series, now)
    following = standing.next_booked
    next_view = None if following is None else _session_view(settings, following, language, sms=sms)
    return {
        "patient": PatientView(first_name=patient.first_name, language=language),
        "clinic": _clinic_view(settings),
        "session": _session_view(settings, session, language, sms=sms),
        "series": _series_view(settings, session, standing, language, sms=sms, now=now),
        "next_session": next_view,
        "greet": greet and bool(patient.first_name.strip()),
        "show_treatment": settings.clinic.name_treatment_in_sms,
        "unsubscribe_url": unsubscribe_url,
    }


def _clinic_view(settings: Settings) -> ClinicView:
    clinic = settings.clinic
    return ClinicView(
        name=clinic.name,
        phone=display_phone(clinic.phone),
        address=clinic.address,
        website=clinic.website,
        email=clinic.email,
        booking_url=clinic.booking_url,
    )


def display_phone(phone: str) -> str:
    """'+14032027272' -> '(403) 202-7272'; anything unparsable is shown as configured."""
    try:
        number = phonenumbers.parse(phone, "CA")
    except phonenumbers.NumberParseException:
        return phone
    if not phonenumbers.is_possible_number(number):
        return phone
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def total_sessions(session: Session) -> int:
    # A session added beyond the plan reads "7 of 7", not "7 of 6".
    return max(session.series.planned_sessions, session.number)


def _session_view(settings: Settings, session: Session, language: str, *, sms: bool) -> SessionView:
    local = session.starts_at.astimezone(settings.clinic.zone)
    date, time, weekday, when = _moment_texts(local, LOCALES[language])
    if sms:
        date, time, weekday, when = (sms_text.gsm_safe(t) for t in (date, time, weekday, when))
    return SessionView(
        date=date,
        time=time,
        weekday=weekday,
        datetime=when,
        number=session.number,
        of=total_sessions(session),
        practitioner=session.practitioner or "",
        location=session.location or "",
    )


def _moment_texts(local: datetime, locale: str) -> tuple[str, str, str, str]:
    """(date, time, weekday, date and time) of an aware local datetime."""
    # Kept per wall-clock time, zone and locale (an aware datetime compares by instant
    # alone): a clinic's sessions share their slots, and formatting is much of a render.
    return _wall_clock_texts(local.replace(tzinfo=None), local.fold, str(local.tzinfo), locale)


@lru_cache(maxsize=4096)
def _wall_clock_texts(
    naive: datetime, fold: int, zone_name: str, locale: str
) -> tuple[str, str, str, str]:
    local = naive.replace(tzinfo=ZoneInfo(zone_name), fold=fold)
    zone = local.tzinfo
    date_and_time = (
        str(get_datetime_format("full", locale=locale))
        .replace("{1}", str(get_date_format("full", locale=locale).pattern))
        .replace("{0}", str(get_time_format("short", locale=locale).pattern))
    )
    return (
        format_date(local, "full", locale=locale),
        format_time(local, "short", tzinfo=zone, locale=locale),
        format_date(local, "EEEE", locale=locale),
        format_datetime(local, date_and_time, tzinfo=zone, locale=locale),
    )


def _series_view(
    settings: Settings,
    session: Session,
    standing: Standing,
    language: str,
    *,
    sms: bool,
    now: datetime,
) -> SeriesView:
    total = total_sessions(session)
    done = standing.done
    planned = max(total, done)
    recommended = standing.recommended_next
    zone = settings.clinic.zone
    return SeriesView(
        treatment=session.series.treatment,
        done=done,
        left=max(total - done, 0),
        progress=progress_text(language, session.number, total),
        planned=planned,
        done_text=progress_text(language, done, planned),
        recommended_next=_date_text(settings, recommended, language, sms=sms),
        recommended_passed=bool(
            recommended and recommended.astimezone(zone).date() < now.astimezone(zone).date()
        ),
    )


def _date_text(settings: Settings, moment: datetime | None, language: str, *, sms: bool) -> str:
    """The date alone, spelled like `session.date`; "" for no date."""
    if moment is None:
        return ""
    text = format_date(moment.astimezone(settings.clinic.zone), "full", locale=LOCALES[language])
    return sms_text.gsm_safe(text) if sms else text


@lru_cache(maxsize=16)
def _environment(dirs: tuple[Path, ...]) -> Environment:
    return Environment(
        loader=FileSystemLoader(dirs),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def environment(template_dirs: Sequence[Path]) -> Environment:
    """The one Environment for this list of template folders."""
    return _environment(tuple(template_dirs))


def _render_file(env: Environment, name: str, context: dict[str, object]) -> str:
    try:
        return env.get_template(name).render(context)
    except TemplateError as exc:
        where, line = _fault(env, exc, name)
        at = f"{where}, line {line}" if line else where
        problem = f"{exc.message or type(exc).__name__} (in {at})"
        raise TemplateProblem(name, problem, where=where) from exc


def _fault(env: Environment, exc: TemplateError, name: str) -> tuple[str, int | None]:
    """The template at fault and its line, which may be a layout `name` extends or includes.

    A syntax error names them itself; for an error while rendering, Jinja rewrites the
    traceback so that its innermost template frame has the file and line.
    """
    if isinstance(exc, TemplateSyntaxError):
        return exc.name or name, exc.lineno
    if isinstance(exc, TemplateNotFound):
        return str(exc.name or name), None
    fault: tuple[str, int | None] = (name, None)
    tb = exc.__traceback__
    while tb is not None:
        if "__jinja_exception__" in tb.tb_frame.f_globals:
            fault = (_template_name(env, tb.tb_frame.f_code.co_filename), tb.tb_lineno)
        tb = tb.tb_next
    return fault


def _template_name(env: Environment, filename: str) -> str:
    """'/srv/clinic/templates/_layouts/footer.en.txt' -> '_layouts/footer.en.txt'."""
    folders = env.loader.searchpath if isinstance(env.loader, FileSystemLoader) else []
    for folder in folders:
        path = Path(filename)
        if path.is_relative_to(folder):
            return path.relative_to(folder).as_posix()
    return filename


def part_names(template: str, channel: str, language: str) -> list[str]:
    """The template files one message of `template` is rendered from."""
    stem = f"{template}/{channel}.{language}"
    if channel not in PARTS:
        raise TemplateProblem(stem, f"no template parts for channel {channel!r}")
    return [f"{stem}.{part}" for part in PARTS[channel]]


def render_part(settings: Settings, name: str, context: dict[str, object]) -> str:
    """One template file, as is; `TemplateProblem` names the file that failed."""
    return _render_file(environment(settings.template_dirs), name, context)


def render(
    settings: Settings, template: str, channel: str, language: str, context: dict[str, object]
) -> Rendered:
    """Render the parts of `template` for `channel` in `language`."""
    parts = [
        render_part(settings, name, context) for name in part_names(template, channel, language)
    ]
    if channel == "sms":
        return Rendered(subject=None, text=parts[0].strip(), html=None)
    subject, text, html = parts
    return Rendered(subject=" ".join(subject.split()), text=text.strip() + "\n", html=html)


def render_for(
    settings: Settings,
    template: str,
    channel: str,
    session: Session,
    *,
    now: datetime | None = None,
    unsubscribe_url: str = "",
) -> Rendered:
    """Render in the patient's language, as things stand at `now` (default: the current time).

    An SMS whose greeting name makes it UCS-2, or pushes it past the segment budget, is sent
    without the greeting name; the facts stay, and the name itself is never rewritten.
    """
    language = patient_language(session.series.patient)
    context = session_context(
        settings, session, channel=channel, now=now, unsubscribe_url=unsubscribe_url
    )
    named = render(settings, template, channel, language, context)
    if channel != "sms" or not context["greet"]:
        return named
    over_budget = sms_text.segments(named.text) > settings.sms_segment_budget
    if not over_budget and sms_text.encoding(named.text) == "GSM-7":
        return named
    plain = render(settings, template, channel, language, {**context, "greet": False})
    if over_budget or sms_text.encoding(plain.text) == "GSM-7":
        return plain
    return named
