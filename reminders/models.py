"""The clinic's world in tables: patients, series, sessions, and messages (plan and log)."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC in Python, naive UTC in the column: the same on SQLite and PostgreSQL."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )


class SessionStatus(StrEnum):
    BOOKED = "booked"
    CONFIRMED = "confirmed"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    NO_SHOW = "no_show"


class MessageStatus(StrEnum):
    PLANNED = "planned"  # waiting for its due time
    QUEUED = "queued"  # claimed by a dispatcher, handed to a worker
    SENDING = "sending"  # committed just before the provider call
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"  # the carrier could not deliver it (a status callback said so)
    FAILED = "failed"
    UNKNOWN = "unknown"  # the provider may or may not have it: reconcile, never resend blindly
    SKIPPED = "skipped"  # session cancelled or moved, or superseded in a catch-up
    SUPPRESSED = "suppressed"  # patient opted out, or no address for the channel
    EXPIRED = "expired"  # too late to be useful
    CANCELLED = "cancelled"  # withdrawn by the planner before dispatch; may be planned again


# Sessions still to come: their reminders may go out, a resend may be asked for.
UPCOMING = (SessionStatus.BOOKED, SessionStatus.CONFIRMED)
# Messages waiting to go out: planned, or claimed and not yet handed to the provider.
WAITING = (MessageStatus.PLANNED, MessageStatus.QUEUED)
# Messages the provider took: the patient was told.
WENT_OUT = (MessageStatus.SENT, MessageStatus.DELIVERED)
# Messages staff should look at: the patient may not have been told.
PROBLEMS = (MessageStatus.FAILED, MessageStatus.UNDELIVERED, MessageStatus.UNKNOWN)


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    first_name: Mapped[str] = mapped_column(String(200))
    last_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(5), default="en")
    sms_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    email_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    # Unsubscribed from follow-up emails only; session reminders still come by email.
    followup_email_opt_out: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )

    series: Mapped[list[Series]] = relationship(back_populates="patient")

    def address_for(self, channel: str) -> str | None:
        return self.phone if channel == "sms" else self.email

    def opted_out_of(self, channel: str) -> bool:
        return self.sms_opt_out if channel == "sms" else self.email_opt_out


# Patients in name order, a page at a time (the console's patients list and search).
Index("ix_patients_name", Patient.last_name, Patient.first_name, Patient.id)
# PostgreSQL only, migration 0013: ix_patients_search, a pg_trgm index for the search's LIKEs.


# Not paused, not complete by its tally, and begun (a session completed or missed).
UNDER_WAY = text(
    "NOT paused AND completed_sessions < planned_sessions"
    " AND top_completed_number < planned_sessions"
    " AND (last_completed_at IS NOT NULL OR last_no_show_at IS NOT NULL)"
)


class Series(Base):
    __tablename__ = "series"
    # Migration 0009: a patient's series without scanning them all.
    # Migration 0012: the intervals series set for themselves (the call list).
    # Migration 0014: the series under way by last completed session and by last no-show
    # (the call list).
    __table_args__ = (
        Index("ix_series_patient", "patient_id"),
        Index(
            "ix_series_own_interval",
            "target_interval_days",
            sqlite_where=text("target_interval_days IS NOT NULL"),
            postgresql_where=text("target_interval_days IS NOT NULL"),
        ),
        Index(
            "ix_series_under_way",
            "last_completed_at",
            sqlite_where=UNDER_WAY,
            postgresql_where=UNDER_WAY,
        ),
        Index(
            "ix_series_under_way_no_show",
            "last_no_show_at",
            sqlite_where=UNDER_WAY,
            postgresql_where=UNDER_WAY,
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    treatment: Mapped[str] = mapped_column(String(200))
    planned_sessions: Mapped[int] = mapped_column(Integer)
    # None: the clinic's default interval for the treatment.
    target_interval_days: Mapped[int | None] = mapped_column(Integer)
    # Set by staff: no follow-ups while paused.
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The tally of its sessions the call list narrows by (planning/tallies.py keeps it; the
    # standing itself is always derived from the sessions).
    completed_sessions: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    top_completed_number: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    patient: Mapped[Patient] = relationship(back_populates="series")
    sessions: Mapped[list[Session]] = relationship(
        back_populates="series", order_by="Session.number"
    )


class Session(Base):
    """One visit of a series. `starts_at` is UTC; messages show it in the clinic's zone."""

    __tablename__ = "sessions"
    # Migration 0009: a series' sessions in date order without scanning them all.
    # Migration 0012: the call list groups completed and no-show sessions, index only.
    __table_args__ = (
        Index("ix_sessions_series_start", "series_id", "starts_at"),
        Index("ix_sessions_status_series", "status", "series_id", "starts_at", "number"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(100), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id"))
    number: Mapped[int] = mapped_column(Integer)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    duration_minutes: Mapped[int] = mapped_column(Integer, default=30)
    practitioner: Mapped[str] = mapped_column(String(200), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(20), default=SessionStatus.BOOKED)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    series: Mapped[Series] = relationship(back_populates="sessions")
    messages: Mapped[list[Message]] = relationship(back_populates="session")

    @property
    def is_cancelled(self) -> bool:
        return self.status == SessionStatus.CANCELLED


# The rows of a plan that are still on their way: at most one per session, rule and start.
OPEN_PLAN = text("status IN ('planned', 'queued', 'sending')")


# A day's sessions in time order (the day view, the sessions page).
Index("ix_sessions_day", Session.starts_at)


class Message(Base):
    """A planned message and, once dispatched, its log entry.

    Rule-planned rows are keyed by session, rule and the session start they were planned
    for: a reschedule plans new rows and a re-import finds the old ones. One key may have
    one open row (planned, queued, sending) and any number of closed ones: a session moved
    away and back plans its rule again for a start it once had. Manual resends have no
    rule; every reminder row names the start it told the patient.
    """

    __tablename__ = "messages"
    __table_args__ = (
        Index(
            "uq_messages_open_plan",
            "session_id",
            "rule",
            "planned_for",
            unique=True,
            sqlite_where=OPEN_PLAN,
            postgresql_where=OPEN_PLAN,
        ),
        Index("ix_messages_status_due", "status", "due_at"),
        # Migration 0009: the metrics and the reconciler read the last day's attempts.
        Index("ix_messages_attempted", "attempted_at"),
        # Migration 0012: the stale-SMS list; sent SMS only, so claims never touch it.
        Index(
            "ix_messages_sms_sent",
            "sent_at",
            "id",
            sqlite_where=text("status = 'sent' AND channel = 'sms'"),
            postgresql_where=text("status = 'sent' AND channel = 'sms'"),
        ),
        # Migration 0013: the message log's messages sent on the days staff chose.
        Index(
            "ix_messages_sent",
            "sent_at",
            sqlite_where=text("sent_at IS NOT NULL"),
            postgresql_where=text("sent_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str | None] = mapped_column(String(100))
    channel: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(20), default=MessageStatus.PLANNED)
    reason: Mapped[str] = mapped_column(Text, default="")
    planned_for: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    before_session: Mapped[bool] = mapped_column(Boolean, default=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # A queued or sending row belongs to its worker until then; a live worker extends it.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The attempt that may send and record this row; a new attempt gets a new token.
    attempt_token: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    recipient: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str | None] = mapped_column(Text)
    provider_id: Mapped[str | None] = mapped_column(String(200))
    triggered_by: Mapped[str] = mapped_column(String(100), default="planner")
    resend_of: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    # The provider's own last word on the message (Twilio status callbacks), and when.
    provider_status: Mapped[str | None] = mapped_column(String(20))
    provider_status_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # How long the provider took to answer the send, for the latency metric.
    provider_ms: Mapped[int | None] = mapped_column(Integer)
    # A staff form's idempotency key: a double click or a re-posted form sends once.
    request_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    session: Mapped[Session] = relationship(back_populates="messages")
    events: Mapped[list[MessageEvent]] = relationship(
        back_populates="message", order_by="MessageEvent.id"
    )

    @classmethod
    def planned(
        cls,
        session: Session,
        *,
        kind: str,
        rule: str,
        channel: str,
        due_at: datetime,
        expires_at: datetime,
        before_session: bool,
        now: datetime,
    ) -> Message:
        """A row the planner wants, for the session as it starts now."""
        values = cls.planned_values(
            session,
            kind=kind,
            rule=rule,
            channel=channel,
            due_at=due_at,
            expires_at=expires_at,
            before_session=before_session,
            now=now,
        )
        return cls(session=session, **values)

    @staticmethod
    def planned_values(
        session: Session,
        *,
        kind: str,
        rule: str,
        channel: str,
        due_at: datetime,
        expires_at: datetime,
        before_session: bool,
        now: datetime,
    ) -> dict[str, Any]:
        """The columns of `planned()` (but the session), for inserting many rows in bulk."""
        return {
            "kind": kind,
            "rule": rule,
            "channel": channel,
            "status": MessageStatus.PLANNED,
            "reason": "",
            "planned_for": session.starts_at,
            "due_at": due_at,
            "expires_at": expires_at,
            "before_session": before_session,
            "attempts": 0,
            "triggered_by": "planner",
            "created_at": now,
        }

    @classmethod
    def reminder_now(
        cls,
        session: Session,
        *,
        channel: str,
        by: str,
        now: datetime,
        resend_of: int | None = None,
        request_key: str | None = None,
    ) -> Message:
        """A session reminder outside the plan (a staff resend, an email fallback), claimed
        by its maker to be sent at once."""
        return cls(
            session=session,
            kind="session_reminder",
            rule=None,
            channel=channel,
            status=MessageStatus.QUEUED,
            reason="",
            # The start it tells the patient: the planner's latest word on the channel.
            planned_for=session.starts_at,
            due_at=now,
            expires_at=session.starts_at,
            before_session=True,
            attempts=0,
            claimed_at=now,
            triggered_by=by,
            resend_of=resend_of,
            request_key=request_key,
            created_at=now,
        )


# The message log lists the latest activity first (reminders/staff/log_search.py): this
# index is that order, so a page of the log reads 50 index entries, not every message.
Index(
    "ix_messages_activity",
    func.coalesce(
        Message.provider_status_at, Message.sent_at, Message.attempted_at, Message.created_at
    ).desc(),
    Message.id.desc(),
)
# Migration 0013: the same order within one status (the log filtered by status).
Index(
    "ix_messages_status_activity",
    Message.status,
    func.coalesce(
        Message.provider_status_at, Message.sent_at, Message.attempted_at, Message.created_at
    ).desc(),
    Message.id.desc(),
)


class MessageEvent(Base):
    """Every state change of a message, with its reason: the audit trail."""

    __tablename__ = "message_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="system")

    message: Mapped[Message] = relationship(back_populates="events")


class User(Base):
    """A member of staff who signs in to the web console."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    role: Mapped[str] = mapped_column(String(10))  # "staff" or "admin"
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # A disabled user cannot sign in, and disabling ends their sessions.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffSession(Base):
    """A signed-in browser: its cookie holds a random id, stored here only as a hash.

    Signing out or disabling the user deletes the row, so a copied cookie opens nothing.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class LoginThrottle(Base):
    """Recent failed sign-ins counted for one guesser: a client address (`user_name` empty),
    an address and the name it typed, or a name from anywhere (`address` empty).

    Names are kept as typed (folded to lower case), whether or not such a user exists.
    """

    __tablename__ = "login_throttles"
    __table_args__ = (UniqueConstraint("address", "user_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(64), default="")
    user_name: Mapped[str] = mapped_column(String(100), default="", index=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime] = mapped_column(UTCDateTime())
    blocked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ApiToken(Base):
    """A bearer token for an integration; only its hash is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InboundMessage(Base):
    """An SMS a patient sent us, what we made of it, and whether staff have handled it."""

    __tablename__ = "inbound_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider_id: Mapped[str] = mapped_column(String(64), unique=True)  # Twilio's MessageSid
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_phone: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text, default="")
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    # opt_out, opt_in, help, confirm, reschedule, other
    intent: Mapped[str] = mapped_column(String(20))
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"))
    auto_reply: Mapped[str | None] = mapped_column(Text)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by: Mapped[str | None] = mapped_column(String(100))

    patient: Mapped[Patient | None] = relationship()
    session: Mapped[Session | None] = relationship()


class PatientRequest(Base):
    """What a patient asked for by self-service link or SMS: confirm a session, or another
    time (with the days they would take). Staff act on it; nothing here moves a session."""

    __tablename__ = "patient_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("sessions.id"))
    kind: Mapped[str] = mapped_column(String(20))  # confirm, reschedule
    source: Mapped[str] = mapped_column(String(10))  # link, sms
    # The SMS reply behind it, when there is one: handling one handles the other.
    inbound_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_messages.id"))
    # ISO dates, comma-separated, in the patient's order of choice.
    preferred_days: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(20), default="open")  # open, handled
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    handled_by: Mapped[str | None] = mapped_column(String(100))

    patient: Mapped[Patient] = relationship()
    session: Mapped[Session | None] = relationship()
    inbound: Mapped[InboundMessage | None] = relationship()
    events: Mapped[list[PatientRequestEvent]] = relationship(
        back_populates="request", order_by="PatientRequestEvent.id"
    )


class PatientRequestEvent(Base):
    """Every state change of a patient request, with who made it (the journal writes these)."""

    __tablename__ = "patient_request_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("patient_requests.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(100), default="system")

    request: Mapped[PatientRequest] = relationship(back_populates="events")


class StaffAction(Base):
    """What a member of staff did about an item of the call list (a drifting series, a
    failed message, a reply, a patient request), or to a series (paused, resumed).

    `item` names what it was about ("series:S1", "message:42"); `situation` what the item
    looked like then: an item is off the list while its latest closing action was taken in
    the situation it is still in, and comes back when the situation changes.
    """

    __tablename__ = "staff_actions"
    __table_args__ = (Index("ix_staff_actions_item", "item", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(100))
    item: Mapped[str] = mapped_column(String(120))
    situation: Mapped[str] = mapped_column(String(200), default="")
    # called, left_message, booked, wrong_number, note, handled, paused, resumed
    action: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)


class Heartbeat(Base):
    """The last sign of life of a part of the service: `beat` (the last dispatch pass),
    `worker:<hostname>` (a worker's timer). Health checks and metrics read their age."""

    __tablename__ = "heartbeats"

    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
