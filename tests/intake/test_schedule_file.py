from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from reminders.intake.progress import bar, stages
from reminders.intake.schedule_file import COLUMNS, ScheduleError, ScheduleRow, read_schedule

DATA = Path(__file__).parents[1] / "data"
ZONE = ZoneInfo("America/Edmonton")

SESSION = {
    "patient_id": "P1",
    "first_name": "Sarah",
    "last_name": "Thompson",
    "phone": "403-555-0101",
    "email": "sarah.thompson@example.com",
    "language": "en",
    "sms_opt_out": "no",
    "email_opt_out": "no",
    "series_id": "SER1",
    "treatment": "prolotherapy",
    "planned_sessions": "6",
    "session_id": "S1",
    "session_number": "1",
    "starts_at": "2026-01-13T09:00",
    "duration_minutes": "45",
    "practitioner": "Dr. Anita Patel",
    "location": "Main clinic",
    "status": "booked",
}


def session(**changes: str) -> dict[str, str]:
    return {**SESSION, **changes}


def write_csv(
    tmp_path: Path,
    rows: list[dict[str, str]],
    columns: list[str] | None = None,
    *,
    name: str = "schedule.csv",
    encoding: str = "utf-8",
    delimiter: str = ",",
) -> Path:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, columns or list(SESSION), delimiter=delimiter, extrasaction="ignore"
    )
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / name
    path.write_text(out.getvalue(), encoding=encoding, newline="")
    return path


def write_json(tmp_path: Path, data: Any, name: str = "schedule.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def problems_in(path: Path) -> list[str]:
    with pytest.raises(ScheduleError) as info:
        read_schedule(path, ZONE)
    assert str(info.value) == "\n".join(str(problem) for problem in info.value.problems)
    return [str(problem) for problem in info.value.problems]


def read_one(tmp_path: Path, **changes: str) -> ScheduleRow:
    [row] = read_schedule(write_csv(tmp_path, [session(**changes)]), ZONE)
    return row


# Valid files


def test_the_sample_csv_and_json_give_identical_rows() -> None:
    from_csv = read_schedule(DATA / "schedule.csv", ZONE)
    from_json = read_schedule(DATA / "schedule.json", ZONE)
    assert from_csv == from_json
    assert len(from_csv) == 14


def test_it_normalises_the_sample_into_typed_rows() -> None:
    rows = {row.session_id: row for row in read_schedule(DATA / "schedule.csv", ZONE)}
    assert rows["S-1001-1"] == ScheduleRow(
        row=1,
        patient_id="P1001",
        first_name="Sarah",
        last_name="Thompson",
        phone="+14035550101",
        email="sarah.thompson@example.com",
        language="en",
        sms_opt_out=False,
        email_opt_out=False,
        series_id="SER-1001",
        treatment="prolotherapy",
        planned_sessions=6,
        session_id="S-1001-1",
        session_number=1,
        starts_at=datetime(2026, 1, 13, 16, 0, tzinfo=UTC),
        duration_minutes=45,
        practitioner="Dr. Anita Patel",
        location="Suite 210, 1234 Kensington Rd NW",
        status="completed",
    )
    assert rows["S-1002-1"].language == "fr"
    assert rows["S-1002-1"].first_name == "Marc-André"
    assert rows["S-1003-1"].treatment == "prolotherapy"
    assert rows["S-1003-1"].duration_minutes == 30
    assert rows["S-1003-1"].sms_opt_out is True


def test_it_fills_in_the_defaults_for_optional_columns(tmp_path: Path) -> None:
    required = ["patient_id", "first_name", "last_name", "phone", "series_id"]
    required += ["planned_sessions", "session_id", "session_number", "starts_at"]
    [row] = read_schedule(write_csv(tmp_path, [SESSION], required), ZONE)
    assert (row.email, row.language, row.sms_opt_out, row.email_opt_out) == (
        None,
        "en",
        False,
        False,
    )
    assert (row.treatment, row.duration_minutes, row.practitioner) == ("prolotherapy", 30, "")
    assert (row.location, row.status) == ("", "booked")


@pytest.mark.parametrize(
    ("starts_at", "utc"),
    [
        ("2026-01-13T09:00", datetime(2026, 1, 13, 16, 0, tzinfo=UTC)),  # MST, UTC-7
        ("2026-07-14T09:00", datetime(2026, 7, 14, 15, 0, tzinfo=UTC)),  # MDT, UTC-6
        ("2026-03-08T03:00", datetime(2026, 3, 8, 9, 0, tzinfo=UTC)),  # just after the gap
        ("2026-11-01T02:00", datetime(2026, 11, 1, 9, 0, tzinfo=UTC)),  # just after fall-back
        ("2026-11-01T01:30-06:00", datetime(2026, 11, 1, 7, 30, tzinfo=UTC)),
        ("2026-11-01T01:30-07:00", datetime(2026, 11, 1, 8, 30, tzinfo=UTC)),
        ("2026-07-14T15:00Z", datetime(2026, 7, 14, 15, 0, tzinfo=UTC)),
        ("2026-07-14 09:00:00", datetime(2026, 7, 14, 15, 0, tzinfo=UTC)),
    ],
)
def test_it_converts_starts_at_to_the_right_utc_instant(
    tmp_path: Path, starts_at: str, utc: datetime
) -> None:
    row = read_one(tmp_path, starts_at=starts_at)
    assert row.starts_at == utc
    assert row.starts_at.tzinfo is UTC


@pytest.mark.parametrize(
    ("column", "given", "stored"),
    [
        ("language", "fr-CA", "fr"),
        ("language", "FR", "fr"),
        ("language", "en-CA", "en"),
        ("language", "", "en"),
        ("sms_opt_out", "Yes", True),
        ("sms_opt_out", "1", True),
        ("sms_opt_out", "TRUE", True),
        ("sms_opt_out", "0", False),
        ("sms_opt_out", "", False),
        ("status", "Cancelled", "cancelled"),
        ("status", "no_show", "no_show"),
        ("phone", "(403) 555-0101", "+14035550101"),
        ("phone", "1 403 555 0101", "+14035550101"),
        ("email", "Sarah.Thompson@EXAMPLE.com", "Sarah.Thompson@example.com"),
        ("practitioner", "  Dr. Anita Patel  ", "Dr. Anita Patel"),
    ],
)
def test_it_accepts_and_normalises_lenient_values(
    tmp_path: Path, column: str, given: str, stored: object
) -> None:
    assert getattr(read_one(tmp_path, **{column: given}), column) == stored


def test_it_reads_a_csv_with_an_excel_byte_order_mark(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [session(first_name="Hélène")], encoding="utf-8-sig")
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    [row] = read_schedule(path, ZONE)
    assert (row.patient_id, row.first_name) == ("P1", "Hélène")


def test_it_reads_a_semicolon_separated_csv_from_a_french_excel(tmp_path: Path) -> None:
    [row] = read_schedule(write_csv(tmp_path, [SESSION], delimiter=";"), ZONE)
    assert row.session_id == "S1"


def test_it_trims_and_lowercases_header_names(tmp_path: Path) -> None:
    path = tmp_path / "schedule.csv"
    header = ",".join(f" {name.upper()} " for name in SESSION)
    path.write_text(header + "\n" + ",".join(SESSION.values()) + "\n", encoding="utf-8")
    [row] = read_schedule(path, ZONE)
    assert row.patient_id == "P1"


@pytest.mark.parametrize(("name", "as_json"), [("export.txt", False), ("export", True)])
def test_it_sniffs_the_format_when_the_extension_says_nothing(
    tmp_path: Path, name: str, as_json: bool
) -> None:
    path = (
        write_json(tmp_path, [SESSION], name)
        if as_json
        else write_csv(tmp_path, [SESSION], name=name)
    )
    assert [row.session_id for row in read_schedule(path, ZONE)] == ["S1"]


def test_it_skips_rows_of_empty_cells_but_keeps_counting_rows(tmp_path: Path) -> None:
    blank = dict.fromkeys(SESSION, "")
    path = write_csv(tmp_path, [SESSION, blank, session(session_id="S2", session_number="2")])
    assert [row.row for row in read_schedule(path, ZONE)] == [1, 3]


def test_a_cancelled_session_and_its_rebooking_may_share_a_number(tmp_path: Path) -> None:
    rows = [session(status="cancelled"), session(session_id="S1B", starts_at="2026-01-15T09:00")]
    assert len(read_schedule(write_csv(tmp_path, rows), ZONE)) == 2


def test_json_values_may_be_numbers_booleans_and_null(tmp_path: Path) -> None:
    item: dict[str, Any] = {**SESSION, "planned_sessions": 6, "session_number": 1.0}
    item.update(sms_opt_out=True, email_opt_out=None, duration_minutes=None, phone=4035550101)
    [row] = read_schedule(write_json(tmp_path, [item]), ZONE)
    assert (row.planned_sessions, row.session_number, row.duration_minutes) == (6, 1, 30)
    assert (row.sms_opt_out, row.email_opt_out, row.phone) == (True, False, "+14035550101")


# Invalid files: each case gives exactly these problems.


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        pytest.param(
            {"phone": "+1 403 555"},
            "row 1: phone: '+1 403 555' is not a valid phone number",
            id="bad phone",
        ),
        pytest.param(
            {"phone": "call me"},
            "row 1: phone: 'call me' is not a valid phone number",
            id="phone that is not a number",
        ),
        pytest.param(
            {"email": "sarah@"},
            "row 1: email: 'sarah@' is not a valid email address "
            "(There must be something after the @-sign)",
            id="bad email",
        ),
        pytest.param(
            {"language": "de"},
            "row 1: language: 'de' is not a supported language (use en or fr)",
            id="bad language",
        ),
        pytest.param(
            {"starts_at": "2026-13-01T09:00"},
            "row 1: starts_at: '2026-13-01T09:00' is not an ISO 8601 date and time "
            "(like 2026-03-10T14:30)",
            id="bad date",
        ),
        pytest.param(
            {"starts_at": "13/01/2026 9:00"},
            "row 1: starts_at: '13/01/2026 9:00' is not an ISO 8601 date and time "
            "(like 2026-03-10T14:30)",
            id="not ISO 8601",
        ),
        pytest.param(
            {"starts_at": "2026-03-10"},
            "row 1: starts_at: '2026-03-10' has no time of day "
            "(a session needs one, like 2026-03-10T14:30)",
            id="date only",
        ),
        pytest.param(
            {"starts_at": "2026-03-08T02:30"},
            "row 1: starts_at: '2026-03-08T02:30' does not exist in America/Edmonton "
            "(clocks spring forward)",
            id="spring-forward gap",
        ),
        pytest.param(
            {"starts_at": "2026-11-01T01:30"},
            "row 1: starts_at: '2026-11-01T01:30' is ambiguous in America/Edmonton "
            "(clocks fall back); add a UTC offset",
            id="fall-back ambiguity",
        ),
        pytest.param(
            {"first_name": "  "},
            "row 1: first_name: is required but empty",
            id="blank required value",
        ),
        pytest.param(
            {"session_number": "7"},
            "row 1: session_number: 7 is more than planned_sessions (6)",
            id="session_number beyond planned_sessions",
        ),
        pytest.param(
            {"planned_sessions": "0"},
            "row 1: planned_sessions: 0 is not between 1 and 20",
            id="planned_sessions out of range",
        ),
        pytest.param(
            {"planned_sessions": "six"},
            "row 1: planned_sessions: 'six' is not a whole number",
            id="planned_sessions not a number",
        ),
        pytest.param(
            {"session_number": "0"},
            "row 1: session_number: 0 is not between 1 and 20",
            id="session_number zero",
        ),
        pytest.param(
            {"duration_minutes": "600"},
            "row 1: duration_minutes: 600 is not between 1 and 480",
            id="duration too long",
        ),
        pytest.param(
            {"duration_minutes": "30.5"},
            "row 1: duration_minutes: '30.5' is not a whole number",
            id="duration with a fraction",
        ),
        pytest.param(
            {"status": "done"},
            "row 1: status: 'done' is not a session status "
            "(use booked, confirmed, completed, cancelled, no_show)",
            id="unknown status",
        ),
        pytest.param(
            {"sms_opt_out": "maybe"},
            "row 1: sms_opt_out: 'maybe' is not true or false (use true, false, yes, no, 1 or 0)",
            id="bad opt-out flag",
        ),
        pytest.param(
            {"phone": "", "email": ""},
            "row 1: phone: patient P1 has neither phone nor email (one is needed)",
            id="no way to reach the patient",
        ),
    ],
)
def test_it_reports_a_bad_value_as_row_column_problem(
    tmp_path: Path, changes: dict[str, str], expected: str
) -> None:
    assert problems_in(write_csv(tmp_path, [session(**changes)])) == [expected]


@pytest.mark.parametrize(
    ("second", "expected"),
    [
        pytest.param(
            {"session_number": "2"},
            "row 2: session_id: duplicate 'S1', first seen in row 1",
            id="duplicate session_id",
        ),
        pytest.param(
            {"session_id": "S2", "session_number": "2", "first_name": "Sara"},
            "row 2: first_name: differs from row 1 for patient P1 ('Sarah' there, 'Sara' here)",
            id="patient name differs",
        ),
        pytest.param(
            {"session_id": "S2", "session_number": "2", "phone": "403-555-0199"},
            "row 2: phone: differs from row 1 for patient P1 "
            "('+14035550101' there, '+14035550199' here)",
            id="patient phone differs",
        ),
        pytest.param(
            {"session_id": "S2", "session_number": "2", "email": ""},
            "row 2: email: differs from row 1 for patient P1 "
            "('sarah.thompson@example.com' there, empty here)",
            id="patient email missing on a later row",
        ),
        pytest.param(
            {"session_id": "S2", "session_number": "2", "sms_opt_out": "yes"},
            "row 2: sms_opt_out: differs from row 1 for patient P1 (false there, true here)",
            id="patient opt-out differs",
        ),
        pytest.param(
            {"session_id": "S2", "session_number": "2", "planned_sessions": "5"},
            "row 2: planned_sessions: differs from row 1 for series SER1 (6 there, 5 here)",
            id="series planned_sessions differs",
        ),
        pytest.param(
            {"session_id": "S2", "session_number": "2", "patient_id": "P2"},
            "row 2: patient_id: differs from row 1 for series SER1 ('P1' there, 'P2' here)",
            id="series belongs to another patient",
        ),
        pytest.param(
            {"session_id": "S2"},
            "row 2: session_number: 1 is already used by row 1 in series SER1",
            id="two live sessions with one number",
        ),
    ],
)
def test_it_reports_rows_that_contradict_an_earlier_row(
    tmp_path: Path, second: dict[str, str], expected: str
) -> None:
    assert problems_in(write_csv(tmp_path, [SESSION, session(**second)])) == [expected]


def test_it_compares_patient_data_after_normalising_it(tmp_path: Path) -> None:
    second = session(session_id="S2", session_number="2", phone="+1 (403) 555-0101", language="EN")
    assert len(read_schedule(write_csv(tmp_path, [SESSION, second]), ZONE)) == 2


def test_it_reports_a_missing_required_column_once_in_the_header(tmp_path: Path) -> None:
    columns = [name for name in SESSION if name != "starts_at"]
    path = write_csv(tmp_path, [SESSION, session(session_id="S2", session_number="2")], columns)
    assert problems_in(path) == ["header: starts_at: missing required column"]


def test_it_reports_an_unknown_column_with_a_suggestion(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [{**SESSION, "phon": ""}], [*SESSION, "phon"])
    assert problems_in(path) == ["header: phon: unknown column (did you mean phone?)"]


def test_it_reports_an_unknown_column_with_the_expected_ones(tmp_path: Path) -> None:
    path = write_csv(tmp_path, [{**SESSION, "colour": "red"}], [*SESSION, "colour"])
    assert problems_in(path) == [
        f"header: colour: unknown column (expected one of {', '.join(COLUMNS)})"
    ]


def test_it_reports_a_repeated_column(tmp_path: Path) -> None:
    path = tmp_path / "schedule.csv"
    path.write_text(",".join([*SESSION, "phone"]) + "\n" + ",".join([*SESSION.values(), ""]))
    assert problems_in(path) == ["header: phone: appears more than once"]


def test_it_reports_values_beyond_the_last_column(tmp_path: Path) -> None:
    path = tmp_path / "schedule.csv"
    path.write_text(",".join(SESSION) + "\n" + ",".join([*SESSION.values(), "oops"]) + "\n")
    assert problems_in(path) == ["row 1: has 1 more value(s) than the header has columns"]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param("", "file: is empty", id="empty file"),
        pytest.param(",".join(SESSION) + "\n", "file: has no data rows", id="header only"),
        pytest.param(b"caf\xe9", "file: is not UTF-8 text (save it as CSV UTF-8)", id="latin-1"),
    ],
)
def test_it_rejects_a_csv_without_readable_sessions(
    tmp_path: Path, content: str | bytes, expected: str
) -> None:
    path = tmp_path / "schedule.csv"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    assert problems_in(path) == [expected]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        pytest.param([], ["file: has no data rows"], id="empty array"),
        pytest.param(
            {"sessions": [SESSION]},
            ["file: must be a JSON array of objects, one per session"],
            id="object instead of array",
        ),
        pytest.param(
            [SESSION, "S2"],
            ["row 2: must be an object with the columns as keys, not a string"],
            id="non-object item",
        ),
        pytest.param(
            [{**SESSION, "phone": ["403-555-0101"]}],
            ["row 1: phone: must be text, a number, true/false or null, not an array"],
            id="nested value",
        ),
        pytest.param(
            [{key: value for key, value in SESSION.items() if key != "starts_at"}],
            ["header: starts_at: missing required column"],
            id="key missing from every object",
        ),
        pytest.param(
            [
                SESSION,
                {key: v for key, v in session(session_number="2").items() if key != "session_id"},
            ],
            ["row 2: session_id: is required but empty"],
            id="key missing from one object",
        ),
    ],
)
def test_it_reports_json_that_is_not_an_array_of_sessions(
    tmp_path: Path, data: object, expected: list[str]
) -> None:
    assert problems_in(write_json(tmp_path, data)) == expected


def test_it_reports_invalid_json_with_its_position(tmp_path: Path) -> None:
    path = tmp_path / "schedule.json"
    path.write_text('[{"patient_id": "P1",}]')
    assert problems_in(path) == [
        "file: is not valid JSON (Expecting property name enclosed in double quotes "
        "at line 1 column 22)"
    ]


def test_it_reports_every_problem_in_a_file_with_several_bad_rows(tmp_path: Path) -> None:
    rows = [
        session(phone="555"),
        session(session_id="S2", session_number="2"),
        session(session_id="S3", session_number="3", starts_at="2026-03-08T02:15"),
        session(session_id="S1", session_number="4", status="finished", email="nope"),
    ]
    path = write_csv(tmp_path, rows, [*SESSION, "notes"])
    assert problems_in(path) == [
        f"header: notes: unknown column (expected one of {', '.join(COLUMNS)})",
        "row 1: phone: '555' is not a valid phone number",
        "row 3: starts_at: '2026-03-08T02:15' does not exist in America/Edmonton "
        "(clocks spring forward)",
        "row 4: email: 'nope' is not a valid email address (An email address must have an @-sign)",
        "row 4: status: 'finished' is not a session status "
        "(use booked, confirmed, completed, cancelled, no_show)",
        "row 4: session_id: duplicate 'S1', first seen in row 1",
    ]


def test_it_reports_a_bad_value_on_every_row_that_repeats_it(tmp_path: Path) -> None:
    # Parsed values are remembered across rows; a refusal must not be.
    rows = [
        session(phone="555", starts_at="2026-03-08T02:15"),
        session(session_id="S2", session_number="2", phone="555", starts_at="2026-03-08T02:15"),
    ]
    spring = "'2026-03-08T02:15' does not exist in America/Edmonton (clocks spring forward)"
    assert problems_in(write_csv(tmp_path, rows)) == [
        "row 1: phone: '555' is not a valid phone number",
        f"row 1: starts_at: {spring}",
        "row 2: phone: '555' is not a valid phone number",
        f"row 2: starts_at: {spring}",
    ]


def test_it_reads_the_cells_a_short_row_lacks_as_empty_and_skips_empty_lines(
    tmp_path: Path,
) -> None:
    # As csv.DictReader does: an empty line is no row at all, so the next one is row 1.
    path = tmp_path / "schedule.csv"
    short = list(SESSION.values())[: list(SESSION).index("status")]
    path.write_text(",".join(SESSION) + "\n\n" + ",".join(short) + "\n")
    [row] = read_schedule(path, ZONE)
    assert (row.row, row.status, row.location) == (1, "booked", "Main clinic")


# Progress


def test_it_reports_progress_while_validating(tmp_path: Path) -> None:
    rows = [session(session_id=f"S{n}", series_id=f"SER{n}") for n in range(250)]
    calls: list[tuple[int, int]] = []
    read_schedule(
        write_csv(tmp_path, rows), ZONE, progress=lambda done, total: calls.append((done, total))
    )
    assert calls[0] == (2, 250)
    assert calls[-1] == (250, 250)
    assert len(calls) == 125


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_counts_and_a_rate_and_ends_with_a_newline() -> None:
    screen = Terminal()
    moments = iter([10.0, 12.0, 15.0])
    draw = bar("importing", unit="rows", stream=screen, clock=lambda: next(moments))
    draw(100, 1000)
    draw(450, 1000)
    draw(1000, 1000)
    assert screen.getvalue().split("\r")[1:] == [
        f"importing [{'#' * 3}{'-' * 27}]  10% 100/1000 rows",
        f"importing [{'#' * 13}{'-' * 17}]  45% 450/1000 rows, 225/s",
        f"importing [{'#' * 30}] 100% 1000/1000 rows, 200/s\n",
    ]


def test_each_stage_of_an_import_gets_its_own_line() -> None:
    screen = Terminal()
    report = stages(stream=screen)
    report("rows", 2000, 2000)
    report("planning", 400, 400)
    lines = screen.getvalue().replace("\r", "").splitlines()
    assert [line.split(" [")[0] for line in lines] == ["validating and writing", "planning"]
    assert lines[0].endswith("2000/2000 rows")


@pytest.mark.parametrize(("stream", "total"), [(Terminal(), 999), (io.StringIO(), 5000)])
def test_the_progress_bar_stays_quiet_for_small_files_and_pipes(
    stream: io.StringIO, total: int
) -> None:
    bar("importing", stream=stream)(total, total)
    assert stream.getvalue() == ""


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        ("patient_id", "P" * 101, "row 1: patient_id: is 101 characters long; at most 100 fit"),
        ("last_name", "N" * 201, "row 1: last_name: is 201 characters long; at most 200 fit"),
        ("practitioner", "Dr.\x00Chen", "row 1: practitioner: contains a NUL character"),
    ],
)
def test_text_that_would_not_fit_the_store_is_refused_by_name(
    tmp_path: Path, column: str, value: str, problem: str
) -> None:
    from tests.harness import row, write_csv

    path = write_csv(tmp_path / "s.csv", [row(**{column: value})])
    with pytest.raises(ScheduleError) as raised:
        read_schedule(path, ZoneInfo("America/Edmonton"))

    assert [str(p) for p in raised.value.problems] == [problem]
