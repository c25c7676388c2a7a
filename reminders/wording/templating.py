"""Message text from Jinja2 templates: `templates/<kind>/<channel>.<language>.<part>`.

Parts: `sms.<lang>.txt`; `email.<lang>.subject.txt`, `email.<lang>.txt`, `email.<lang>.html`.
A clinic's template folder is searched first, so any file there overrides the shipped one.
Patient data only ever enters as values of the context, never as template source.
"""

from __future__ import annotations

import re
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
from reminders.kinds import kind_of
from reminders.models import Patient, Session
from reminders.planning.standing import Standing, assess
from reminders.wording import sms_text

LOCALES = {"en": "en_CA", "fr": "fr_CA"}
DEFAULT_LANGUAGE = "en"
_OF = {"en": "{n} of {total}", "fr": "{n} sur {total}"}
# The files that make up one message, by channel: `<kind>/<channel>.<language>.<part>`.
PARTS = {"sms": ("txt",), "email": ("subject.txt", "txt", "html")}


# Every patient gets a session reminder before every session: one segment, not two, halves
# the clinic's SMS bill. Other SMS may take up to `settings.sms_segment_budget`.
REMINDER_SEGMENTS = 1


def segment_budget(settings: Settings, template: str) -> int:
    """The segments an SMS of this kind may take before its greeting name is left out."""
    if kind_of(template).session_reminder:
        return min(settings.sms_segment_budget, REMINDER_SEGMENTS)
    return settings.sms_segment_budget


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
    date: str  # "Wednesday, September 30, 2026" / "mardi 1er décembre 2026"
    time: str  # "11:45 a.m." / "8 h", "8 h 30"
    weekday: str
    datetime: str
    number: int
    of: int
    practitioner: str  # as booked; in French "Dr Chen" (no period after Dr)
    location: str
    day: str = ""  # the date without the year, for SMS: "Wednesday, September 30"
    with_practitioner: str = ""  # "with Dr. Chen" / "avec le Dr Chen"; "" when none


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
    recommended_day: str = ""  # the same without the year, for SMS


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
    self_service_url: str = "",
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
    next_view = None if following is None else session_view(settings, following, language, sms=sms)
    return {
        "patient": PatientView(first_name=patient.first_name, language=language),
        "clinic": clinic_view(settings),
        "session": session_view(settings, session, language, sms=sms),
        "series": _series_view(settings, session, standing, language, sms=sms, now=now),
        "next_session": next_view,
        "greet": greet and bool(patient.first_name.strip()),
        "show_treatment": settings.clinic.name_treatment_in_sms,
        "unsubscribe_url": unsubscribe_url,
        # Confirm or ask for another time (`wording.session_links`); "" in SMS and previews.
        "self_service_url": self_service_url,
    }


def clinic_view(settings: Settings) -> ClinicView:
    clinic = settings.clinic
    return ClinicView(
        name=clinic.name,
        phone=display_phone(clinic.phone),
        address=clinic.address,
        website=clinic.website,
        email=clinic.email,
        booking_url=clinic.booking_url,
    )


@lru_cache(maxsize=256)  # the clinic's own number, formatted for every message
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


def session_view(settings: Settings, session: Session, language: str, *, sms: bool) -> SessionView:
    """The session as a message shows it: in `language` and the clinic's zone; for SMS in
    the GSM-7 alphabet."""
    local = session.starts_at.astimezone(settings.clinic.zone)
    date, time, weekday, when, day = _moment_texts(local, LOCALES[language], sms=sms)
    practitioner = practitioner_name(language, session.practitioner or "")
    return SessionView(
        date=date,
        time=time,
        weekday=weekday,
        datetime=when,
        number=session.number,
        of=total_sessions(session),
        practitioner=practitioner,
        location=session.location or "",
        day=day,
        with_practitioner=with_practitioner(language, session.practitioner or ""),
    )


# "Dr. Chen", "Dre Roy", "Doctor Chen": a doctor's title before the name.
_DOCTOR = re.compile(r"^(?:dr|dre|doctor|docteur|docteure)\b\.?\s*(?P<name>.+)$", re.IGNORECASE)
_FEMININE = re.compile(r"^(?:dre|docteure)\b", re.IGNORECASE)


def practitioner_name(language: str, practitioner: str) -> str:
    """The practitioner as written in `language`: French abbreviates "Dr" and "Dre" without
    a period (the abbreviation ends on the word's last letter)."""
    name = practitioner.strip()
    doctor = _DOCTOR.match(name)
    if language != "fr" or doctor is None:
        return name
    title = "Dre" if _FEMININE.match(name) else "Dr"
    return f"{title} {doctor.group('name')}"


def with_practitioner(language: str, practitioner: str) -> str:
    """'with Dr. Chen'; in French 'avec le Dr Chen', 'avec la Dre Roy', 'avec Marie Roy'."""
    name = practitioner_name(language, practitioner)
    if not name:
        return ""
    if language != "fr":
        return f"with {name}"
    if _DOCTOR.match(practitioner.strip()):
        article = "la" if name.startswith("Dre ") else "le"
        return f"avec {article} {name}"
    return f"avec {name}"


def _moment_texts(
    local: datetime, locale: str, *, sms: bool = False
) -> tuple[str, str, str, str, str]:
    """(date, time, weekday, date and time, date without the year) of an aware local datetime;
    for SMS in the GSM-7 alphabet."""
    # Kept per wall-clock time, zone and locale (an aware datetime compares by instant
    # alone): a clinic's sessions share their slots, and formatting is much of a render.
    naive = local.replace(tzinfo=None)
    return _wall_clock_texts(naive, local.fold, str(local.tzinfo), locale, sms)


@lru_cache(maxsize=4096)
def _wall_clock_texts(
    naive: datetime, fold: int, zone_name: str, locale: str, sms: bool
) -> tuple[str, str, str, str, str]:
    date, time, weekday, when, day = _formatted(naive, fold, zone_name, locale)
    if not sms:
        return date, time, weekday, when, day
    safe = sms_text.gsm_safe
    return safe(date), safe(time), safe(weekday), safe(when), safe(day)


def _formatted(
    naive: datetime, fold: int, zone_name: str, locale: str
) -> tuple[str, str, str, str, str]:
    local = naive.replace(tzinfo=ZoneInfo(zone_name), fold=fold)
    zone = local.tzinfo
    date = _day_first(str(get_date_format("full", locale=locale).pattern), local, locale)
    time = _time_pattern(local, locale)
    day = _day_first(_DAY_PATTERNS.get(locale[:2], "EEEE, MMMM d"), local, locale)
    date_and_time = (
        str(get_datetime_format("full", locale=locale)).replace("{1}", date).replace("{0}", time)
    )
    return (
        format_date(local, date, locale=locale),
        format_time(local, time, tzinfo=zone, locale=locale),
        format_date(local, "EEEE", locale=locale),
        format_datetime(local, date_and_time, tzinfo=zone, locale=locale),
        format_date(local, day, locale=locale),
    )


# The full date without its year.
_DAY_PATTERNS = {"en": "EEEE, MMMM d", "fr": "EEEE d MMMM"}
_DAY_OF_MONTH = re.compile(r"(?<![d'])d(?![d'])")


def _day_first(pattern: str, local: datetime, locale: str) -> str:
    """French writes the first of the month as an ordinal: "1er décembre", "2 décembre"."""
    if locale.startswith("fr") and local.day == 1:
        return _DAY_OF_MONTH.sub("d'er'", pattern, count=1)
    return pattern


def _time_pattern(local: datetime, locale: str) -> str:
    """French times as people write them: "8 h", "8 h 30", "14 h" (not "08 h 00")."""
    if locale.startswith("fr"):
        return "H 'h'" if local.minute == 0 else "H 'h' mm"
    return str(get_time_format("short", locale=locale).pattern)


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
        recommended_day=_date_text(settings, recommended, language, sms=sms, year=False),
        recommended_passed=bool(
            recommended and recommended.astimezone(zone).date() < now.astimezone(zone).date()
        ),
    )


def _date_text(
    settings: Settings, moment: datetime | None, language: str, *, sms: bool, year: bool = True
) -> str:
    """The date alone, spelled like `session.date` (or `session.day`); "" for no date."""
    if moment is None:
        return ""
    texts = _moment_texts(moment.astimezone(settings.clinic.zone), LOCALES[language])
    text = texts[0] if year else texts[4]
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
    self_service_url: str = "",
) -> Rendered:
    """Render in the patient's language, as things stand at `now` (default: the current time).

    An SMS whose greeting name makes it UCS-2, costs it a segment more, or pushes it past
    its kind's budget (`segment_budget`), is sent without the greeting name; the facts stay,
    and the name itself is never rewritten.
    """
    language = patient_language(session.series.patient)
    context = session_context(
        settings,
        session,
        channel=channel,
        now=now,
        unsubscribe_url=unsubscribe_url,
        self_service_url=self_service_url,
    )
    named = render(settings, template, channel, language, context)
    if channel != "sms" or not context["greet"]:
        return named
    segments = sms_text.segments(named.text)
    if segments == 1 and sms_text.encoding(named.text) == "GSM-7":
        return named
    plain = render(settings, template, channel, language, {**context, "greet": False})
    # A greeting is never worth a segment of its own (the facts are the message).
    if segments > max(segment_budget(settings, template), sms_text.segments(plain.text)):
        return plain
    if sms_text.encoding(named.text) == "UCS-2" and sms_text.encoding(plain.text) == "GSM-7":
        return plain
    return named
