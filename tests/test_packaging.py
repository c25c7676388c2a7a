"""The wheel is the service: built from the sources, installed into an empty venv outside the
checkout, it renders and sends every kind of message with nothing of the checkout around it."""

from __future__ import annotations

import collections
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from reminders.kinds import KINDS

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ["pyproject.toml", "setup.py", "README.md", "LICENSE", "celeryconfig.py", "worker.py"]
pytestmark = pytest.mark.packaging

# One clinic day (2030-03-04, noon in Edmonton) that calls for every kind of message.
IMPORTED_AT = "2030-03-04T12:00:00"
TICKS = [IMPORTED_AT, "2030-03-05T10:30:00", "2030-03-11T10:30:00"]
SCHEDULE = [
    # patient, series, planned, session, number, starts (clinic time), status
    ("P1", "S1", 3, "S1-1", 1, "2030-03-04T11:00:00", "completed"),  # aftercare
    ("P1", "S1", 3, "S1-2", 2, "2030-03-05T11:00:00", "booked"),  # session reminders
    ("P2", "S2", 2, "S2-1", 1, "2030-02-10T11:00:00", "completed"),
    ("P2", "S2", 2, "S2-2", 2, "2030-03-04T11:00:00", "completed"),  # series complete
    ("P3", "S3", 3, "S3-1", 1, "2030-03-04T09:00:00", "no_show"),  # missed session
    ("P4", "S4", 3, "S4-1", 1, "2030-02-20T11:00:00", "completed"),  # nothing booked: nudge
]


def run(command: list[str | Path], cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def outside_env() -> dict[str, str]:
    """The machine's environment without this checkout or a clinic's settings in it."""
    drop = ("REMINDERS_", "PYTHONPATH", "VIRTUAL_ENV", "PYTEST_")
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The `reminders` command of a fresh venv holding only the wheel and its dependencies."""
    base = tmp_path_factory.mktemp("packaging")
    source = base / "source"
    source.mkdir()
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("reminders", "templates"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    env = outside_env()
    # pip's own cache (its default folder) keeps the second run of this test quick.
    run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-w", base / "dist"], source, env)
    (wheel,) = (base / "dist").glob("*.whl")
    assert_templates_inside(wheel)
    run([sys.executable, "-m", "venv", base / "venv"], base, env)
    run([base / "venv/bin/python", "-m", "pip", "install", "--quiet", wheel], base, env)
    return base / "venv/bin/reminders"


def assert_templates_inside(wheel: Path) -> None:
    """The message templates under reminders/templates/, and every file of the package."""
    shipped = [f"reminders/{p.relative_to(ROOT).as_posix()}" for p in files(ROOT / "templates")]
    package = [p.relative_to(ROOT).as_posix() for p in files(ROOT / "reminders")]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    missing = [name for name in shipped + package if name not in names]
    assert not missing, f"the wheel lacks {missing}"


def files(folder: Path) -> list[Path]:
    return [
        path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and not path.name.startswith(".")
    ]


def write_schedule(path: Path) -> Path:
    columns = [
        "patient_id",
        "first_name",
        "last_name",
        "phone",
        "email",
        "series_id",
        "treatment",
        "planned_sessions",
        "session_id",
        "session_number",
        "starts_at",
        "duration_minutes",
        "status",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        for patient, series, planned, session, number, starts, status in SCHEDULE:
            phone, email = f"+1403555010{patient[1]}", f"{patient.lower()}@example.com"
            person = [patient, "Avery", "Nguyen", phone, email]
            visit = [session, number, starts, 30, status]
            writer.writerow([*person, series, "prolotherapy", planned, *visit])
    return path


def sent(reminders: Path, clinic: Path, env: dict[str, str]) -> list[dict[str, object]]:
    records = json.loads(run([reminders, "messages", "--json"], clinic, env))
    return [record for record in records if record["status"] == "sent"]


def test_the_installed_wheel_runs_the_demo_from_an_empty_folder(
    installed: Path, tmp_path: Path
) -> None:
    env = outside_env()
    run([installed, "demo"], tmp_path, env)
    run([installed, "tick"], tmp_path, env)

    written = [path.name for path in (tmp_path / "outbox").iterdir()]
    records = sent(installed, tmp_path, env)
    assert len(records) >= 2
    # Each sent message has its file, named with the message's id.
    assert all(any(f"-{r['id']:06d}-" in name for name in written) for r in records), written


def test_the_installed_wheel_renders_every_kind_from_its_own_templates(
    installed: Path, tmp_path: Path
) -> None:
    env = outside_env() | {
        "REMINDERS_QUIET_HOURS__START": "00:00",
        "REMINDERS_QUIET_HOURS__END": "00:00",
    }
    schedule = write_schedule(tmp_path / "schedule.csv")
    run([installed, "import", schedule, "--now", IMPORTED_AT], tmp_path, env)
    for moment in TICKS:
        print(run([installed, "tick", "--now", moment], tmp_path, env).strip())

    records = sent(installed, tmp_path, env)
    kinds = collections.Counter(str(record["kind"]) for record in records)
    print(f"sent from the installed wheel, by kind: {dict(sorted(kinds.items()))}")
    assert set(kinds) == set(KINDS)
    outbox = sorted((tmp_path / "outbox").iterdir())
    assert len(outbox) == len(records)
    bodies = [file.read_text(encoding="utf-8") for file in outbox]
    assert all("Calgary Integrative Medicine" in body for body in bodies)
