"""The REST API's request and response bodies: `/openapi.json` is generated from these.

A session object carries exactly the schedule file's columns. These models only check the
JSON shape (types, lengths, enums); what a value means (a real phone number, a wall-clock
time that exists, one patient reading the same on every row) is checked afterwards by
`schedule_file.validate_rows`, the file import's own validation.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictInt,
    StringConstraints,
    field_validator,
)
from pydantic.json_schema import SkipJsonSchema

from reminders.config import ChannelName
from reminders.intake.schedule_file import (
    MAX_DURATION_MINUTES,
    MAX_INTERVAL_DAYS,
    MAX_PLANNED_SESSIONS,
)
from reminders.models import MessageStatus, SessionStatus

# PostgreSQL text cannot hold NUL; refusing it here keeps it a 422 rather than a server error.
NO_NUL = r"^[^\x00]*$"
MAX_BATCH = 1000
MAX_PAGE = 500
MAX_OFFSET = 1_000_000
RFC_3339 = re.compile(r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)")

# Lengths follow the columns they are stored in (reminders.models).
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
Label = Annotated[str, StringConstraints(max_length=200, pattern=NO_NUL)]
Email = Annotated[str, StringConstraints(max_length=320, pattern=NO_NUL)]
Short = Annotated[str, StringConstraints(max_length=40, pattern=NO_NUL)]
Note = Annotated[str, StringConstraints(max_length=2000, pattern=NO_NUL)]
Actor = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=NO_NUL)]
RequestKey = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NO_NUL)]
# A query string has no null: an absent filter is just absent, so the schema leaves null out.
Absent = SkipJsonSchema[None]
Planned = Annotated[StrictInt, Field(ge=1, le=MAX_PLANNED_SESSIONS)]

EXAMPLE_SESSION: dict[str, JsonValue] = {
    "patient_id": "P1001",
    "first_name": "Avery",
    "last_name": "Nguyen",
    "phone": "+14035550101",
    "email": "avery@example.com",
    "language": "en",
    "sms_opt_out": False,
    "email_opt_out": False,
    "series_id": "SER-1001",
    "treatment": "prolotherapy",
    "planned_sessions": 6,
    "target_interval_days": 28,
    "session_id": "SES-1001-1",
    "session_number": 1,
    "starts_at": "2026-03-10T14:00",
    "duration_minutes": 30,
    "practitioner": "Dr. Chen",
    "location": "Room 2",
    "status": "booked",
}


class SessionIn(BaseModel):
    """One session of a series, with its patient and series: one row of the schedule file."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [EXAMPLE_SESSION]})

    patient_id: ExternalId
    first_name: PersonName
    last_name: PersonName
    phone: Short | None = Field(None, description="Any common form; stored as E.164.")
    email: Email | None = None
    language: Short = Field("en", description="en or fr (en-CA and fr-CA are accepted).")
    sms_opt_out: StrictBool = False
    email_opt_out: StrictBool = False
    series_id: ExternalId
    treatment: Label = "prolotherapy"
    planned_sessions: Planned
    target_interval_days: Annotated[StrictInt, Field(ge=1, le=MAX_INTERVAL_DAYS)] | None = Field(
        None, description="Omit for the clinic's default interval for the treatment."
    )
    session_id: ExternalId
    session_number: Planned
    starts_at: Short = Field(
        description="ISO 8601 date and time; without a UTC offset it is the clinic's "
        "wall-clock time (a time skipped or repeated by a clock change is refused)."
    )
    duration_minutes: Annotated[StrictInt, Field(ge=1, le=MAX_DURATION_MINUTES)] = 30
    practitioner: Label = ""
    location: Label = ""
    status: SessionStatus = SessionStatus.BOOKED


class Counts(BaseModel):
    patients: int
    series: int
    sessions: int


class ImportOut(BaseModel):
    """What an upsert did (or, with dry_run, would do)."""

    rows: int
    created: Counts
    updated: Counts
    messages_changed: int = Field(description="Planned messages created, moved or withdrawn.")
    dry_run: bool


class ResendIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ChannelName
    by: Actor = Field(description="Who asks for the resend; recorded in the message's history.")
    reason: Note = ""
    request_key: RequestKey | None = Field(
        None, description="Idempotency key: a repeat with the same key returns the same message."
    )


class MessageFilters(BaseModel):
    """The message log's query parameters; every filter given must match."""

    # A misspelt filter would otherwise widen the answer without a word.
    model_config = ConfigDict(extra="forbid")

    status: MessageStatus | Absent = None
    channel: ChannelName | Absent = None
    kind: Short | Absent = Field(None, description="session_reminder, aftercare, rebook_nudge, ...")
    session_id: ExternalId | Absent = None
    patient_id: ExternalId | Absent = None
    since: AwareDatetime | Absent = Field(None, description="Due at or after this instant.")
    until: AwareDatetime | Absent = Field(None, description="Due before this instant.")
    limit: int = Field(100, ge=1, le=MAX_PAGE)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)

    @field_validator("since", "until", mode="before")
    @classmethod
    def _rfc_3339(cls, value: object) -> object:
        # Pydantic also reads "1700000000" as a Unix time: the schema promises date-time only.
        if isinstance(value, str) and not RFC_3339.fullmatch(value):
            raise ValueError(
                "must be an RFC 3339 date-time with an offset, like 2026-03-05T09:00:00Z"
            )
        return value

    @field_validator("since", "until")
    @classmethod
    def _in_utc(cls, moment: datetime | None) -> datetime | None:
        # An offset can carry an instant just past datetime's range: before or after every row.
        if moment is None:
            return None
        try:
            return moment.astimezone(UTC)
        except OverflowError:
            edge = datetime.min if moment.year == datetime.min.year else datetime.max
            return edge.replace(tzinfo=UTC)


class MessageOut(BaseModel):
    """One message: planned, or sent and logged. Carries the recipient's address in full."""

    id: int
    session_id: str
    patient_id: str
    series_id: str
    kind: str
    rule: str | None = Field(description="The reminder rule that planned it; null for a resend.")
    channel: ChannelName
    status: MessageStatus
    reason: str
    due_at: datetime
    sent_at: datetime | None
    session_starts_at: datetime
    recipient: str | None
    subject: str | None
    body: str | None
    attempts: int
    provider_id: str | None
    triggered_by: str
    resend_of: int | None


class ErrorOut(BaseModel):
    detail: str


class ProblemOut(BaseModel):
    row: int | None = Field(description="The object's place in the batch, from 1; else null.")
    field: str = Field(description="The field (or query parameter) at fault; empty for a row.")
    problem: str


class ProblemsOut(BaseModel):
    detail: list[ProblemOut]


class HealthOut(BaseModel):
    status: Literal["ok", "failing"]
    database: str = Field(description='"ok", or why the database check failed.')
    broker: str = Field(description='"ok", or why the broker check failed.')
    worker: str = Field(description='"ok" when a worker was seen lately, or since when none was.')
    beat: str = Field(description='"ok" while dispatch passes run, or since when none ran.')


class DriftSessionOut(BaseModel):
    session_id: str
    number: int
    starts_at: datetime
    status: str


class DriftSentOut(BaseModel):
    sent_at: datetime
    kind: str
    channel: ChannelName


class DriftOut(BaseModel):
    """A series on the call list, with the same definition of overdue as the console."""

    patient_id: str
    series_id: str
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    last_session: DriftSessionOut = Field(
        description="The missed session for a no-show, else the last session attended or not."
    )
    sessions_done: int
    planned_sessions: int
    days_overdue: int = Field(description="Whole days past the due date; 0 for a fresh no-show.")
    reason: Literal["overdue", "no_show"] = Field(
        description="overdue: past the due date by more than the tolerance, nothing booked; "
        "no_show: missed a session and nothing booked since."
    )
    since: date = Field(description="The clinic day the reason has applied from.")
    next_due: datetime | None = Field(
        description="Last completed session plus the target interval; null before the first."
    )
    sent: list[DriftSentOut] = Field(description="Follow-ups that went out, oldest first.")
