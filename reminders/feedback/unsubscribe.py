"""A patient's click on an unsubscribe link: stop follow-up emails, or all email.

The link itself is made and checked in `wording.unsubscribe_links`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from reminders import store
from reminders.config import Settings
from reminders.models import Patient
from reminders.planning.consent import patient_by_id, set_consent


@dataclass(frozen=True)
class Subscription:
    """What a patient still receives by email, as the unsubscribe page shows it."""

    language: str
    followups: bool
    reminders: bool


def subscription(settings: Settings, external_id: str) -> Subscription | None:
    with store.transaction(settings.database_url) as db:
        patient = patient_by_id(db, external_id)
        return None if patient is None else _subscription(patient)


def unsubscribe(
    settings: Settings, external_id: str, scope: str, now: datetime
) -> Subscription | None:
    """Stop follow-up emails (scope "followups") or all email ("all"), and re-plan at once.

    None when the patient is gone. Opting out twice is harmless; nothing here opts back in.
    """
    with store.transaction(settings.database_url) as db:
        patient = patient_by_id(db, external_id, lock=True)
        if patient is None:
            return None
        everything = True if scope == "all" else None
        set_consent(
            db, settings, [patient], now, followup_email_opt_out=True, email_opt_out=everything
        )
        return _subscription(patient)


def _subscription(patient: Patient) -> Subscription:
    reminders = not patient.email_opt_out
    followups = reminders and not patient.followup_email_opt_out
    return Subscription(patient.language, followups, reminders)
