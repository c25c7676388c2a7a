"""The one way a patient's consent changes: record what they said, then re-plan at once.

Every path ends here: a STOP or START reply, Twilio refusing a number that unsubscribed
(21610), an unsubscribe link, the console's opt-out form. A schedule import may opt a
patient out but never back in; it keeps that rule itself and re-plans the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session as DB

from reminders.config import Settings
from reminders.models import Patient
from reminders.planning.planner import replan_patients


def set_consent(
    db: DB,
    settings: Settings,
    patients: Sequence[Patient],
    now: datetime,
    *,
    sms_opt_out: bool | None = None,
    email_opt_out: bool | None = None,
    followup_email_opt_out: bool | None = None,
) -> int:
    """Set the opt-outs given (None leaves one as it is) and re-plan; planned rows changed."""
    if not patients:
        return 0
    choices = {
        "sms_opt_out": sms_opt_out,
        "email_opt_out": email_opt_out,
        "followup_email_opt_out": followup_email_opt_out,
    }
    for patient in patients:
        for name, value in choices.items():
            if value is not None:
                setattr(patient, name, value)
    db.flush()
    return replan_patients(db, settings, patients, now)


def patient_by_id(db: DB, external_id: str, *, lock: bool = False) -> Patient | None:
    query = select(Patient).where(Patient.external_id == external_id)
    return db.scalars(query.with_for_update() if lock else query).one_or_none()
