"""A patient's file as staff read it, and the opt-outs staff change by hand."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DB
from sqlalchemy.orm import selectinload

from reminders import store
from reminders.config import Settings
from reminders.models import InboundMessage, Patient, Series, Session
from reminders.planning.consent import patient_by_id, set_consent


def patient_file(db: DB, patient_id: str) -> Patient | None:
    """The patient with every series, session and message loaded; None if there is none."""
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


def set_opt_outs(
    settings: Settings, patient_id: str, *, sms: bool, email: bool, now: datetime
) -> int | None:
    """Set the patient's opt-outs and re-plan their sessions, as an import would: the planned
    rows changed, or None if there is no such patient."""
    with store.transaction(settings.database_url) as db:
        patient = patient_by_id(db, patient_id)
        if patient is None:
            return None
        return set_consent(db, settings, [patient], now, sms_opt_out=sms, email_opt_out=email)


def replies_of(db: DB, patient: Patient) -> list[InboundMessage]:
    """The SMS the patient sent us (matched to them when they came in), oldest first."""
    query = select(InboundMessage).where(InboundMessage.patient_id == patient.id)
    return list(db.scalars(query.order_by(InboundMessage.received_at, InboundMessage.id)))
