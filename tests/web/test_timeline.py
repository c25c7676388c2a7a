"""The series chart on the patient page reads the same standing as the card's text."""

from __future__ import annotations

from reminders.config import Settings
from reminders.planning.standing import assess
from reminders.web.pages.timeline import Timeline, series_timeline
from tests.harness import local
from tests.planning.test_standing import series

SETTINGS = Settings()


def chart(*visits: tuple[str, str], now: str, planned: int = 6, paused: bool = False) -> Timeline:
    s = series(*visits, planned=planned, paused=paused)
    return series_timeline(SETTINGS, s, assess(SETTINGS, s, local(now)), local(now))


def test_a_completed_series_has_no_window_after_its_final_session_and_no_red_bar() -> None:
    done = chart(
        *((f"2026-0{m}-05 10:00", "completed") for m in (1, 2, 3)),
        planned=3,
        now="2026-12-01 10:00",
    )

    assert (len(done.dots), len(done.windows), done.gaps) == (3, 2, [])


def test_a_paused_series_has_no_red_bar() -> None:
    assert chart(("2026-01-05 10:00", "completed"), paused=True, now="2026-06-01 10:00").gaps == []


def test_the_red_bar_runs_from_the_due_date_to_now_and_says_what_the_card_says() -> None:
    visits = (("2026-10-27 10:00", "completed"), ("2026-11-17 10:00", "no_show"))
    s = series(*visits)
    now = local("2026-12-06 10:00")
    standing = assess(SETTINGS, s, now)

    timeline = series_timeline(SETTINGS, s, standing, now)

    (bar,) = timeline.gaps
    assert bar.title == "overdue 19 days past 17 Nov 2026" and standing.days_overdue(now) == 19
    assert bar.x == timeline.dots[1].x  # the due date is the no-show's day: 27 Oct + 21
    assert round(bar.x + bar.width, 1) == timeline.now_x


def test_a_booked_session_leaves_no_red_bar_even_past_the_window() -> None:
    late = chart(
        ("2026-01-05 10:00", "completed"), ("2026-03-10 10:00", "booked"), now="2026-03-01 10:00"
    )

    assert (len(late.windows), late.gaps) == (1, [])
