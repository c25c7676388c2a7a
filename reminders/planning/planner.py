"""Recompute a session's unsent planned messages whenever the session or its patient changes.

The planner never drops a message because its due time has passed: whether it is
still worth sending is decided at dispatch. Rows already handed to a worker, sent,
or closed by the dispatcher are never touched here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import selectinload

from reminders.config import ReminderRule, Settings
from reminders.journal import record
from reminders.kinds import FOLLOW_UPS
from reminders.models import UPCOMING, Message, MessageStatus, Patient, Series, Session
from reminders.planning.followups import plan_followups
from reminders.planning.quiet_hours import sms_due, wall_clock_shift

AFTER_SESSION_SHELF_LIFE = timedelta(days=1)


@dataclass(frozen=True)
class Plan:
    rule: ReminderRule
    planned_for: datetime
    due_at: datetime
    expires_at: datetime


def due_for(settings: Settings, rule: ReminderRule, starts_at: datetime) -> Plan:
    due = wall_clock_shift(starts_at, rule.offset, settings.clinic.zone)
    expires = starts_at if rule.before_session else due + AFTER_SESSION_SHELF_LIFE
    if rule.channel == "sms":
        deadline = starts_at if rule.before_session else None
        due = sms_due(settings.quiet_hours, settings.clinic.zone, due, deadline)
    return Plan(rule, starts_at, due, expires)


def why_not(session: Session, patient: Patient, rule: ReminderRule) -> str | None:
    """The reason this rule has nothing to send for this session, or None when it does."""
    if session.status not in UPCOMING:
        return f"session {session.status}"
    if patient.opted_out_of(rule.channel):
        return f"patient opted out of {rule.channel}"
    if not patient.address_for(rule.channel):
        return f"no {'phone number' if rule.channel == 'sms' else 'email address'} on file"
    return None


def plan_session(db: DB, settings: Settings, session: Session, now: datetime) -> int:
    """Bring the session's planned rows in line with its state; returns rows changed."""
    wanted, withdrawn = _wanted(settings, session)
    existing = [m for m in session.messages if m.rule is not None and m.kind not in FOLLOW_UPS]
    changed = 0
    for message in existing:
        match = None
        if message.planned_for is not None:
            match = wanted.pop((message.rule or "", message.planned_for), None)
        if match is not None:
            changed += _keep(db, message, match, now)
        elif message.status == MessageStatus.PLANNED:
            reason = withdrawn.get(message.rule or "") or _moved_or_dropped(message, session)
            record(db, message, MessageStatus.CANCELLED, reason, now)
            changed += 1
    for plan in wanted.values():
        _insert(db, session, plan, now)
        changed += 1
    return changed


def _wanted(
    settings: Settings, session: Session
) -> tuple[dict[tuple[str, datetime], Plan], dict[str, str]]:
    """The rows the policy wants, keyed by rule and start, and why the other rules want none."""
    patient = session.series.patient
    wanted: dict[tuple[str, datetime], Plan] = {}
    withdrawn: dict[str, str] = {}
    for rule in settings.rules:
        reason = why_not(session, patient, rule)
        if reason is None:
            plan = due_for(settings, rule, session.starts_at)
            wanted[(rule.name, plan.planned_for)] = plan
        else:
            withdrawn[rule.name] = reason
    return wanted, withdrawn


def _moved_or_dropped(message: Message, session: Session) -> str:
    if message.planned_for != session.starts_at:
        return "session moved"
    return "rule no longer in the policy"


def _keep(db: DB, message: Message, plan: Plan, now: datetime) -> int:
    """An existing row for this rule and start: update it if still open, revive if withdrawn."""
    if message.status == MessageStatus.CANCELLED:
        message.due_at, message.expires_at = plan.due_at, plan.expires_at
        record(db, message, MessageStatus.PLANNED, "planned again", now)
        return 1
    if message.status == MessageStatus.PLANNED and (
        message.due_at != plan.due_at or message.expires_at != plan.expires_at
    ):
        message.due_at, message.expires_at = plan.due_at, plan.expires_at
        record(db, message, MessageStatus.PLANNED, "due time recomputed", now)
        return 1
    return 0


def _insert(db: DB, session: Session, plan: Plan, now: datetime) -> None:
    message = Message.planned(
        session,
        kind=plan.rule.kind,
        rule=plan.rule.name,
        channel=plan.rule.channel,
        due_at=plan.due_at,
        expires_at=plan.expires_at,
        before_session=plan.rule.before_session,
        now=now,
    )
    db.add(message)
    record(db, message, MessageStatus.PLANNED, f"rule {plan.rule.name}", now)


# Keeps each `IN (...)` well under SQLite's limit on bound parameters.
CHUNK = 5000


def replan_patients(db: DB, settings: Settings, patients: Iterable[Patient], now: datetime) -> int:
    """Re-plan every session and series of these patients: reminders, then follow-ups.

    A change to a patient (contact, opt-out) or to any of their sessions reaches every
    unsent message this way. Returns the planned rows changed.
    """
    changed = 0
    with db.no_autoflush:
        sessions = _patients_sessions(db, patients)
        for session in sessions:
            changed += plan_session(db, settings, session, now)
        for series in {session.series.id: session.series for session in sessions}.values():
            changed += plan_followups(db, settings, series, now)
    return changed


def _patients_sessions(db: DB, patients: Iterable[Patient]) -> list[Session]:
    """Every session of the imported patients: a contact change reaches them all."""
    ids = sorted(patient.id for patient in patients)
    sessions: list[Session] = []
    for start in range(0, len(ids), CHUNK):
        sessions.extend(
            db.scalars(
                select(Session)
                .join(Series)
                .where(Series.patient_id.in_(ids[start : start + CHUNK]))
                .options(
                    selectinload(Session.messages),
                    selectinload(Session.series).selectinload(Series.sessions),
                )
                .order_by(Session.id)
            )
        )
    return sessions
