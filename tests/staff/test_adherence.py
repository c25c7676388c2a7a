"""The adherence figures, worked out by hand for a small clinic: three series, two
practitioners, two treatments, one nudge that worked and one that did not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reminders.cli import main
from reminders.config import Settings, get_settings
from reminders.staff.adherence import Adherence, Figures, MonthDrift, adherence
from tests.harness import Clinic, local, row

NOW = local("2026-04-01 09:00")

# (session, series, clinic day at 10:00) and what each series is.
SERIES = {
    "A": {"planned_sessions": 3, "practitioner": "Dr. Chen", "treatment": "prolotherapy"},
    "B": {"planned_sessions": 6, "practitioner": "Dr. Roy", "treatment": "prolotherapy"},
    "C": {
        "planned_sessions": 4,
        "practitioner": "Dr. Chen",
        "treatment": "PRP",
        "target_interval_days": 28,
    },
}
DAYS = {
    "A1": "2026-01-05",
    "A2": "2026-01-26",  # 21 days: on target
    "A3": "2026-02-16",  # 21 days, and the series is complete
    "B1": "2026-01-06",
    "B2": "2026-02-17",  # 42 days: drifted, outside the window
    "B3": "2026-03-03",  # missed
    "C1": "2026-01-07",
    "C2": "2026-02-04",  # 28 days, its own target
}


def session(session_id: str, status: str = "booked") -> dict[str, Any]:
    series = session_id[0]
    return row(
        patient_id=f"P{series}",
        series_id=series,
        session_id=session_id,
        session_number=int(session_id[1:]),
        starts_at=f"{DAYS[session_id]}T10:00",
        status=status,
        phone=f"+1403555010{ord(series) - 64}",
        email=f"{series.lower()}@example.com",
        **SERIES[series],
    )


# What the desk records and when; ticks send what is due (the nudges among it).
TIMELINE: list[tuple[str, dict[str, str] | None]] = [
    ("2026-01-02 09:00", {"A1": "booked", "A2": "booked", "A3": "booked", "B1": "booked"}),
    ("2026-01-02 09:01", {"C1": "booked", "C2": "booked"}),
    ("2026-01-07 18:00", {"A1": "completed", "B1": "completed", "C1": "completed"}),
    ("2026-01-13 12:00", None),  # B's first nudge: nothing booked a week after B1
    ("2026-01-20 09:00", {"B2": "booked"}),  # a week after the nudge: it worked
    ("2026-01-20 12:00", None),
    ("2026-01-26 18:00", {"A2": "completed"}),
    ("2026-02-04 18:00", {"C2": "completed"}),
    ("2026-02-11 12:00", None),  # C's nudges; C never books again
    ("2026-02-18 12:00", None),
    ("2026-02-16 18:00", {"A3": "completed"}),
    ("2026-02-17 18:00", {"B2": "completed", "B3": "booked"}),
    ("2026-03-03 18:00", {"B3": "no_show"}),
]


@pytest.fixture
def figures(settings: Settings, tmp_path: Path) -> Adherence:
    clinic = Clinic(settings, tmp_path)
    statuses: dict[str, str] = {}
    for when, changes in sorted(TIMELINE):
        if changes is None:
            clinic.tick(local(when))
            continue
        statuses.update(changes)
        clinic.import_rows([session(s, status) for s, status in statuses.items()], local(when))
    return adherence(settings, NOW)


def test_the_clinic_figures_match_the_hand_count(figures: Adherence) -> None:
    overall = figures.overall

    assert (overall.series_started, overall.series_complete) == (3, 1)
    assert (overall.sessions_completed, overall.no_shows, overall.no_show_rate) == (7, 1, 0.125)
    # Intervals 21, 21, 42 (target 21) and 28 (target 28).
    assert (overall.intervals, overall.median_interval_days) == (4, 24.5)
    assert (overall.median_target_days, overall.median_days_off_target) == (21.0, 0.0)
    assert (overall.in_window, overall.in_window_share) == (3, 0.75)
    # Waits after A1, A2, B1, B2, C1, C2 (A3 ends the series): B1, B2 and C2 ran past.
    assert (overall.waits, overall.drifted, overall.drift_rate) == (6, 3, 0.5)
    assert overall.drift_by_month == (MonthDrift("2026-02", 4, 1), MonthDrift("2026-03", 2, 2))
    assert (overall.nudged, overall.nudge_followed, overall.nudge_follow_rate) == (2, 1, 0.5)


def by_name(groups: tuple[Figures, ...]) -> dict[str, Figures]:
    return {f.name: f for f in groups}


def test_the_figures_split_by_treatment(figures: Adherence) -> None:
    treatments = by_name(figures.by_treatment)

    assert sorted(treatments) == ["PRP", "prolotherapy"]
    prp, prolo = treatments["PRP"], treatments["prolotherapy"]
    assert (prp.series_started, prp.completion_rate, prp.median_target_days) == (1, 0.0, 28.0)
    assert (prolo.series_started, prolo.completion_rate, prolo.intervals) == (2, 0.5, 3)
    assert (prp.waits, prp.drifted, prolo.waits, prolo.drifted) == (2, 1, 4, 2)


def test_the_figures_split_by_practitioner(figures: Adherence) -> None:
    people = by_name(figures.by_practitioner)

    chen, roy = people["Dr. Chen"], people["Dr. Roy"]
    assert (chen.series_started, chen.series_complete, roy.series_started) == (2, 1, 1)
    assert (roy.no_shows, roy.no_show_rate, chen.no_shows) == (1, 0.3333, 0)
    assert (roy.nudged, roy.nudge_followed, chen.nudged, chen.nudge_followed) == (1, 1, 1, 0)
    assert roy.in_window_share == 0.0 and chen.in_window_share == 1.0


def test_the_json_form_carries_every_figure_and_rate(figures: Adherence) -> None:
    record = figures.as_dict()

    assert record["overall"]["completion_rate"] == 0.3333
    assert record["overall"]["drift_by_month"][1] == {
        "month": "2026-03",
        "waits": 2,
        "drifted": 2,
        "rate": 1.0,
    }
    assert {f["name"] for f in record["by_practitioner"]} == {"Dr. Chen", "Dr. Roy"}


def test_an_empty_clinic_has_no_rates_rather_than_zeros(settings: Settings) -> None:
    empty = adherence(settings, NOW)

    assert (empty.overall.completion_rate, empty.overall.drift_rate) == (None, None)
    assert (empty.by_treatment, empty.by_practitioner) == ((), ())


def test_the_cli_prints_the_same_figures_as_json_and_as_a_table(
    figures: Adherence,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("REMINDERS_DATABASE_URL", database_url)
    get_settings.cache_clear()

    assert main(["adherence", "--json", "--now", NOW.isoformat()]) == 0
    assert json.loads(capsys.readouterr().out) == json.loads(json.dumps(figures.as_dict()))
    assert main(["adherence", "--now", NOW.isoformat()]) == 0
    table = capsys.readouterr().out
    assert "by practitioner" in table
    assert [line.split()[:3] for line in table.splitlines() if line.startswith("Dr. Roy")] == [
        ["Dr.", "Roy", "0%"]
    ]
