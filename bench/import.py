"""Import: a clinic group's nightly export (100,000 rows: 20,000 patients, 5 sessions each).

    .venv/bin/python bench/import.py [--patients 20000] [--databases sqlite,postgres]

For each store, each import in a child process of its own (its peak RSS from the kernel's
rusage for that child, `os.wait4`):

1. first import: validate, write and plan the whole file (about 200,000 planned reminders);
2. the same file again: must write nothing (counted: summary, messages, events, and on
   PostgreSQL the rows the server saw inserted, updated or deleted);
3. the file with one session moved by an hour: must re-plan that session alone.

Baseline in the same run: the same rows loaded by the driver's bulk path into one bare
table (PostgreSQL `COPY`, SQLite `executemany`), reading the same CSV. The ratio is the
cost of validation, the store's shape and planning. The machine is noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

COLUMNS = (
    "patient_id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "language",
    "sms_opt_out",
    "email_opt_out",
    "series_id",
    "treatment",
    "planned_sessions",
    "session_id",
    "session_number",
    "starts_at",
    "duration_minutes",
    "practitioner",
    "location",
    "status",
)
NOW = datetime(2026, 12, 1, 16, tzinfo=UTC)
FIRST_SESSION = datetime(2027, 1, 4, 8)  # clinic wall-clock time
MOVED = "S7-3"  # the session the third import moves


def write_schedule(path: Path, patients: int, sessions: int, moved: str | None = None) -> None:
    """Every patient on a 3-weekly series; `moved` (a session id) an hour later."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(COLUMNS)
        for p in range(patients):
            first = FIRST_SESSION + timedelta(days=p % 28, hours=p % 9)
            for n in range(1, sessions + 1):
                session_id = f"S{p}-{n}"
                starts = first + timedelta(weeks=3 * (n - 1))
                if session_id == moved:
                    starts += timedelta(hours=1)
                out.writerow(
                    [
                        f"P{p}",
                        "Avery",
                        f"Nguyen{p % 997}",
                        f"+1403{2000000 + p:07d}",
                        f"patient{p}@example.com",
                        "fr" if p % 5 == 0 else "en",
                        "no",
                        "no",
                        f"SER{p}",
                        "prolotherapy",
                        6,
                        session_id,
                        n,
                        starts.strftime("%Y-%m-%dT%H:%M"),
                        30,
                        "Dr. Chen",
                        "Room 2",
                        "booked",
                    ]
                )


# The child: one import, its summary and time on stdout.


def child(url: str, path: str, now: str) -> None:
    from reminders.config import Settings
    from reminders.intake.importer import import_file

    settings = Settings(database_url=url)
    started = time.perf_counter()
    summary = import_file(settings, Path(path), datetime.fromisoformat(now))
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "summary": summary.as_dict()}))


def run_child(url: str, path: Path, now: datetime) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", url, str(path), now.isoformat()]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE)
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"import failed ({process.returncode})")
    result: dict[str, Any] = json.loads(output)
    result["peak_mb"] = usage.ru_maxrss / 1024
    # CPU as well as wall time: on a loaded machine the wall clock mostly measures the others.
    result["cpu"] = usage.ru_utime + usage.ru_stime
    return result


# The parent: the baseline, the three imports, and what each wrote.


def baseline(url: str, path: Path) -> float:
    from sqlalchemy import text

    from reminders.store import make_engine

    engine = make_engine(url)
    columns = ", ".join(f"{c} text" for c in COLUMNS)
    with engine.begin() as connection:
        connection.execute(text(f"CREATE TABLE bare ({columns})"))
    started = time.perf_counter()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            next(reader)
            if url.startswith("postgres"):
                with cursor.copy(f"COPY bare ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                    for record in reader:
                        copy.write_row(record)
            else:
                marks = ", ".join("?" * len(COLUMNS))
                cursor.execute("BEGIN")
                cursor.executemany(f"INSERT INTO bare VALUES ({marks})", reader)  # type: ignore[arg-type]
        raw.commit()
    finally:
        raw.close()
    seconds = time.perf_counter() - started
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE bare"))
    engine.dispose()
    return seconds


def footprint(url: str) -> dict[str, int]:
    """Counts of what an import writes; on PostgreSQL also the rows the server changed."""
    from sqlalchemy import func, select, text

    from reminders.models import Message, MessageEvent, Session
    from reminders.store import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        counts = {
            "messages": connection.scalar(select(func.count()).select_from(Message)) or 0,
            "events": connection.scalar(select(func.count()).select_from(MessageEvent)) or 0,
            "sessions": connection.scalar(select(func.count()).select_from(Session)) or 0,
        }
        if url.startswith("postgres"):
            row = connection.execute(
                text(
                    "SELECT coalesce(sum(n_tup_ins), 0), coalesce(sum(n_tup_upd), 0),"
                    " coalesce(sum(n_tup_del), 0) FROM pg_stat_user_tables"
                    " WHERE schemaname = current_schema()"
                )
            ).one()
            counts.update(inserted=int(row[0]), updated=int(row[1]), deleted=int(row[2]))
    engine.dispose()
    return counts


def touched_sessions(url: str, at: datetime) -> list[str]:
    from sqlalchemy import select

    from reminders.models import Message, MessageEvent, Session
    from reminders.store import make_engine

    engine = make_engine(url)
    with engine.connect() as connection:
        found = connection.scalars(
            select(Session.external_id)
            .join(Message)
            .join(MessageEvent)
            .where(MessageEvent.at == at)
            .distinct()
        ).all()
    engine.dispose()
    return list(found)


def difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {key: after[key] - before.get(key, 0) for key in after}


def bench(name: str, url: str, files: dict[str, Path], rows: int) -> None:
    from reminders import store

    store.sessions(url)  # migrate before the clock starts, as a deployed store is
    store.forget(url)
    base = baseline(url, files["first"])
    time.sleep(1)  # PostgreSQL's statistics are flushed at most once a second
    start = footprint(url)
    results = {}
    for label, file, now in (
        ("first import", files["first"], NOW),
        ("same file again", files["first"], NOW + timedelta(hours=1)),
        ("one session moved", files["moved"], NOW + timedelta(hours=2)),
    ):
        result = run_child(url, file, now)
        time.sleep(1)
        after = footprint(url)
        result["wrote"] = difference(after, start)
        start = after
        results[label] = result
    moved_touched = touched_sessions(url, NOW + timedelta(hours=2))

    print(f"\n{name}: {rows} rows ({url.split('?')[0]})")
    print(f"{'what':40} {'seconds':>8} {'rows/s':>8} {'peak MB':>8} {'CPU s':>8}")
    print(f"{'baseline: bulk load into a bare table':40} {base:8.1f} {rows / base:8.0f}")
    for label, result in results.items():
        seconds, cpu, peak = result["seconds"], result["cpu"], result["peak_mb"]
        print(f"{label:40} {seconds:8.1f} {rows / seconds:8.0f} {peak:8.0f} {cpu:8.1f}")
    first = results["first import"]["seconds"]
    again = results["same file again"]["seconds"]
    print(f"ratio first import / baseline: {first / base:.1f}")
    print(f"ratio same file again / baseline: {again / base:.1f}")
    for label, result in results.items():
        summary = result["summary"]
        print(
            f"  {label}: created {summary['created']}, updated {summary['updated']}, "
            f"{summary['messages_changed']} planned messages changed; wrote {result['wrote']}"
        )
    print(f"  sessions with events from the one-row change: {moved_touched}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--child", nargs=3, metavar=("URL", "FILE", "NOW"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from bench.support import fresh_database

    with tempfile.TemporaryDirectory(prefix="bench-import-") as folder:
        files = {"first": Path(folder) / "schedule.csv", "moved": Path(folder) / "moved.csv"}
        write_schedule(files["first"], args.patients, args.sessions)
        write_schedule(files["moved"], args.patients, args.sessions, moved=MOVED)
        rows = args.patients * args.sessions
        print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
        for name in args.databases.split(","):
            if name == "sqlite":
                bench("SQLite", f"sqlite:///{folder}/reminders.db", files, rows)
            else:
                with fresh_database(args.postgres) as url:
                    bench("PostgreSQL", url, files, rows)


if __name__ == "__main__":
    main()
