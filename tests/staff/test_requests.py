from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.feedback.self_service import RequestKind, add_request
from reminders.models import Patient, PatientRequestEvent, Session
from reminders.staff.requests import RequestError, mark_handled, open_requests
from tests.harness import Clinic, local, row

NOW = local("2026-03-05 09:00")


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    clinic = Clinic(settings, tmp_path)
    clinic.import_rows([row()], NOW)
    return clinic


def _ask(
    clinic: Clinic,
    kind: RequestKind,
    days: tuple[date, ...] = (),
    note: str = "",
    settled: bool = False,
) -> int:
    with store.transaction(clinic.settings.database_url) as db:
        patient = db.scalars(select(Patient)).one()
        session = db.scalars(select(Session)).one()
        found = add_request(
            db,
            patient=patient,
            session=session,
            source="link",
            now=NOW,
            kind=kind,
            preferred_days=days,
            note=note,
            settled=settled,
        )
        return found.id


def test_a_reschedule_request_is_open_with_the_patients_days_in_their_order(clinic: Clinic) -> None:
    days = (date(2026, 3, 17), date(2026, 3, 12))
    request_id = _ask(clinic, "reschedule", days, "mornings")
    with store.transaction(clinic.settings.database_url) as db:
        [found] = open_requests(db, clinic.settings)
    assert (found.id, found.kind, found.preferred_days, found.note) == (
        request_id,
        "reschedule",
        days,
        "mornings",
    )
    assert found.patient_name == "Avery Nguyen"
    assert found.patient_external_id == "P1" and found.session_external_id == "S1-1"
    assert found.received_at == NOW


def test_a_handled_request_leaves_the_list_and_the_journal_says_who(clinic: Clinic) -> None:
    request_id = _ask(clinic, kind="reschedule")
    with store.transaction(clinic.settings.database_url) as db:
        mark_handled(db, request_id, "maria", NOW)
    with store.transaction(clinic.settings.database_url) as db:
        assert open_requests(db, clinic.settings) == []
        events = db.scalars(select(PatientRequestEvent).order_by(PatientRequestEvent.id)).all()
        assert [(e.status, e.actor) for e in events] == [("open", "patient"), ("handled", "maria")]


def test_handling_a_request_twice_says_who_handled_it(clinic: Clinic) -> None:
    request_id = _ask(clinic, kind="reschedule")
    with store.transaction(clinic.settings.database_url) as db:
        mark_handled(db, request_id, "maria", NOW)
    with (
        pytest.raises(RequestError, match="handled by maria"),
        store.transaction(clinic.settings.database_url) as db,
    ):
        mark_handled(db, request_id, "li", NOW)


def test_a_confirmation_the_service_applied_is_not_on_the_list(clinic: Clinic) -> None:
    _ask(clinic, kind="confirm", settled=True)
    with store.transaction(clinic.settings.database_url) as db:
        assert open_requests(db, clinic.settings) == []
