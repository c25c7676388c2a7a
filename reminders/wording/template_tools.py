"""Template tooling for staff and clinics: check every template with sample data, preview one.

Sample patients, series and sessions live in memory only: no database, no real patient.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import product
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from reminders.config import CHANNELS, Settings
from reminders.kinds import SESSION_REMINDER
from reminders.models import Patient, Series, Session, SessionStatus
from reminders.wording import sms_text
from reminders.wording.calendar import EVENT_FOLDER, event_context
from reminders.wording.replies import REPLY_FOLDER, reply_context
from reminders.wording.templating import (
    LOCALES,
    TemplateProblem,
    part_names,
    patient_language,
    render_for,
    render_part,
    segment_budget,
    session_context,
)

# Long month and weekday names ("Wednesday, September 30, 2026"), late-morning times.
_SAMPLE_ZONE = ZoneInfo("America/Edmonton")
_FIRST_SESSION = datetime(2026, 7, 29, 11, 45, tzinfo=_SAMPLE_ZONE)
_INTERVAL = timedelta(days=21)
_PLANNED = 6
SAMPLE_BOOKING_URL = "https://cim.example/book"
SAMPLE_UNSUBSCRIBE_URL = "https://cim.example/unsubscribe/sample-token"
LONG_FIRST_NAME = "Alexandrina-Maximiliana"
# The sample each kind is previewed with; other kinds use a completed session with one booked.
_PREVIEW_SAMPLE = {
    "session_reminder": "upcoming",
    "rebook_nudge": "unbooked",
    "missed_session": "no-show",
    "series_complete": "final",
}

# (label, first name, statuses of sessions 1..n, index of the anchor session)
_SHAPES: tuple[tuple[str, str, tuple[SessionStatus, ...], int], ...] = (
    ("booked", "Marie", (*[SessionStatus.COMPLETED] * 3, SessionStatus.BOOKED), 2),
    ("upcoming", "Marie", (*[SessionStatus.COMPLETED] * 3, SessionStatus.BOOKED), 3),
    ("unbooked", "Marie", (SessionStatus.COMPLETED,) * 3, 2),
    ("long-name", LONG_FIRST_NAME, (SessionStatus.COMPLETED,) * 3, 2),
    ("no-name", "", (*[SessionStatus.COMPLETED] * 3, SessionStatus.BOOKED), 2),
    ("no-show", "Marie", (*[SessionStatus.COMPLETED] * 3, SessionStatus.NO_SHOW), 3),
    ("final", "Marie", (SessionStatus.COMPLETED,) * _PLANNED, _PLANNED - 1),
)


def sample_sessions() -> list[Session]:
    """One anchor session per sample shape and language, each in its own in-memory series.

    Covers English and French patients; a next session booked and none booked; a long ASCII
    name and no first name; a completed session 3 of 6; a final 6 of 6; a no-show; and the
    booked session 4 itself, for session reminders.
    """
    return [
        _sample(language, label, first_name, statuses, anchor)
        for language in sorted(LOCALES)
        for label, first_name, statuses, anchor in _SHAPES
    ]


def _sample(
    language: str, label: str, first_name: str, statuses: tuple[SessionStatus, ...], anchor: int
) -> Session:
    key = f"sample-{language}-{label}"
    patient = Patient(
        external_id=key,
        first_name=first_name,
        last_name="Sample",
        phone="+14035550100",
        email="patient@example.org",
        language=language,
    )
    series = Series(
        external_id=key,
        treatment="Prolotherapy",
        planned_sessions=_PLANNED,
        target_interval_days=_INTERVAL.days,
        paused=False,
        patient=patient,
    )
    sessions = [
        _sample_session(series, number, status) for number, status in enumerate(statuses, 1)
    ]
    return sessions[anchor]


def _sample_session(series: Series, number: int, status: SessionStatus) -> Session:
    starts_at = _FIRST_SESSION + (number - 1) * _INTERVAL
    return Session(
        external_id=f"{series.external_id}-{number}",
        number=number,
        starts_at=starts_at.astimezone(UTC),
        duration_minutes=30,
        practitioner="Dr. Chen",
        location="",
        status=status,
        series=series,
    )


def sample_label(session: Session) -> str:
    """'en-booked' for the sample built as `sample-en-booked`."""
    return session.series.external_id.removeprefix("sample-")


def sample_now(session: Session) -> datetime:
    """A moment the message about `session` could go out: the day before a booked session,
    the day after any other (after-care, nudges, the missed-session note)."""
    if session.status == SessionStatus.BOOKED:
        return session.starts_at - timedelta(days=1)
    return session.starts_at + timedelta(days=1)


@dataclass(frozen=True)
class SmsSize:
    """How one rendered SMS travels, and which sample produced it."""

    text: str
    encoding: sms_text.Encoding
    length: int
    segments: int
    sample: str
    first_name: str = ""  # the sample patient's

    @classmethod
    def of(cls, text: str, sample: str, first_name: str = "") -> SmsSize:
        return cls(
            text,
            sms_text.encoding(text),
            sms_text.length(text),
            sms_text.segments(text),
            sample,
            first_name,
        )

    @property
    def cost(self) -> tuple[int, bool, int]:
        return (self.segments, self.encoding == "UCS-2", self.length)

    def describe(self) -> str:
        plural = "" if self.segments == 1 else "s"
        return f"{self.encoding}  {self.length:>3} chars  {self.segments} segment{plural}"


def template_kinds(settings: Settings) -> list[str]:
    """Every kind in the template folders: the folder names that do not start with `_`."""
    kinds: set[str] = set()
    for folder in settings.template_dirs:
        if folder.is_dir():
            kinds.update(
                child.name
                for child in folder.iterdir()
                if child.is_dir() and not child.name.startswith(("_", "."))
            )
    return sorted(kinds)


def template_file(settings: Settings, name: str) -> Path | None:
    """The file `name` is loaded from: a clinic's folder first, then the shipped one."""
    for folder in settings.template_dirs:
        if (folder / name).is_file():
            return folder / name
    return None


def check_templates(settings: Settings, out: TextIO) -> int:
    """Render every kind found in the template folders (settings.template_dirs, i.e. a clinic's
    override folder first), every channel and language, with the sample data.

    Prints one line per SMS with its worst case over the samples: kind, language, encoding
    (GSM-7/UCS-2), length, segments and the kind's budget (1 for a session reminder); then,
    indented, the worst case for each sample name (long, short, none). Prints each problem
    (undefined variable, syntax error, missing part, SMS over its budget) naming the file.
    Returns 0 when all is well, 1 otherwise, and ends with a summary line.
    """
    kinds = template_kinds(settings)
    problems: dict[str, None] = {}  # in order, without repeats
    measured = 0
    for kind, language in product(kinds, sorted(LOCALES)):
        sizes, found = _check_kind(settings, kind, language)
        problems.update(dict.fromkeys(found))
        if sizes:
            measured += 1
            _print_sizes(settings, kind, language, sizes, out)
    problems.update(dict.fromkeys(_shared_wording_problems(settings)))
    for problem in problems:
        print(f"PROBLEM {problem}", file=out)
    scope = f"{len(kinds)} kinds, {len(LOCALES)} languages, {measured} SMS measured"
    if problems:
        print(f"FAILED: {len(problems)} problem(s); {scope}", file=out)
        return 1
    budgets = f"session reminders within {segment_budget(settings, SESSION_REMINDER)} segment"
    others = f"the others within {settings.sms_segment_budget}"
    print(f"OK: {scope}; {budgets}, {others}", file=out)
    return 0


def _print_sizes(
    settings: Settings, kind: str, language: str, sizes: list[SmsSize], out: TextIO
) -> None:
    worst = _worst(sizes)
    budget = segment_budget(settings, kind)
    print(
        f"{kind} sms {language}  {worst.describe()}  (longest: {worst.sample})  budget {budget}",
        file=out,
    )
    for name in dict.fromkeys(size.first_name for size in sizes):
        named = _worst([size for size in sizes if size.first_name == name])
        left_out = "  (name left out)" if name and name not in named.text else ""
        print(f"    {name or '(no name)':<24}  {named.describe()}{left_out}", file=out)


def _worst(sizes: list[SmsSize]) -> SmsSize:
    return max(sizes, key=lambda size: size.cost)


def _check_kind(settings: Settings, kind: str, language: str) -> tuple[list[SmsSize], list[str]]:
    """Every SMS of `kind` in `language` over the samples, and the problems found."""
    samples = [s for s in sample_sessions() if patient_language(s.series.patient) == language]
    variants = _clinic_variants(settings)
    problems = _missing_parts(settings, kind, language)
    problems += _render_problems(variants, kind, language, samples)
    if problems:
        return [], problems
    sizes = _sms_sizes(variants, kind, samples)
    worst, budget = _worst(sizes), segment_budget(settings, kind)
    if worst.segments > budget:
        where = template_file(settings, f"{kind}/sms.{language}.txt")
        problems.append(
            f"{where}: needs {worst.segments} segments, over the budget of "
            f"{budget} (sample {worst.sample}): {worst.text}"
        )
    return sizes, problems


def _clinic_variants(settings: Settings) -> list[Settings]:
    """The clinic as configured, and with a sample booking link if it has none yet,
    so the booking-link wording is checked (and measured) before a clinic turns it on."""
    if settings.clinic.booking_url:
        return [settings]
    clinic = settings.clinic.model_copy(update={"booking_url": SAMPLE_BOOKING_URL})
    return [settings, settings.model_copy(update={"clinic": clinic})]


def _missing_parts(settings: Settings, kind: str, language: str) -> list[str]:
    folders = ", ".join(str(folder) for folder in settings.template_dirs)
    return [
        f"{name}: missing (looked in {folders})"
        for channel in CHANNELS
        for name in part_names(kind, channel, language)
        if template_file(settings, name) is None
    ]


def _render_problems(
    variants: Sequence[Settings],
    kind: str,
    language: str,
    samples: Sequence[Session],
) -> list[str]:
    """Every part rendered with every sample, with and without an unsubscribe link."""
    problems: dict[str, None] = {}
    cases = product(variants, samples, CHANNELS, ("", SAMPLE_UNSUBSCRIBE_URL))
    for variant, sample, channel, unsubscribe_url in cases:
        context = session_context(
            variant,
            sample,
            channel=channel,
            now=sample_now(sample),
            unsubscribe_url=unsubscribe_url,
        )
        for name in part_names(kind, channel, language):
            problem = _render_problem(variant, name, context)
            if problem:
                problems[problem] = None
    return list(problems)


def _render_problem(settings: Settings, name: str, context: dict[str, object]) -> str | None:
    """The problem with one template file, naming the file at fault (perhaps a layout)."""
    try:
        render_part(settings, name, context)
    except TemplateProblem as exc:
        where = template_file(settings, exc.where) or exc.where
        return f"{where}: {exc.problem}"
    return None


def _sms_sizes(
    variants: Sequence[Settings], kind: str, samples: Iterable[Session]
) -> list[SmsSize]:
    """The SMS exactly as they would be sent (greeting dropped when it must be)."""
    sizes = []
    for variant in variants:
        link = ", booking link" if variant.clinic.booking_url else ""
        for sample in samples:
            text = render_for(variant, kind, "sms", sample, now=sample_now(sample)).text
            first_name = sample.series.patient.first_name
            sizes.append(SmsSize.of(text, sample_label(sample) + link, first_name))
    return sizes


@dataclass(frozen=True)
class Preview:
    """One message rendered with sample data: an email's three parts, or an SMS and its size."""

    kind: str
    channel: str
    language: str
    subject: str | None  # email only
    text: str  # the SMS, or the email's plain-text part
    html: str | None  # email only
    sms: SmsSize | None  # SMS only


def preview_template(settings: Settings, kind: str, channel: str, language: str) -> Preview:
    """One rendered message with sample data, as it would be sent (an email with its
    unsubscribe link); raises TemplateProblem for a kind, channel or language that does not
    exist, or a template that does not render."""
    _check_preview_request(settings, kind, channel, language)
    sample = _preview_sample(kind, language)
    unsubscribe_url = SAMPLE_UNSUBSCRIBE_URL if channel == "email" else ""
    rendered = render_for(
        settings, kind, channel, sample, now=sample_now(sample), unsubscribe_url=unsubscribe_url
    )
    sms = SmsSize.of(rendered.text, sample_label(sample)) if channel == "sms" else None
    return Preview(kind, channel, language, rendered.subject, rendered.text, rendered.html, sms)


def _check_preview_request(settings: Settings, kind: str, channel: str, language: str) -> None:
    kinds = template_kinds(settings)
    if kind not in kinds:
        raise TemplateProblem(kind, f"unknown kind {kind!r}; known kinds: {', '.join(kinds)}")
    if channel not in CHANNELS:
        raise TemplateProblem(
            kind, f"unknown channel {channel!r}; use one of {', '.join(CHANNELS)}"
        )
    if language not in LOCALES:
        languages = ", ".join(sorted(LOCALES))
        raise TemplateProblem(kind, f"unknown language {language!r}; use one of {languages}")


def _preview_sample(kind: str, language: str) -> Session:
    label = f"{language}-{_PREVIEW_SAMPLE.get(kind, 'booked')}"
    return next(s for s in sample_sessions() if sample_label(s) == label)


def _shared_wording_problems(settings: Settings) -> list[str]:
    """Problems in the wording outside message kinds, named like those of message templates:
    each `_replies/` file (answers to patient SMS, with and without a session) and `_calendar/`
    file (the .ics event) rendered with every sample in its language, as the code renders it."""
    problems: dict[str, None] = {}  # in order, without repeats
    for variant, sample in product(_clinic_variants(settings), sample_sessions()):
        language = patient_language(sample.series.patient)
        contexts = {
            REPLY_FOLDER: [
                reply_context(variant, None, language),
                reply_context(variant, sample, language),
            ],
            EVENT_FOLDER: [event_context(variant, sample, sample_now(sample))],
        }
        for folder, cases in contexts.items():
            for name, context in product(_wording_files(settings, folder, language), cases):
                problem = _render_problem(variant, name, context)
                if problem:
                    problems[problem] = None
    return list(problems)


def _wording_files(settings: Settings, folder: str, language: str) -> list[str]:
    """'_replies/help.en.txt', ...: the files of `folder` in `language`, in any template folder."""
    return sorted(
        {
            f"{folder}/{path.name}"
            for root in settings.template_dirs
            for path in (root / folder).glob(f"*.{language}.txt")
        }
    )
