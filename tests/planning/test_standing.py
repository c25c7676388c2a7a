"""Where a series stands, with one definition of overdue: the next session is due one target
interval after the last completed one, and nothing else moves that date."""

from __future__ import annotations

from datetime import datetime

import pytest

from reminders.config import Settings
from reminders.models import Series, Session
from reminders.planning.standing import CallReason, SeriesStatus, assess
from tests.harness import local

SETTINGS = Settings()  # 21-day interval, 7 days' tolerance, the clinic in Edmonton


def series(*visits: tuple[str, str], planned: int = 6, paused: bool = False) -> Series:
    """A series of (clinic wall-clock time, status) sessions, numbered in order."""
    sessions = [
        Session(
            external_id=f"S1-{n}",
            number=n,
            starts_at=local(when),
            duration_minutes=30,
            status=status,
            status_changed_at=local(when),
        )
        for n, (when, status) in enumerate(visits, 1)
    ]
    return Series(
        external_id="S1",
        treatment="prolotherapy",
        planned_sessions=planned,
        target_interval_days=None,
        paused=paused,
        sessions=sessions,
    )


def test_a_no_show_never_moves_the_due_date_and_puts_the_patient_on_the_list_the_next_day() -> None:
    # The patient: last treated 27 Oct, no-show on 17 Nov, nothing booked.
    s = series(("2026-10-27 10:00", "completed"), ("2026-11-17 10:00", "no_show"))

    on_the_day = assess(SETTINGS, s, local("2026-11-17 18:00"))
    next_day = assess(SETTINGS, s, local("2026-11-18 00:01"))

    assert on_the_day.next_due == local("2026-11-17 10:00")  # 27 Oct + 21 days
    assert on_the_day.status == SeriesStatus.ACTIVE
    assert (next_day.status, next_day.call_reason) == (SeriesStatus.DRIFTING, CallReason.NO_SHOW)
    assert next_day.on_call_list_from == local("2026-11-18 00:00")
    assert (
        assess(SETTINGS, s, local("2026-12-06 10:00")).days_overdue(local("2026-12-06 10:00")) == 19
    )


def test_a_cancelled_session_never_moves_the_due_date() -> None:
    s = series(("2026-01-05 10:00", "completed"), ("2026-01-26 10:00", "cancelled"))

    standing = assess(SETTINGS, s, local("2026-02-02 10:01"))

    assert standing.next_due == local("2026-01-26 10:00")
    assert (standing.status, standing.call_reason) == (SeriesStatus.DRIFTING, CallReason.OVERDUE)
    assert standing.on_call_list_from == local("2026-02-02 10:00")  # due + the tolerance
    assert standing.days_overdue(local("2026-02-02 10:01")) == 7


@pytest.mark.parametrize(
    ("now", "status", "days"),
    [
        ("2026-01-26 09:59", SeriesStatus.ACTIVE, 0),  # before the due date
        ("2026-01-29 10:00", SeriesStatus.ACTIVE, 3),  # overdue, inside the tolerance
        ("2026-02-02 10:00", SeriesStatus.ACTIVE, 7),  # at the edge of the tolerance
        ("2026-02-02 10:01", SeriesStatus.DRIFTING, 7),
        ("2026-03-01 10:00", SeriesStatus.DRIFTING, 34),
    ],
)
def test_a_series_is_overdue_from_its_due_date_and_drifting_past_the_tolerance(
    now: str, status: SeriesStatus, days: int
) -> None:
    standing = assess(SETTINGS, series(("2026-01-05 10:00", "completed")), local(now))

    assert (standing.status, standing.days_overdue(local(now))) == (status, days)


def test_a_booked_session_means_nobody_is_overdue_even_when_it_is_late() -> None:
    s = series(("2026-01-05 10:00", "completed"), ("2026-03-10 10:00", "booked"))
    now = local("2026-03-01 10:00")

    standing = assess(SETTINGS, s, now)

    assert (standing.status, standing.days_overdue(now), standing.is_overdue(now)) == (
        SeriesStatus.ACTIVE,
        0,
        False,
    )
    assert standing.call_reason is None


def test_a_completed_series_is_never_overdue() -> None:
    s = series(*((f"2026-0{m}-05 10:00", "completed") for m in (1, 2, 3)), planned=3)
    now = local("2026-12-01 10:00")

    standing = assess(SETTINGS, s, now)

    assert standing.status == SeriesStatus.COMPLETE
    assert (standing.next_due, standing.days_overdue(now), standing.call_reason) == (None, 0, None)


def test_a_paused_series_is_never_overdue() -> None:
    now = local("2026-12-01 10:00")

    standing = assess(SETTINGS, series(("2026-01-05 10:00", "completed"), paused=True), now)

    assert standing.status == SeriesStatus.PAUSED
    assert (standing.days_overdue(now), standing.is_overdue(now), standing.call_reason) == (
        0,
        False,
        None,
    )


def test_a_no_show_made_up_by_a_later_session_is_no_longer_a_no_show() -> None:
    s = series(
        ("2026-01-05 10:00", "completed"),
        ("2026-01-26 10:00", "no_show"),
        ("2026-01-29 10:00", "completed"),
    )

    standing = assess(SETTINGS, s, local("2026-02-01 10:00"))

    assert (standing.missed, standing.status) == (None, SeriesStatus.ACTIVE)
    assert standing.next_due == local("2026-02-19 10:00")


def test_a_first_session_missed_puts_the_patient_on_the_list_with_no_due_date() -> None:
    standing = assess(SETTINGS, series(("2026-01-05 10:00", "no_show")), local("2026-01-06 08:00"))

    assert (standing.status, standing.call_reason) == (SeriesStatus.DRIFTING, CallReason.NO_SHOW)
    assert (standing.next_due, standing.days_overdue(local("2026-01-06 08:00"))) == (None, 0)


def test_the_due_date_keeps_the_wall_clock_time_across_daylight_saving() -> None:
    # 1 March is MST, 22 March is MDT: the due date is still 10:00 on the clinic's clock.
    standing = assess(
        SETTINGS, series(("2026-03-01 10:00", "completed")), local("2026-03-02 10:00")
    )

    due: datetime | None = standing.next_due
    assert due == local("2026-03-22 10:00")


def test_a_session_earlier_today_not_yet_recorded_keeps_the_patient_off_the_list() -> None:
    # Due 29 Dec + 28 days = 26 Jan 10:00, the very time of the session still marked booked.
    s = series(("2025-12-29 10:00", "completed"), ("2026-01-26 10:00", "booked"))

    assert assess(SETTINGS, s, local("2026-01-26 17:00")).status == SeriesStatus.ACTIVE
    assert assess(SETTINGS, s, local("2026-01-27 09:00")).status == SeriesStatus.DRIFTING
