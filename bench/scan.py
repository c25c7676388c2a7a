"""Scan: one dispatch claim with 1,000 due among 10,000 and among 1,000,000 sessions.

    .venv/bin/python bench/scan.py [--big 1000000] [--databases postgres,sqlite] [--rss]
        [--history] [--drift-only] [--keep] [--schema bench_scan]

Each session has 3 messages (an email and two SMS reminders); 1,000 are due now, the rest
over the coming year; one SMS in 300 went out two days ago, and a tenth of those have no
delivery report (the stale-SMS list). The claim is `claim_due` itself,
run in a transaction rolled back each time (median of several), its SQL caught as it runs
and EXPLAINed. Baseline: the same claim on the small store; the ratio big/small must stay
at most 1.5. On PostgreSQL the queries the console and the reconciler run every minute are
timed on the big store too, each with its plan. `--rss`: the worker and beat (`reminders
run`) for a minute on the big store, their peak RSS.

`--history`: the drift list (the call list) also on PostgreSQL stores of `--small` and
`--big` sessions with history (at 1M: 800,000 completed, half the series complete, 2 in
1,000 drifting after a no-show or overdue with nothing booked after), the time of its
candidates query alone and that query's plan beside it. On the bench store nothing is
completed yet, so only the store with history shows what the list costs as it grows.
`--drift-only`: the drift list alone (PostgreSQL), on each store, with its plan.

The big store is seeded once (PostgreSQL `generate_series` in schema `bench_scan_<n>`, or
`<--schema>_<n>`, `<--schema>_history_<n>`; SQLite `executemany` in big transactions) and
dropped at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reminders import store
from reminders.config import Settings
from reminders.feedback import reconcile
from reminders.planning import tallies
from reminders.sending.claims import claim_due
from reminders.staff import drift, worklist
from reminders.web import health
from reminders.web.pages.attention import GROUPS, SHOWN

NOW = datetime(2026, 12, 1, 16, tzinfo=UTC)
DUE = 1000
PER_SESSION = 3
SESSIONS_PER_SERIES = 5
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _naive(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")


# Seeding.

# Nine in ten of the SMS that went out have their delivery report; the rest are stale.
DELIVERED = (
    "UPDATE messages SET provider_status = 'delivered', provider_status_at = sent_at"
    " WHERE status = 'sent' AND session_id % 1000 <> 0"
)


def _patients_sql(patients: int) -> str:
    """One patient per series, both seedings."""
    return f"""INSERT INTO patients (id, external_id, first_name, last_name, phone, email,
        language, sms_opt_out, email_opt_out, followup_email_opt_out)
        SELECT g, 'P' || g, 'Avery', 'Nguyen', '+1403' || lpad(g::text, 7, '0'),
               'p' || g || '@example.com', 'en', false, false, false
        FROM generate_series(1, {patients}) g"""


def seed_postgres(engine: Engine, sessions: int) -> None:
    patients = sessions // SESSIONS_PER_SERIES
    now = _naive(NOW)
    statements = [
        _patients_sql(patients),
        f"""INSERT INTO series (id, external_id, patient_id, treatment, planned_sessions, paused)
            SELECT g, 'SER' || g, g, 'prolotherapy', 6, false
            FROM generate_series(1, {patients}) g""",
        f"""INSERT INTO sessions (id, external_id, series_id, number, starts_at, duration_minutes,
            practitioner, location, status, status_changed_at)
            SELECT g, 'S' || g, (g - 1) / {SESSIONS_PER_SERIES} + 1,
                   (g - 1) % {SESSIONS_PER_SERIES} + 1,
                   timestamp '{now}' + interval '2 days' + (g % 525600) * interval '1 minute',
                   30, 'Dr. Chen', 'Room 2', 'booked', timestamp '{now}'
            FROM generate_series(1, {sessions}) g""",
        f"""INSERT INTO messages (id, session_id, kind, rule, channel, status, reason, planned_for,
            due_at, expires_at, before_session, attempts, triggered_by, created_at, sent_at)
            SELECT m, s.id, 'session_reminder', r.rule, r.channel,
                   CASE WHEN r.k = 2 AND s.id % 100 = 0 THEN 'sent' ELSE 'planned' END, '',
                   s.starts_at,
                   CASE WHEN m <= {DUE} THEN timestamp '{now}' - interval '1 minute'
                        ELSE s.starts_at - r.lead END,
                   s.starts_at, true, 0, 'planner', timestamp '{now}',
                   CASE WHEN r.k = 2 AND s.id % 100 = 0
                        THEN timestamp '{now}' - interval '2 days' END
            FROM sessions s
            CROSS JOIN (VALUES (0, 'email-72h', 'email', interval '72 hours'),
                               (1, 'sms-24h', 'sms', interval '24 hours'),
                               (2, 'sms-2h', 'sms', interval '2 hours'))
                 AS r(k, rule, channel, lead)
            CROSS JOIN LATERAL (SELECT (s.id - 1) * {PER_SESSION} + r.k + 1 AS m) AS ids""",
    ]
    _run_seed(engine, statements)


def _run_seed(engine: Engine, statements: list[str]) -> None:
    with engine.begin() as connection:
        for statement in statements:
            connection.execute(text(statement))
        for table in ("patients", "series", "sessions", "messages"):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                    f" (SELECT max(id) FROM {table}))"
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))


# The store with history: 5 sessions a series. Even series are complete (5 of 5 completed
# over the past year); odd ones are in progress (3 completed, the last 4 to 7 days ago, two
# booked ahead). Two in 1,000 series drift: one kind missed its 4th session two days ago
# and cancelled the 5th, the other completed its 3rd 78 days ago and cancelled the rest.
# One in 1,000 missed a session and booked again, one in 1,000 is paused with nothing
# booked: neither is drifting. 800,000 completed sessions at 1M.
HISTORY_KIND = """CASE WHEN {s} % 2 = 0 THEN 'complete' WHEN {s} % 1000 = 1 THEN 'missed'
    WHEN {s} % 1000 = 501 THEN 'overdue' WHEN {s} % 1000 = 3 THEN 'rebooked'
    WHEN {s} % 1000 = 7 THEN 'paused' ELSE 'ongoing' END"""


def seed_postgres_history(engine: Engine, sessions: int) -> None:
    patients = sessions // SESSIONS_PER_SERIES
    now = _naive(NOW)
    series_kind = HISTORY_KIND.format(s="g")
    session_kind = HISTORY_KIND.format(s="((g - 1) / 5 + 1)")
    statements = [
        _patients_sql(patients),
        f"""INSERT INTO series (id, external_id, patient_id, treatment, planned_sessions, paused)
            SELECT g, 'SER' || g, g, 'prolotherapy',
                   CASE WHEN {series_kind} = 'complete' THEN 5 ELSE 6 END,
                   {series_kind} = 'paused'
            FROM generate_series(1, {patients}) g""",
        f"""INSERT INTO sessions (id, external_id, series_id, number, starts_at, duration_minutes,
            practitioner, location, status, status_changed_at)
            SELECT g, 'S' || g, x.s, x.n,
                   CASE WHEN x.kind = 'complete'
                            THEN timestamp '{now}' - interval '400 days'
                                 + (x.s % 300 + x.n * 14) * interval '1 day'
                        WHEN x.kind IN ('overdue', 'paused')
                            THEN timestamp '{now}' - interval '120 days'
                                 + x.n * interval '14 days'
                                 + CASE WHEN x.n > 3 THEN interval '140 days'
                                        ELSE interval '0 days' END
                        WHEN x.kind IN ('missed', 'rebooked') AND x.n = 4
                            THEN timestamp '{now}' - interval '2 days'
                        ELSE timestamp '{now}' + ((x.n - 3) * 14 - 7) * interval '1 day'
                             + (x.s % 4320) * interval '1 minute'
                   END,
                   30, 'Dr. Chen', 'Room 2',
                   CASE WHEN x.kind = 'complete' OR x.n <= 3 THEN 'completed'
                        WHEN x.kind IN ('missed', 'rebooked') AND x.n = 4 THEN 'no_show'
                        WHEN x.kind IN ('missed', 'overdue', 'paused') THEN 'cancelled'
                        ELSE 'booked' END,
                   timestamp '{now}' - interval '1 day'
            FROM generate_series(1, {sessions}) g
            CROSS JOIN LATERAL (SELECT (g - 1) / 5 + 1 AS s, (g - 1) % 5 + 1 AS n,
                                       {session_kind} AS kind) AS x""",
        # One reminder a session (sent for the past ones), and a follow-up after each
        # completed or missed session of the series that drift: what the call list shows.
        f"""INSERT INTO messages (id, session_id, kind, rule, channel, status, reason, planned_for,
            due_at, expires_at, before_session, attempts, triggered_by, created_at, sent_at)
            SELECT s.id, s.id, 'session_reminder', 'email-72h', 'email',
                   CASE WHEN s.starts_at < timestamp '{now}' THEN 'sent' ELSE 'planned' END, '',
                   s.starts_at, s.starts_at - interval '72 hours', s.starts_at, true, 0,
                   'planner', timestamp '{now}' - interval '400 days',
                   CASE WHEN s.starts_at < timestamp '{now}'
                        THEN s.starts_at - interval '72 hours' END
            FROM sessions s""",
        f"""INSERT INTO messages (id, session_id, kind, rule, channel, status, reason, planned_for,
            due_at, expires_at, before_session, attempts, triggered_by, created_at, sent_at)
            SELECT {sessions} + s.id, s.id,
                   CASE WHEN s.status = 'no_show' THEN 'missed_session' ELSE 'aftercare' END,
                   NULL, 'email', 'sent', '', NULL, s.starts_at + interval '1 day', NULL,
                   false, 1, 'planner', s.starts_at, s.starts_at + interval '1 day'
            FROM sessions s JOIN series r ON r.id = s.series_id
            WHERE s.status IN ('completed', 'no_show') AND r.id % 500 = 1""",
    ]
    _run_seed(engine, statements)


def seed_sqlite(engine: Engine, sessions: int) -> None:
    patients = sessions // SESSIONS_PER_SERIES
    now = _naive(NOW)
    raw = engine.raw_connection()
    cursor: Any = raw.cursor()  # the sqlite3 cursor takes any iterable of rows
    cursor.execute("BEGIN")  # one transaction: the driver autocommits each row otherwise
    cursor.executemany(
        "INSERT INTO patients (id, external_id, first_name, last_name, phone, email, language,"
        " sms_opt_out, email_opt_out, followup_email_opt_out) VALUES (?,?,?,?,?,?,?,0,0,0)",
        (
            (g, f"P{g}", "Avery", "Nguyen", f"+1403{g:07d}", f"p{g}@example.com", "en")
            for g in range(1, patients + 1)
        ),
    )
    cursor.executemany(
        "INSERT INTO series (id, external_id, patient_id, treatment, planned_sessions, paused)"
        " VALUES (?,?,?,'prolotherapy',6,0)",
        ((g, f"SER{g}", g) for g in range(1, patients + 1)),
    )
    starts = {g: NOW + timedelta(days=2, minutes=g % 525600) for g in range(1, sessions + 1)}
    cursor.executemany(
        "INSERT INTO sessions (id, external_id, series_id, number, starts_at, duration_minutes,"
        " practitioner, location, status, status_changed_at)"
        " VALUES (?,?,?,?,?,30,'Dr. Chen','Room 2','booked',?)",
        (
            (
                g,
                f"S{g}",
                (g - 1) // SESSIONS_PER_SERIES + 1,
                (g - 1) % SESSIONS_PER_SERIES + 1,
                _naive(starts[g]),
                now,
            )
            for g in range(1, sessions + 1)
        ),
    )
    rules = (("email-72h", "email", 72), ("sms-24h", "sms", 24), ("sms-2h", "sms", 2))

    def messages() -> Iterator[tuple[Any, ...]]:
        for s in range(1, sessions + 1):
            at = starts[s]
            for k, (rule, channel, hours) in enumerate(rules):
                m = (s - 1) * PER_SESSION + k + 1
                sent = k == 2 and s % 100 == 0
                due = NOW - timedelta(minutes=1) if m <= DUE else at - timedelta(hours=hours)
                yield (
                    m,
                    s,
                    rule,
                    channel,
                    "sent" if sent else "planned",
                    _naive(at),
                    _naive(due),
                    _naive(at),
                    now,
                    _naive(NOW - timedelta(days=2)) if sent else None,
                )

    cursor.executemany(
        "INSERT INTO messages (id, session_id, kind, rule, channel, status, reason, planned_for,"
        " due_at, expires_at, before_session, attempts, triggered_by, created_at, sent_at)"
        " VALUES (?,?,'session_reminder',?,?,?,'',?,?,?,1,0,'planner',?,?)",
        messages(),
    )
    raw.commit()
    cursor.execute("ANALYZE")
    raw.close()


@contextmanager
def big_store(
    kind: str, sessions: int, keep: bool, folder: Path, schema: str = "bench_scan"
) -> Iterator[str]:
    """The store of `sessions` (seeded unless kept from a run before); `schema` names the
    PostgreSQL one (the history store's name ends in `_history`)."""
    if kind == "sqlite":
        path = folder / f"scan-{sessions}.db"
        url = f"sqlite:///{path}"
        if not path.exists():
            _seed(url, sessions, seed_sqlite)
        try:
            yield url
        finally:
            store.forget(url)
            if not keep:
                for leftover in folder.glob(f"{path.name}*"):
                    leftover.unlink()
        return
    history = schema.endswith("_history")
    schema = f"{schema}_{sessions}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        exists = connection.scalar(
            text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}
        )
        if not exists:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    try:
        if not exists:
            _seed(url, sessions, seed_postgres_history if history else seed_postgres)
        else:
            store.sessions(url)  # migrations added since the seeding (an index) apply here
        yield url
    finally:
        store.forget(url)
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _seed(url: str, sessions: int, seed: Callable[[Engine, int], None]) -> None:
    store.sessions(url)  # migrate
    engine = store.make_engine(url)
    started = time.perf_counter()
    seed(engine, sessions)
    with engine.begin() as connection:
        connection.execute(text(DELIVERED))
    with store.transaction(url) as db:
        tallies.recount(db)  # what the importer keeps for the series it writes
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("ANALYZE series"))
    engine.dispose()
    print(f"  seeded {sessions} sessions in {time.perf_counter() - started:.0f} s")


# Measuring.


class Caught:
    """The SQL a function runs, caught at the cursor, to EXPLAIN it afterwards."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[tuple[str, Any]] = []
        self.engine = engine

    def __enter__(self) -> Caught:
        event.listen(self.engine, "before_cursor_execute", self._catch)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._catch)

    def _catch(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.statements.append((statement, params))


def engine_of(url: str) -> Engine:
    bind = store.sessions(url).kw["bind"]
    assert isinstance(bind, Engine)
    return bind


def explain(url: str, statement: str, params: Any) -> list[str]:
    engine = engine_of(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if url.startswith("sqlite"):
            cursor.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            return [str(row[-1]) for row in cursor.fetchall()]
        cursor.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {statement}", params)
        return [str(row[0]) for row in cursor.fetchall()]
    finally:
        raw.rollback()
        raw.close()


def time_claim(url: str, repeats: int) -> tuple[float, int, list[str]]:
    """Median seconds of one claim of the due rows (rolled back each time), and its plan."""
    factory = store.sessions(url)
    times, claimed = [], 0
    for _ in range(repeats):
        db = factory()
        started = time.perf_counter()
        claimed = len(claim_due(db, NOW, limit=DUE))
        times.append(time.perf_counter() - started)
        db.rollback()
        db.close()
    db = factory()
    with Caught(engine_of(url)) as caught:
        claim_due(db, NOW, limit=DUE)
    db.rollback()
    db.close()
    statement, params = caught.statements[0]
    return statistics.median(times), claimed, explain(url, statement, params)


def minute_queries(url: str) -> dict[str, Callable[[], object]]:
    settings = Settings(database_url=url, public_url="https://clinic.example")

    def metrics() -> object:
        with store.transaction(url) as db:
            return [
                health._message_counts(db, url),
                health._due_unsent(db, NOW),
                health._unknown_outcomes(db),
                health._permanent_failures(db, NOW),
                health._latency(db, NOW),
            ]

    def recount() -> object:
        health._counted.clear()
        return metrics()

    return {
        # What the page asks: each group's first SHOWN open items and every group's count.
        "needs attention (every group)": lambda: worklist.needs_attention(
            settings, NOW, dict.fromkeys(GROUPS, SHOWN)
        ),
        "reconciler: unknown SMS": lambda: reconcile._unknown_sms(settings, NOW),
        "metrics (/metrics)": metrics,
        # reminders_messages is counted at most every health.COUNTS_EVERY: what that costs.
        "metrics: the recount of reminders_messages": recount,
    }


def time_queries(url: str, repeats: int) -> None:
    print(f"  {'query every minute':44} {'ms':>8}")
    for name, run in minute_queries(url).items():
        run()  # warm
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        with Caught(engine_of(url)) as caught:
            run()
        print(f"  {name:44} {1000 * statistics.median(times):8.1f}")
        if url.startswith("postgres"):
            for statement, params in caught.statements:
                plan = explain(url, statement, params)
                first = statement.split("FROM")[0].strip().replace("\n", " ")[:70]
                print(f"      {first} ...")
                for line in plan[:6]:
                    print(f"        {line}")


def time_drift(url: str, seconds: float) -> str:
    """The drift list, in a child so a slow one can be stopped (it once loaded every series);
    the median of five calls after a first one (which also connects), with what is loaded
    by then frozen out of the collector's sight, as `reminders web` does."""
    code = (  # noqa: UP031
        "import gc,sys,time,statistics; sys.path.insert(0, %r);"
        "from bench.scan import NOW; from reminders.config import Settings;"
        "from reminders.staff.drift import drifting; settings=Settings(database_url=%r);"
        "drifting(settings, NOW); gc.freeze(); times=[]\n"
        "for _ in range(5): s=time.perf_counter(); n=len(drifting(settings, NOW));"
        " times.append(time.perf_counter()-s)\n"
        "print(n, statistics.median(times))"
    ) % (str(Path(__file__).resolve().parent.parent), url)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        out, _ = process.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return f"not done after {seconds:.0f} s (stopped)"
    count, took = out.split()
    return f"{float(took) * 1000:.0f} ms ({count} drifting)"


def drift_candidates(url: str) -> tuple[float, int, list[str]]:
    """The drift list's candidates query alone: median seconds of 5 after a first call, the
    series it let through, and its plan (EXPLAIN ANALYZE)."""
    settings = Settings(database_url=url)
    times, through = [], 0
    for _ in range(6):
        started = time.perf_counter()
        with store.transaction(url) as db:
            through = len(db.scalars(drift.candidates_query(db, settings, NOW)).all())
        times.append(time.perf_counter() - started)
    with Caught(engine_of(url)) as caught, store.transaction(url) as db:
        db.scalars(drift.candidates_query(db, settings, NOW)).all()
    statement, params = caught.statements[-1]  # after the intervals it reads first
    return statistics.median(times[1:]), through, explain(url, statement, params)


def service_rss(url: str, seconds: float, folder: Path) -> dict[str, float]:
    """`reminders run` (worker and beat) on the store for a while: peak RSS per process, MB."""
    env = {
        **os.environ,
        "REMINDERS_DATABASE_URL": url,
        "REMINDERS_BROKER_URL": "redis://127.0.0.1:6379/7",
        "REMINDERS_OUTBOX_DIR": str(folder / "outbox"),
        "REMINDERS_STATE_DIR": str(folder / "state"),
        "REMINDERS_QUIET_HOURS__START": "00:00",
        "REMINDERS_QUIET_HOURS__END": "00:00",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "reminders.cli", "run", "--loglevel", "WARNING"],
        env=env,
        stdout=(folder / "service.log").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    peaks: dict[int, tuple[str, float]] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        for pid in _group(process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            hwm = next(
                int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM")
            )
            peaks[pid] = (cmd[:60], hwm / 1024)
        time.sleep(1)
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=60)
    return {f"{pid} {cmd}": mb for pid, (cmd, mb) in peaks.items()}


def _group(leader: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if os.getpgid(int(entry.name)) == leader:
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--databases", default="postgres,sqlite")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the seeded stores")
    parser.add_argument("--rss", action="store_true", help="worker and beat peak RSS (big store)")
    parser.add_argument(
        "--history",
        action="store_true",
        help="PostgreSQL: the drift list on the store with history",
    )
    parser.add_argument(
        "--drift-only", action="store_true", help="only the drift list (PostgreSQL), with its plan"
    )
    parser.add_argument("--schema", default="bench_scan", help="PostgreSQL schema prefix")
    parser.add_argument("--folder", default=tempfile.gettempdir() + "/bench-scan")
    args = parser.parse_args()
    folder = Path(args.folder)
    folder.mkdir(parents=True, exist_ok=True)
    print(f"machine: {os.cpu_count()} cores; Python {sys.version.split()[0]}")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for kind in args.databases.split(","):
        if args.drift_only and kind != "postgres":
            continue
        print(f"\n{kind}")
        results = {}
        for sessions in (args.small, args.big):
            with big_store(kind, sessions, args.keep, folder, args.schema) as url:
                if args.drift_only:
                    show_drift(url, f"{sessions} sessions")
                    continue
                seconds, claimed, plan = time_claim(url, args.repeats)
                results[sessions] = seconds
                print(f"  {sessions} sessions: claimed {claimed} in {1000 * seconds:.1f} ms")
                for line in plan:
                    print(f"      {line}")
                if kind == "postgres":
                    time_queries(url, args.repeats)
                    print(f"  drift list: {time_drift(url, 120)}")
                if kind == "postgres" and sessions == args.big and args.rss:
                    for name, mb in service_rss(url, 90, folder).items():
                        print(f"  peak RSS {mb:6.0f} MB  {name}")
        for sessions in (args.small, args.big) if kind == "postgres" and args.history else ():
            with big_store(kind, sessions, args.keep, folder, f"{args.schema}_history") as url:
                show_drift(url, f"{sessions} sessions with history")
        if results:
            small, big = results[args.small], results[args.big]
            print(f"  claim: {args.small} sessions (baseline) {1000 * small:.1f} ms, ", end="")
            print(f"{args.big} sessions {1000 * big:.1f} ms; ratio big/small {big / small:.2f}")


def show_drift(url: str, store_name: str) -> None:
    print(f"  {store_name}: drift list {time_drift(url, 120)}")
    seconds, through, plan = drift_candidates(url)
    print(f"    of which the candidates query {1000 * seconds:.0f} ms ({through} let through):")
    for line in plan:
        print(f"      {line}")


if __name__ == "__main__":
    main()
