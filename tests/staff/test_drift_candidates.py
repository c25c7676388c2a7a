"""The call list's grouped query agrees with `assess`, series by series, on a varied store.

The query only narrows (drift.py loads what it lets through and `assess` decides); these
tests check it never leaves out a drifting series, and lets through few that are not.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from reminders import store
from reminders.config import FollowUps, Settings
from reminders.models import Patient, Series, Session
from reminders.planning import tallies
from reminders.planning.standing import SeriesStatus, assess
from reminders.staff.drift import candidates_query, drifting
from tests.harness import local

STATUSES = ["booked", "confirmed", "completed", "completed", "completed", "no_show", "cancelled"]
# Around both DST changes in Edmonton (8 March, 1 November 2026) and between them.
NOWS = ["2026-03-09 00:00", "2026-03-20 09:30", "2026-07-01 15:00", "2026-11-02 23:59"]


@pytest.fixture
def varied(database_url: str, tmp_path: Path) -> Settings:
    settings = Settings(
        database_url=database_url,
        outbox_dir=tmp_path / "outbox",
        state_dir=tmp_path / "state",
        followups=FollowUps(interval_days={"dextrose": 14, "prp": 42}),
    )
    pick = random.Random(12)
    with store.transaction(database_url) as db:
        for n in range(400):
            patient = Patient(external_id=f"P{n}", first_name="Avery", last_name=f"N{n}")
            planned = pick.choice([1, 3, 4, 6])
            series = Series(
                external_id=f"S{n}",
                patient=patient,
                treatment=pick.choice(["prolotherapy", "dextrose", "prp"]),
                planned_sessions=planned,
                target_interval_days=pick.choice([None, None, None, 0, 10, 30]),
                paused=pick.random() < 0.1,
            )
            start = local("2025-09-01 09:00") + timedelta(hours=pick.randrange(0, 24 * 420))
            for number in range(1, pick.randrange(1, planned + 3)):
                starts_at = start + timedelta(days=pick.randrange(0, 60), minutes=15 * number)
                start = starts_at
                status = pick.choice(STATUSES)
                series.sessions.append(
                    Session(
                        external_id=f"S{n}-{number}",
                        number=pick.choice([number, number, planned + 1]),
                        starts_at=starts_at,
                        duration_minutes=30,
                        practitioner="Dr. Chen",
                        location="Room 2",
                        status=status,
                        status_changed_at=starts_at - timedelta(days=pick.randrange(0, 5)),
                    )
                )
            db.add(series)
        db.flush()
        tallies.recount(db)  # what the importer does for the series it writes
    return settings


def drifting_by_assess(settings: Settings, now: datetime) -> set[str]:
    """The definition itself: every series loaded and assessed."""
    query = select(Series).options(selectinload(Series.sessions))
    with store.transaction(settings.database_url) as db:
        return {
            series.external_id
            for series in db.scalars(query)
            if assess(settings, series, now).status == SeriesStatus.DRIFTING
        }


def let_through(settings: Settings, now: datetime) -> set[str]:
    with store.transaction(settings.database_url) as db:
        ids = list(db.scalars(candidates_query(db, settings, now)))
        return set(db.scalars(select(Series.external_id).where(Series.id.in_(ids))))


@pytest.mark.parametrize("when", NOWS)
def test_the_call_list_is_exactly_the_series_assess_calls_drifting(
    varied: Settings, when: str
) -> None:
    now = local(when)
    expected = drifting_by_assess(varied, now)
    assert expected  # the store is varied enough to have some on the list at every moment
    assert {r["series_id"] for r in drifting(varied, now)} == expected


@pytest.mark.parametrize("when", NOWS)
def test_the_query_lets_through_every_drifting_series_and_few_others(
    varied: Settings, when: str
) -> None:
    now = local(when)
    expected, through = drifting_by_assess(varied, now), let_through(varied, now)
    assert expected <= through
    # Only those within the clock slack of their call date get through without drifting.
    assert len(through - expected) <= max(3, len(expected) // 5)
