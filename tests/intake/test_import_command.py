"""`reminders import` as a script and as staff use it: JSON, capped problem lists, progress."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from reminders.cli import main
from reminders.config import get_settings
from tests.harness import row, write_csv

Run = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Run:
    monkeypatch.setenv("REMINDERS_DATABASE_URL", database_url)
    monkeypatch.setenv("REMINDERS_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("REMINDERS_STATE_DIR", str(tmp_path / "state"))

    def run(*args: str) -> tuple[int, str, str]:
        get_settings.cache_clear()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def bad_rows(count: int) -> list[dict[str, object]]:
    return [
        row(patient_id=f"P{n}", series_id=f"S{n}", session_id=f"S{n}-1", phone="12")
        for n in range(count)
    ]


def test_json_prints_the_summary_for_scripts(run: Run, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "schedule.csv", [row()])

    code, out, _ = run("import", str(path), "--json", "--now", "2026-03-01T09:00")

    assert code == 0
    summary = json.loads(out)
    assert summary["ok"] is True
    assert summary["created"] == {"patients": 1, "series": 1, "sessions": 1}
    assert summary["messages_changed"] == 2
    assert summary["rows"] == 1


def test_a_long_problem_list_shows_the_first_fifty_and_counts_the_rest(
    run: Run, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "bad.csv", bad_rows(80))

    code, _, err = run("import", str(path))

    lines = err.strip().splitlines()
    assert code == 1
    assert len([line for line in lines if line.startswith("row ")]) == 50
    assert lines[-2] == "... and 30 more (--all-problems shows every one)"
    assert lines[-1] == "import failed: 80 problems; nothing was written"


def test_all_problems_lists_every_one(run: Run, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", bad_rows(80))

    _, _, err = run("import", str(path), "--all-problems")

    assert len([line for line in err.splitlines() if line.startswith("row ")]) == 80


def test_json_failures_count_every_problem(run: Run, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "bad.csv", bad_rows(60))

    code, out, _ = run("import", str(path), "--json")

    failure = json.loads(out)
    assert code == 1
    assert (failure["ok"], failure["problem_count"], failure["not_shown"]) == (False, 60, 10)
    assert failure["problems"][0] == "row 1: phone: '12' is not a valid phone number"
