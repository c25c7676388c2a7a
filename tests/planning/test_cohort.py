"""Six simulated months of a clinic, ticked day by day: each patient gets exactly the
follow-ups their series calls for, in their language, and staff see who is drifting."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from reminders.config import Settings
from reminders.staff.drift import drifting
from tests.harness import Clinic, local, row

Schedule = dict[str, dict[str, Any]]
START = date(2026, 1, 5)
TICKS = ("09:00", "13:00", "17:00")
PHONES = {
    p: f"+140355501{i:02d}" for i, p in enumerate(["KEEP", "DRIFT", "MISS", "CANCEL", "FINISH"])
}


def session(patient: str, number: int, when: str, planned: int, **person: Any) -> dict[str, Any]:
    return row(
        patient_id=patient,
        series_id=f"{patient}-S",
        session_id=f"{patient}-{number}",
        session_number=number,
        planned_sessions=planned,
        starts_at=when,
        phone=PHONES[patient],
        email=f"{patient.lower()}@example.com",
        **person,
    )


def opening_schedule() -> Schedule:
    keeper = {"first_name": "Kim", "last_name": "Keeper", "language": "en"}
    drifter = {"first_name": "Dana", "last_name": "Drift", "language": "en"}
    misser = {"first_name": "Marie", "last_name": "Manque", "language": "fr"}
    canceller = {"first_name": "Cal", "last_name": "Cancel", "language": "en"}
    finisher = {"first_name": "Félix", "last_name": "Fini", "language": "fr"}
    rows = [
        *(
            session("KEEP", n, d, 4, **keeper)
            for n, d in enumerate(
                ["2026-01-12T10:00", "2026-02-02T10:00", "2026-02-23T10:00", "2026-03-16T10:00"], 1
            )
        ),
        session("DRIFT", 1, "2026-01-14T10:00", 6, **drifter),
        session("MISS", 1, "2026-01-13T14:00", 3, **misser),
        session("MISS", 2, "2026-02-03T14:00", 3, **misser),
        session("CANCEL", 1, "2026-01-15T11:00", 5, **canceller),
        session("CANCEL", 2, "2026-02-05T11:00", 5, **canceller),
        *(
            session("FINISH", n, d, 3, **finisher)
            for n, d in enumerate(["2026-01-16T09:30", "2026-02-06T09:30", "2026-02-27T09:30"], 1)
        ),
    ]
    return {r["session_id"]: r for r in rows}


def status(session_id: str, value: str) -> Callable[[Schedule], None]:
    def change(schedule: Schedule) -> None:
        schedule[session_id]["status"] = value

    return change


def book(session_id: str, like: str, number: int, when: str) -> Callable[[Schedule], None]:
    def change(schedule: Schedule) -> None:
        schedule[session_id] = {
            **schedule[like],
            "session_id": session_id,
            "session_number": number,
            "starts_at": when,
            "status": "booked",
        }

    return change


# What the front desk records, and when it reaches the service (a re-import of the schedule).
EVENTS: list[tuple[str, Callable[[Schedule], None]]] = [
    ("2026-01-12 18:00", status("KEEP-1", "completed")),
    ("2026-01-13 18:00", status("MISS-1", "completed")),
    ("2026-01-14 18:00", status("DRIFT-1", "completed")),
    ("2026-01-15 18:00", status("CANCEL-1", "completed")),
    ("2026-01-16 18:00", status("FINISH-1", "completed")),
    ("2026-01-30 09:00", status("CANCEL-2", "cancelled")),
    ("2026-02-02 18:00", status("KEEP-2", "completed")),
    ("2026-02-03 18:00", status("MISS-2", "no_show")),
    ("2026-02-05 08:00", book("MISS-2b", "MISS-2", 2, "2026-02-10T14:00")),
    ("2026-02-06 18:00", status("FINISH-2", "completed")),
    ("2026-02-10 18:00", status("MISS-2b", "completed")),
    ("2026-02-10 18:05", book("MISS-3", "MISS-2", 3, "2026-03-03T14:00")),
    ("2026-02-23 18:00", status("KEEP-3", "completed")),
    ("2026-02-27 18:00", status("FINISH-3", "completed")),
    ("2026-03-03 18:00", status("MISS-3", "completed")),
    ("2026-03-16 18:00", status("KEEP-4", "completed")),
]

EXPECTED = {
    "KEEP": [
        ("aftercare", "email"),
        ("aftercare", "email"),
        ("aftercare", "email"),
        ("series_complete", "email"),
    ],
    "DRIFT": [("aftercare", "email"), ("rebook_nudge", "email"), ("rebook_nudge", "sms")],
    "MISS": [
        ("aftercare", "email"),
        ("missed_session", "email"),
        ("aftercare", "email"),
        ("series_complete", "email"),
    ],
    "CANCEL": [("aftercare", "email"), ("rebook_nudge", "email"), ("rebook_nudge", "sms")],
    "FINISH": [("aftercare", "email"), ("aftercare", "email"), ("series_complete", "email")],
}


def timeline() -> list[tuple[datetime, Callable[[Schedule], None] | None]]:
    moments: list[tuple[datetime, Callable[[Schedule], None] | None]] = [
        (local(when), change) for when, change in EVENTS
    ]
    for day in range(182):
        for at in TICKS:
            moments.append((local(f"{START + timedelta(days=day)} {at}"), None))
    return sorted(moments, key=lambda moment: moment[0])


@pytest.fixture
def simulated(settings: Settings, tmp_path: Path) -> Clinic:
    clinic = Clinic(settings, tmp_path)
    schedule = opening_schedule()
    clinic.import_rows(list(schedule.values()), local("2026-01-05 08:00"))
    for moment, change in timeline():
        if change is None:
            clinic.tick(moment)
        else:
            change(schedule)
            clinic.import_rows(list(schedule.values()), moment)
    return clinic


def sent_follow_ups(clinic: Clinic) -> dict[str, list[dict[str, Any]]]:
    by_patient: dict[str, list[dict[str, Any]]] = {patient: [] for patient in EXPECTED}
    for message in sorted(clinic.log(status="sent"), key=lambda m: m["sent_at"]):
        if message["kind"] != "session_reminder":
            by_patient[message["patient_id"]].append(message)
    return by_patient


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_six_months_of_a_cohort_get_exactly_the_follow_ups_their_series_call_for(
    simulated: Clinic,
) -> None:
    sent = sent_follow_ups(simulated)

    assert {p: [(m["kind"], m["channel"]) for m in sent[p]] for p in EXPECTED} == EXPECTED
    for patient in ("MISS", "FINISH"):
        assert all("Bonjour" in m["body"] for m in sent[patient]), patient
    for patient in ("KEEP", "DRIFT", "CANCEL"):
        assert not any("Bonjour" in m["body"] for m in sent[patient]), patient
    assert [m["sent_at"][:10] for m in sent["DRIFT"]] == ["2026-01-15", "2026-01-21", "2026-01-28"]
    assert [m["sent_at"][:10] for m in sent["CANCEL"]] == [
        "2026-01-16",
        "2026-02-06",
        "2026-02-13",
    ]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_drift_list_names_exactly_the_drifting_patients(simulated: Clinic) -> None:
    def on(when: str) -> list[object]:
        return [r["patient_id"] for r in drifting(simulated.settings, local(when))]

    assert on("2026-02-11 09:00") == []
    assert on("2026-02-12 09:00") == ["DRIFT"]
    assert on("2026-07-01 09:00") == ["DRIFT", "CANCEL"]
    (drift,) = [r for r in drifting(simulated.settings, local("2026-02-12 09:00"))]
    assert [s["kind"] for s in drift["sent"]] == ["aftercare", "rebook_nudge", "rebook_nudge"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_session_reminder_went_out_for_a_cancelled_or_missed_session(
    simulated: Clinic,
) -> None:
    reminders = [m for m in simulated.log(status="sent") if m["kind"] == "session_reminder"]
    sessions = {m["session_id"] for m in reminders}

    assert "CANCEL-2" not in sessions
    assert {"MISS-2", "MISS-2b", "MISS-3", "KEEP-4"} <= sessions
    assert len(reminders) == len({(m["session_id"], m["channel"]) for m in reminders})
