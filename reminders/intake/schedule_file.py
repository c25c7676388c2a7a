"""Read a clinic's schedule file (CSV or JSON, one row per session) and validate all of it.

Nothing is stored here: the importer writes the rows only once the whole file is clean,
so a file with one bad row changes nothing and staff get every problem in one pass.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from difflib import get_close_matches
from functools import lru_cache
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import phonenumbers
from email_validator import EmailNotValidError, validate_email

from reminders.models import SessionStatus

COLUMNS = (
    "patient_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "language",
    "sms_opt_out",
    "email_opt_out",
    "series_id",
    "treatment",
    "planned_sessions",
    "target_interval_days",
    "session_id",
    "session_number",
    "starts_at",
    "duration_minutes",
    "practitioner",
    "location",
    "status",
)
REQUIRED = (
    "patient_id",
    "first_name",
    "last_name",
    "series_id",
    "planned_sessions",
    "session_id",
    "session_number",
    "starts_at",
)
DEFAULTS: Mapping[str, Any] = {
    "phone": None,
    "email": None,
    "language": "en",
    "sms_opt_out": False,
    "email_opt_out": False,
    "treatment": "prolotherapy",
    "target_interval_days": None,
    "duration_minutes": 30,
    "practitioner": "",
    "location": "",
    "status": SessionStatus.BOOKED.value,
}
PATIENT_COLUMNS = (
    "first_name",
    "last_name",
    "phone",
    "email",
    "language",
    "sms_opt_out",
    "email_opt_out",
)
SERIES_COLUMNS = ("patient_id", "treatment", "planned_sessions", "target_interval_days")
MAX_PLANNED_SESSIONS = 20
MAX_INTERVAL_DAYS = 365
UNCOUNTED = (SessionStatus.CANCELLED, SessionStatus.NO_SHOW)
MAX_DURATION_MINUTES = 480
# Far outside these years a date is a typo, and near datetime's limits converting it to UTC
# (or planning a reminder days before it) overflows instead of naming the cell.
MIN_YEAR = 2000
MAX_YEAR = 2199

_LANGUAGES = {"en": "en", "en-ca": "en", "fr": "fr", "fr-ca": "fr"}
_FLAGS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_STATUSES = tuple(status.value for status in SessionStatus)
_WHOLE_NUMBER = re.compile(r"[+-]?[0-9]+")
_DELIMITERS = ",;\t"
_PHONE_REGION = "CA"


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file.

    `row` counts data rows from 1 and is None for the header; a problem with the
    whole file has neither row nor column and reads "file: ...".
    """

    row: int | None
    column: str
    problem: str

    def __str__(self) -> str:
        if self.row is None and not self.column:
            return f"file: {self.problem}"
        where = "header" if self.row is None else f"row {self.row}"
        return (
            f"{where}: {self.column}: {self.problem}" if self.column else f"{where}: {self.problem}"
        )


class ScheduleError(Exception):
    """The file cannot be imported; `problems` lists everything wrong with it."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


@dataclass(frozen=True)
class ScheduleRow:
    row: int
    patient_id: str
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    language: str
    sms_opt_out: bool
    email_opt_out: bool
    series_id: str
    treatment: str
    planned_sessions: int
    session_id: str
    session_number: int
    starts_at: datetime
    duration_minutes: int
    practitioner: str
    location: str
    status: str
    # None: the clinic's default for the treatment.
    target_interval_days: int | None = None


Progress = Callable[[int, int], None]


class Schedule:
    """A schedule file read one row at a time, so a file of any size is never held whole.

    Iterate `rows()` for the valid rows (none once a problem is found, though every row is
    still checked), then call `check()`: it raises ScheduleError listing every problem.
    `total` counts the data rows, for progress.
    """

    def __init__(self, path: Path, zone: ZoneInfo) -> None:
        self.path, self.zone = path, zone
        self.columns, self.total = _survey(path)
        self.problems = _header_problems(self.columns)
        self.seen = 0

    def rows(self, progress: Progress | None = None) -> Iterator[ScheduleRow]:
        missing = set(REQUIRED) - set(self.columns)
        numbered = self._numbered()
        yield from _validate_rows(numbered, self.zone, missing, self.problems, progress, self.total)

    def _numbered(self) -> Iterator[tuple[int, object]]:
        for number, item in enumerate(_items(self.path), 1):
            if not _is_blank(item):
                self.seen += 1
                yield number, item

    def check(self) -> None:
        if not self.seen:
            raise ScheduleError([_file_problem("has no data rows")])
        if self.problems:
            raise ScheduleError(self.problems)


def read_schedule(
    path: Path, zone: ZoneInfo, *, progress: Progress | None = None
) -> list[ScheduleRow]:
    """Parse and validate the whole file; raise ScheduleError listing EVERY problem.

    Returns all rows only when there is no problem at all. Times without a UTC offset
    are clinic wall-clock time in `zone`.
    """
    schedule = Schedule(path, zone)
    rows = list(schedule.rows(progress))
    schedule.check()
    return rows


def validate_rows(items: Sequence[Mapping[str, object]], zone: ZoneInfo) -> list[ScheduleRow]:
    """Validate rows that arrive already parsed (the API's JSON batch) exactly as a file's rows.

    Rows count the items from 1. Each item names its own columns: a required one it lacks
    is a problem on that row, and so is a key that is no column. Raises ScheduleError
    listing every problem, or returns all rows.
    """
    cleaned = [{_column_name(key): value for key, value in item.items()} for item in items]
    if not cleaned:
        raise ScheduleError([_file_problem("has no data rows")])
    problems = [
        Problem(number, key, _unknown_column(key))
        for number, item in enumerate(cleaned, 1)
        for key in item
        if _is_unknown(key)
    ]
    numbered: list[tuple[int, object]] = list(enumerate(cleaned, 1))
    rows = list(_validate_rows(numbered, zone, set(), problems, None, len(numbered)))
    if problems:
        raise ScheduleError(problems)
    return rows


def _validate_rows(
    numbered: Iterable[tuple[int, object]],
    zone: ZoneInfo,
    missing: set[str],
    problems: list[Problem],
    progress: Progress | None,
    total: int,
) -> Iterator[ScheduleRow]:
    """The valid rows while the file has no problem; every row is checked all the same."""
    parsers = _parsers(zone)
    checks = _CrossRowChecks()
    step = max(1, total // 100)
    for done, (number, item) in enumerate(numbered, 1):
        values, found = _validate_item(number, item, parsers, missing, checks)
        problems.extend(found)
        if not problems:
            yield ScheduleRow(row=number, **values)
        if progress and (done % step == 0 or done == total):
            progress(done, total)


def _validate_item(
    number: int,
    item: object,
    parsers: Mapping[str, Callable[[str], Any]],
    missing: set[str],
    checks: _CrossRowChecks,
) -> tuple[dict[str, Any], list[Problem]]:
    if not isinstance(item, dict):
        kind = _json_kind(item)
        return {}, [Problem(number, "", f"must be an object with the columns as keys, not {kind}")]
    values, problems = _clean(number, item, parsers, missing)
    problems.extend(_extra_values(number, item))
    problems.extend(_session_number_in_plan(number, values))
    problems.extend(checks.check(number, values))
    return values, problems


# Loading: CSV or JSON into column names and raw items, or a file-level error. A CSV file is
# read twice, once to count its rows and check it decodes, then row by row as it is imported.


def _survey(path: Path) -> tuple[list[str], int]:
    """The columns and the number of items (blank rows included), or a file-level error."""
    with _reading(path) as handle:
        if _looks_like_json(path, handle):
            columns, items = _load_json(handle.read())
            return columns, len(items)
        reader = _csv_reader(handle)
        if reader.fieldnames is None:
            raise ScheduleError([_file_problem("is empty")])
        columns = [_column_name(name) for name in reader.fieldnames]
        return columns, sum(1 for record in reader.reader if record)  # as DictReader counts


def _items(path: Path) -> Iterator[object]:
    with _reading(path) as handle:
        if _looks_like_json(path, handle):
            yield from _load_json(handle.read())[1]
            return
        reader = _csv_reader(handle)
        if reader.fieldnames is not None:
            yield from _csv_items(reader.reader, [_column_name(n) for n in reader.fieldnames])


def _csv_items(records: Iterator[list[str]], columns: list[str]) -> Iterator[dict[str | None, Any]]:
    """What csv.DictReader yields (values beyond the header under None, missing ones None),
    without its per-row method calls: on a big file they cost more than reading the cells."""
    width = len(columns)
    for record in records:
        if not record:
            continue
        item: dict[str | None, Any] = dict(zip(columns, record, strict=False))
        if len(record) > width:
            item[None] = record[width:]
        elif len(record) < width:
            item.update(dict.fromkeys(columns[len(record) :]))
        yield item


@contextmanager
def _reading(path: Path) -> Iterator[TextIO]:
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            yield handle
    except UnicodeDecodeError:
        raise ScheduleError([_file_problem("is not UTF-8 text (save it as CSV UTF-8)")]) from None
    except OSError as exc:
        raise ScheduleError([_file_problem(f"cannot be read ({exc.strerror})")]) from None


def _looks_like_json(path: Path, handle: TextIO) -> bool:
    suffix = path.suffix.lower()
    if suffix in (".csv", ".json"):
        return suffix == ".json"
    start = handle.read(4096)
    handle.seek(0)
    return start.lstrip()[:1] in ("[", "{")


def _csv_reader(handle: TextIO) -> csv.DictReader[str]:
    first_line = handle.readline()
    handle.seek(0)
    # Excel in French locales writes ';' between fields.
    delimiter = max(_DELIMITERS, key=first_line.count)
    return csv.DictReader(handle, delimiter=delimiter)


def _load_json(text: str) -> tuple[list[str], list[object]]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        message = f"is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        raise ScheduleError([_file_problem(message)]) from None
    if not isinstance(data, list):
        raise ScheduleError([_file_problem("must be a JSON array of objects, one per session")])
    items: list[object] = [
        {_column_name(key): value for key, value in item.items()}
        if isinstance(item, dict)
        else item
        for item in data
    ]
    columns = list(dict.fromkeys(key for item in items if isinstance(item, dict) for key in item))
    return columns, items


def _column_name(name: object) -> str:
    return str(name).strip().lower()


def _is_blank(item: object) -> bool:
    # Spreadsheets leave rows of empty cells (",,,,") at the end of an export.
    return isinstance(item, dict) and all(_is_blank_value(value) for value in item.values())


def _is_blank_value(value: object) -> bool:
    if isinstance(value, list):
        return all(_is_blank_value(part) for part in value)
    return value is None or (isinstance(value, str) and not value.strip())


def _file_problem(problem: str) -> Problem:
    return Problem(None, "", problem)


# The header: unknown, unnamed, repeated and missing columns.


def _header_problems(columns: list[str]) -> list[Problem]:
    problems = [
        Problem(None, f"column {position}", "has no name")
        for position, name in enumerate(columns, 1)
        if not name
    ]
    problems += [
        Problem(None, name, _unknown_column(name)) for name in columns if _is_unknown(name)
    ]
    problems += [
        Problem(None, name, "appears more than once")
        for name, count in Counter(columns).items()
        if name and count > 1
    ]
    problems += [
        Problem(None, name, "missing required column") for name in REQUIRED if name not in columns
    ]
    return problems


def _is_unknown(name: str) -> bool:
    return bool(name) and name not in COLUMNS


def _unknown_column(name: str) -> str:
    close = get_close_matches(name, COLUMNS, n=1)
    if close:
        return f"unknown column (did you mean {close[0]}?)"
    return f"unknown column (expected one of {', '.join(COLUMNS)})"


# One row: every column parsed on its own.


class _Invalid(ValueError):
    """A cell's value is wrong; the message is what staff read."""


def _clean(
    number: int,
    item: Mapping[object, object],
    parsers: Mapping[str, Callable[[str], Any]],
    missing: set[str],
) -> tuple[dict[str, Any], list[Problem]]:
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for column, parse in parsers.items():
        try:
            value = item.get(column)
            text = value.strip() if type(value) is str else _cell_text(value)
            if text:
                values[column] = parse(text)
            elif column in REQUIRED:
                if column not in missing:
                    problems.append(Problem(number, column, "is required but empty"))
            else:
                values[column] = DEFAULTS[column]
        except _Invalid as exc:
            problems.append(Problem(number, column, str(exc)))
    return values, problems


def _extra_values(number: int, item: Mapping[object, object]) -> Iterator[Problem]:
    # csv.DictReader puts values beyond the header's last column under the key None.
    extra = item.get(None)
    if isinstance(extra, list) and not _is_blank_value(extra):
        yield Problem(number, "", f"has {len(extra)} more value(s) than the header has columns")


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str | int | float):
        return str(value).strip()
    raise _Invalid(f"must be text, a number, true/false or null, not {_json_kind(value)}")


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    if value is None:
        return "null"
    if isinstance(value, str):
        return "a string"
    return "a number" if isinstance(value, int | float) else type(value).__name__


def _parsers(zone: ZoneInfo) -> dict[str, Callable[[str], Any]]:
    return {
        "patient_id": _text_up_to(100),
        "first_name": _text_up_to(200),
        "last_name": _text_up_to(200),
        "phone": _phone,
        "email": _email,
        "language": _language,
        "sms_opt_out": _flag,
        "email_opt_out": _flag,
        "series_id": _text_up_to(100),
        "treatment": _text_up_to(200),
        "planned_sessions": _remembered(_whole_number(1, MAX_PLANNED_SESSIONS)),
        "target_interval_days": _remembered(_whole_number(1, MAX_INTERVAL_DAYS)),
        "session_id": _text_up_to(100),
        "session_number": _remembered(_whole_number(1, MAX_PLANNED_SESSIONS)),
        "starts_at": _remembered(_starts_at(zone)),
        "duration_minutes": _remembered(_whole_number(1, MAX_DURATION_MINUTES)),
        "practitioner": _text_up_to(200),
        "location": _text_up_to(200),
        "status": _status,
    }


def _remembered(parse: Callable[[str], Any]) -> Callable[[str], Any]:
    """`parse` with its results kept: a clinic's files repeat the same few numbers and
    start times on many rows. A bad value raises again on each row that has it, so every
    problem is still reported where it is."""
    return lru_cache(maxsize=4096)(parse)


def _text_up_to(limit: int) -> Callable[[str], str]:
    """Text that fits its column: the store refuses longer text, and NUL on PostgreSQL."""

    def text(value: str) -> str:
        if "\x00" in value:
            raise _Invalid("contains a NUL character")
        if len(value) > limit:
            raise _Invalid(f"is {len(value)} characters long; at most {limit} fit")
        return value

    return text


# A patient's phone and email repeat on every one of their sessions; parsing them is the slow part.
@lru_cache(maxsize=4096)
def _phone(text: str) -> str:
    try:
        number = phonenumbers.parse(text, _PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is None or not phonenumbers.is_valid_number(number):
        raise _Invalid(f"{text!r} is not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=4096)
def _email(text: str) -> str:
    try:
        return validate_email(text, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise _Invalid(f"{text!r} is not a valid email address ({str(exc).rstrip('.')})") from None


def _language(text: str) -> str:
    language = _LANGUAGES.get(text.lower().replace("_", "-"))
    if language is None:
        raise _Invalid(f"{text!r} is not a supported language (use en or fr)")
    return language


def _flag(text: str) -> bool:
    flag = _FLAGS.get(text.lower())
    if flag is None:
        raise _Invalid(f"{text!r} is not true or false (use true, false, yes, no, 1 or 0)")
    return flag


def _status(text: str) -> str:
    status = text.lower().replace("-", "_").replace(" ", "_")
    if status not in _STATUSES:
        raise _Invalid(f"{text!r} is not a session status (use {', '.join(_STATUSES)})")
    return status


def _whole_number(low: int, high: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        if not _WHOLE_NUMBER.fullmatch(text):
            raise _Invalid(f"{text!r} is not a whole number")
        number = int(text)
        if not low <= number <= high:
            raise _Invalid(f"{number} is not between {low} and {high}")
        return number

    return parse


def _starts_at(zone: ZoneInfo) -> Callable[[str], datetime]:
    def parse(text: str) -> datetime:
        if _is_date(text):
            raise _Invalid(f"{text!r} has no time of day (a session needs one, like {text}T14:30)")
        try:
            moment = datetime.fromisoformat(_z_as_offset(text))
        except ValueError:
            raise _Invalid(
                f"{text!r} is not an ISO 8601 date and time (like 2026-03-10T14:30)"
            ) from None
        if not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise _Invalid(f"{text!r} is not between the years {MIN_YEAR} and {MAX_YEAR}")
        if moment.tzinfo is None:
            moment = _clinic_time(moment, zone, text)
        return moment.astimezone(UTC)

    return parse


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _z_as_offset(text: str) -> str:
    return text[:-1] + "+00:00" if text[-1:] in ("z", "Z") else text


def _clinic_time(naive: datetime, zone: ZoneInfo, text: str) -> datetime:
    """Attach `zone`, refusing wall-clock times that name no instant or two of them."""
    earlier = naive.replace(tzinfo=zone, fold=0)
    later = naive.replace(tzinfo=zone, fold=1)
    if earlier.utcoffset() == later.utcoffset():
        return earlier
    # In the gap no instant shows this wall-clock time, so the round trip lands elsewhere.
    if earlier.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise _Invalid(f"{text!r} does not exist in {zone.key} (clocks spring forward)")
    raise _Invalid(f"{text!r} is ambiguous in {zone.key} (clocks fall back); add a UTC offset")


def _session_number_in_plan(number: int, values: Mapping[str, Any]) -> Iterator[Problem]:
    session, planned = values.get("session_number"), values.get("planned_sessions")
    if session is not None and planned is not None and session > planned:
        yield Problem(
            number, "session_number", f"{session} is more than planned_sessions ({planned})"
        )


# Across rows: one patient and one series must read the same on every row.


class _FirstSeen:
    """The first valid value of each column for a patient (or series), and the row it came from."""

    def __init__(self, kind: str, columns: tuple[str, ...]) -> None:
        self.kind = kind
        self.columns = columns
        self.seen: dict[str, dict[str, tuple[int, Any]]] = {}

    def check(self, key: str, number: int, values: Mapping[str, Any]) -> Iterator[Problem]:
        first = self.seen.setdefault(key, {})
        for column in self.columns:
            if column not in values:
                continue
            if column not in first:
                first[column] = (number, values[column])
                continue
            row, value = first[column]
            if values[column] != value:
                there, here = _show(value), _show(values[column])
                message = (
                    f"differs from row {row} for {self.kind} {key} ({there} there, {here} here)"
                )
                yield Problem(number, column, message)


def _show(value: object) -> str:
    if value is None:
        return "empty"
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, str) else str(value)


class _CrossRowChecks:
    def __init__(self) -> None:
        self.patients = _FirstSeen("patient", PATIENT_COLUMNS)
        self.series = _FirstSeen("series", SERIES_COLUMNS)
        self.sessions: dict[str, int] = {}
        self.numbers: dict[tuple[str, int], int] = {}
        self.contact_checked: set[str] = set()

    def check(self, number: int, values: Mapping[str, Any]) -> list[Problem]:
        problems: list[Problem] = []
        if "patient_id" in values:
            problems += self.patients.check(values["patient_id"], number, values)
            problems += self._contact(number, values)
        if "series_id" in values:
            problems += self.series.check(values["series_id"], number, values)
            problems += self._session_number(number, values)
        problems += self._session_id(number, values)
        return problems

    def _contact(self, number: int, values: Mapping[str, Any]) -> Iterator[Problem]:
        patient = values["patient_id"]
        if patient in self.contact_checked:
            return
        self.contact_checked.add(patient)
        if values.get("phone", "") is None and values.get("email", "") is None:
            message = f"patient {patient} has neither phone nor email (one is needed)"
            yield Problem(number, "phone", message)

    def _session_id(self, number: int, values: Mapping[str, Any]) -> Iterator[Problem]:
        session = values.get("session_id")
        if session is None:
            return
        first = self.sessions.setdefault(session, number)
        if first != number:
            yield Problem(number, "session_id", f"duplicate {session!r}, first seen in row {first}")

    def _session_number(self, number: int, values: Mapping[str, Any]) -> Iterator[Problem]:
        # A cancelled or missed visit keeps its number while a rebooked one takes the same number.
        session_number = values.get("session_number")
        if session_number is None or values.get("status") in UNCOUNTED:
            return
        series = values["series_id"]
        first = self.numbers.setdefault((series, session_number), number)
        if first != number:
            message = f"{session_number} is already used by row {first} in series {series}"
            yield Problem(number, "session_number", message)
