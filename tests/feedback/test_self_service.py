"""What patients ask for, as plain functions on a real store: an SMS "R" becomes a request
for staff, the days offered keep the series inside its window, nothing moves a session."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from reminders import store
from reminders.config import Settings
from reminders.feedback.replies import receive
from reminders.feedback.self_service import offered_days
from reminders.models import InboundMessage, Series, Session
from reminders.staff.attention import unhandled
from reminders.staff.requests import mark_handled, open_requests
from tests.harness import Clinic, local, reminders_only, row

AVERY = "+14035550101"


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(reminders_only(settings), tmp_path)


def days_for(settings: Settings, when: str) -> list[date]:
    with store.transaction(settings.database_url) as db:
        series = db.scalars(
            select(Series).options(selectinload(Series.sessions), selectinload(Series.patient))
        ).one()
        return offered_days(settings, series, local(when))


def test_an_sms_r_puts_a_reschedule_request_on_needs_attention(clinic: Clinic) -> None:
    clinic.import_rows([row()], local("2026-03-01 09:00"))
    before = clinic.statuses()

    assert receive(clinic.settings, "SM-r1", AVERY, "R", local("2026-03-05 09:05")) == "reschedule"
    assert receive(clinic.settings, "SM-r2", AVERY, "r", local("2026-03-05 09:07")) == "reschedule"

    with store.transaction(clinic.settings.database_url) as db:
        [request] = open_requests(db, clinic.settings)
        session = db.scalars(select(Session)).one()
        assert (session.status, session.starts_at) == ("booked", local("2026-03-10 14:00"))
    assert (request.kind, request.source, request.session_external_id) == (
        "reschedule",
        "sms",
        "S1-1",
    )
    assert request.preferred_days == ()
    assert request.received_at == local("2026-03-05 09:07")  # one item, with the latest ask
    assert clinic.statuses() == before


def test_handling_the_request_also_handles_the_sms_behind_it(clinic: Clinic) -> None:
    clinic.import_rows([row()], local("2026-03-01 09:00"))
    receive(clinic.settings, "SM-r1", AVERY, "R", local("2026-03-05 09:05"))
    receive(clinic.settings, "SM-t1", AVERY, "Running late", local("2026-03-05 09:06"))
    # The "R" is on Needs attention once, as the request; the free text as a reply.
    assert [reply.body for reply in unhandled(clinic.settings)] == ["Running late"]

    with store.transaction(clinic.settings.database_url) as db:
        [request] = open_requests(db, clinic.settings)
        mark_handled(db, request.id, "dana", local("2026-03-05 10:00"))

    assert [reply.body for reply in unhandled(clinic.settings)] == ["Running late"]
    with store.transaction(clinic.settings.database_url) as db:
        inbound = db.scalars(select(InboundMessage).where(InboundMessage.body == "R")).one()
        assert inbound.handled_by == "dana"


def test_the_days_offered_are_the_interval_after_the_last_treatment_give_or_take_the_tolerance(
    clinic: Clinic,
) -> None:
    done = row(status="completed", starts_at="2026-03-03T14:00-07:00")
    booked = row(session_id="S1-2", session_number=2, starts_at="2026-03-24T14:00-06:00")
    clinic.import_rows([done, booked], local("2026-03-04 09:00"))

    days = days_for(clinic.settings, "2026-03-05 09:00")

    # 21 days after 3 March is 24 March; the clinic's tolerance is 7 days either side.
    assert days[0] == date(2026, 3, 17) and days[-1] == date(2026, 3, 31)
    assert days == [date(2026, 3, 17) + timedelta(days=n) for n in range(15)]


def test_inside_the_window_the_days_start_tomorrow(clinic: Clinic) -> None:
    done = row(status="completed", starts_at="2026-03-03T14:00-07:00")
    clinic.import_rows([done], local("2026-03-04 09:00"))

    days = days_for(clinic.settings, "2026-03-20 09:00")

    assert days[0] == date(2026, 3, 21) and days[-1] == date(2026, 3, 31)


def test_past_the_window_the_days_are_the_soonest_ones(clinic: Clinic) -> None:
    done = row(status="completed", starts_at="2026-03-03T14:00-07:00")
    clinic.import_rows([done], local("2026-03-04 09:00"))

    days = days_for(clinic.settings, "2026-04-10 09:00")

    assert days[0] == date(2026, 4, 11) and len(days) == 15


def test_a_series_interval_of_its_own_sets_the_window(clinic: Clinic) -> None:
    done = row(status="completed", starts_at="2026-03-03T14:00-07:00", target_interval_days=35)
    clinic.import_rows([done], local("2026-03-04 09:00"))

    days = days_for(clinic.settings, "2026-03-05 09:00")

    assert days[0] == date(2026, 3, 31) and days[-1] == date(2026, 4, 14)
