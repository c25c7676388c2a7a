"""Each series' tally (what the call list narrows by) always equals a count of its sessions."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, select, text

from reminders import store
from reminders.config import Settings
from reminders.models import Series, Session
from reminders.planning import tallies
from tests.harness import Clinic, local, row

STATUSES = ["booked", "confirmed", "completed", "no_show", "cancelled"]
Tally = tuple[int, int, datetime | None, datetime | None]


def counted(settings: Settings) -> dict[str, Tally]:
    """Every series' tally, counted here from its sessions."""
    with store.transaction(settings.database_url) as db:
        sessions = db.execute(
            select(Series.external_id, Session.status, Session.number, Session.starts_at).join(
                Session.series
            )
        ).all()
        names = db.scalars(select(Series.external_id)).all()
    tally: dict[str, Tally] = {}
    for name in names:
        own = [s for s in sessions if s.external_id == name]
        done = [s for s in own if s.status == "completed"]
        missed = [s.starts_at for s in own if s.status == "no_show"]
        tally[name] = (
            len(done),
            max((s.number for s in done), default=0),
            max((s.starts_at for s in done), default=None),
            max(missed, default=None),
        )
    return tally


def kept(settings: Settings) -> dict[str, Tally]:
    """Every series' tally as stored on its row."""
    query = select(
        Series.external_id,
        Series.completed_sessions,
        Series.top_completed_number,
        Series.last_completed_at,
        Series.last_no_show_at,
    )
    with store.transaction(settings.database_url) as db:
        return {name: tuple(rest) for name, *rest in db.execute(query)}  # type: ignore[misc]


def schedule(pick: random.Random) -> list[dict[str, Any]]:
    rows = []
    for n in range(12):
        for number in range(1, pick.randrange(2, 7)):
            rows.append(
                row(
                    patient_id=f"P{n}",
                    phone=f"+1403555{n:04d}",
                    series_id=f"S{n}",
                    session_id=f"S{n}-{number}",
                    session_number=number,
                    starts_at=f"2026-0{number + 1}-{pick.randrange(10, 28)}T14:00:00-06:00",
                    status=pick.choice(STATUSES),
                )
            )
    return rows


def test_every_import_leaves_each_series_tally_equal_to_a_count_of_its_sessions(
    settings: Settings, tmp_path: Path
) -> None:
    clinic, pick = Clinic(settings, tmp_path), random.Random(3)
    rows = schedule(pick)
    clinic.import_rows(rows, local("2026-01-05 09:00"))
    assert kept(settings) == counted(settings)
    assert any(tally[0] for tally in kept(settings).values())  # some sessions were completed
    for n, when in enumerate(("2026-02-05 09:00", "2026-04-05 09:00", "2026-08-05 09:00")):
        for each in pick.sample(rows, 15):  # statuses and times change, sessions are added
            each.update(status=pick.choice(STATUSES))
            each.update(starts_at=each["starts_at"].replace("T14:", f"T{pick.randrange(10, 17)}:"))
        added = {"series_id": f"S{n}", "session_id": f"S{n}-6", "session_number": 6}
        phone = f"+1403555{n:04d}"
        rows.append(row(patient_id=f"P{n}", phone=phone, status="completed", **added))
        clinic.import_rows(rows, local(when))
        assert kept(settings) == counted(settings)


def test_a_store_from_before_the_tallies_gets_them_counted_when_it_migrates(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(store.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0013")
        connection.execute(
            text(
                "INSERT INTO patients (id, external_id, first_name, last_name, phone, email,"
                " language, sms_opt_out, email_opt_out) VALUES"
                " (1, 'P1', 'Avery', 'Nguyen', '', '', 'en', false, false)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO series (id, external_id, patient_id, treatment, planned_sessions)"
                " VALUES (1, 'S1', 1, 'prolotherapy', 6), (2, 'S2', 1, 'prolotherapy', 3)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO sessions (id, external_id, series_id, number, starts_at,"
                " duration_minutes, practitioner, location, status) VALUES"
                " (1, 'a', 1, 1, '2026-03-03 21:00:00', 30, '', '', 'completed'),"
                " (2, 'b', 1, 2, '2026-03-24 21:00:00', 30, '', '', 'completed'),"
                " (3, 'c', 1, 3, '2026-04-14 21:00:00', 30, '', '', 'no_show'),"
                " (4, 'd', 1, 4, '2026-05-05 21:00:00', 30, '', '', 'booked')"
            )
        )
    engine.dispose()
    settings = Settings(database_url=url, outbox_dir=tmp_path / "outbox")
    store.sessions(url)  # migrates to the latest schema
    try:
        assert kept(settings) == {
            "S1": (
                2,
                2,
                datetime(2026, 3, 24, 21, tzinfo=UTC),
                datetime(2026, 4, 14, 21, tzinfo=UTC),
            ),
            "S2": (0, 0, None, None),
        }
        with store.transaction(url) as db:
            tallies.recount(db)
        assert kept(settings) == counted(settings)
    finally:
        store.forget(url)
