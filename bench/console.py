"""Console: every staff page a clinic uses daily, timed through the app at 10k and 1M sessions.

    .venv/bin/python bench/console.py [--small 10000] [--big 1000000] [--keep] [--only day,...]

The store is `bench/scan.py`'s (PostgreSQL `generate_series`, 3 messages per session, 5
sessions per series), in schemas `bench_console_<sessions>`, with what a clinic that has
run for a while also has: varied names, the first session of every series done a year
ago with its reminders sent and delivered, one in 2,000 of those undelivered,
and a few hundred patient replies nobody has handled yet.

Each page is a real request through the ASGI app (TestClient), signed in as staff the way
the tests are (the login form's CSRF token, then the session cookie), or with a bearer
token for the JSON API. Median of 5 after one warm-up, at 10k (the baseline) and 1M; and
whether the list paginates: the rows on the page and its next link (or the API's limit).
`--keep` keeps the seeded stores for the next run; they are dropped otherwise.
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import Engine, create_engine, event, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scan import NOW, POSTGRES, SESSIONS_PER_SERIES, _seed, engine_of, explain, seed_postgres
from reminders import store
from reminders.config import Settings
from reminders.staff.accounts import AccountError, add_user, create_token
from reminders.web.app import create_app
from reminders.web.schemas import MAX_OFFSET

PASSWORD = "correct horse battery"
LIMIT_MS = 300.0
FIRST_NAMES = "Avery Émilie Noah Olivia Liam Amelia Lucas Maya Ethan Chloé Owen Zoe Jack Aria Leo"
LAST_NAMES = "Nguyen Tremblay Smith Roy Gagnon Brown Wilson Côté Martin Lee Patel Singh Chen Khan"

# What a clinic that has run for a year has beyond the scan's plan: the first session of
# each series happened (and its reminders went out), a few sends failed, patients replied.
HISTORY = [
    f"""UPDATE patients SET
        first_name = (string_to_array('{FIRST_NAMES}', ' '))[id % 15 + 1],
        last_name = (string_to_array('{LAST_NAMES}', ' '))[(id / 15) % 14 + 1]""",
    """UPDATE sessions SET starts_at = starts_at - interval '400 days', status = 'completed'
        WHERE number = 1""",
    """UPDATE messages m SET status = CASE WHEN m.id % 2000 = 0 THEN 'failed'
                                         WHEN m.id % 2000 = 1 THEN 'undelivered'
                                         ELSE 'sent' END,
            due_at = m.due_at - interval '400 days',
            planned_for = s.starts_at, expires_at = s.starts_at,
            attempted_at = m.due_at - interval '400 days',
            sent_at = m.due_at - interval '400 days',
            provider_status = CASE WHEN m.id % 2000 > 1 THEN 'delivered' END,
            provider_status_at = CASE WHEN m.id % 2000 > 1
                                      THEN m.due_at - interval '400 days' + interval '5 seconds'
                                 END,
            recipient = 'on file', body = 'Reminder: your session', attempts = 1
        FROM sessions s WHERE s.id = m.session_id AND s.number = 1""",
    """INSERT INTO inbound_messages (provider_id, received_at, from_phone, body, patient_id,
            intent, session_id)
        SELECT 'SM' || p.id, timestamp '{now}' - (p.id % 72) * interval '1 hour', p.phone,
               'Can we move it?', p.id, CASE WHEN p.id % 2 = 0 THEN 'reschedule' ELSE 'other' END,
               (p.id - 1) * {per} + 2
        FROM patients p WHERE p.id % {every} = 0""",
    "CREATE TABLE bench_console_seeded (at timestamp)",
]


def seed_history(engine: Engine, sessions: int) -> None:
    patients = sessions // SESSIONS_PER_SERIES
    now = NOW.replace(tzinfo=None).isoformat(sep=" ")
    started = time.perf_counter()
    with engine.begin() as connection:
        for statement in HISTORY:
            # 400 replies whatever the size: what one front desk sees in a few days.
            sql = statement.format(now=now, per=SESSIONS_PER_SERIES, every=max(patients // 400, 1))
            connection.execute(text(sql))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE"))
    print(f"  added a year of history in {time.perf_counter() - started:.0f} s")


@contextmanager
def clinic_store(sessions: int, keep: bool) -> Iterator[str]:
    """The store's URL, seeded unless a kept one is complete; dropped after unless `keep`."""
    schema = f"bench_console_{sessions}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA IF NOT EXISTS {schema}"))
        tables = set(
            connection.scalars(
                text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            )
        )
    url = f"{POSTGRES}?options=-csearch_path%3D{schema}"
    try:
        store.sessions(url)  # migrations added since a kept store was seeded apply here
        engine = store.make_engine(url)
        with engine.connect() as connection:
            seeded = "patients" in tables and connection.scalar(
                text("SELECT count(*) FROM patients")
            )
        if not seeded:
            _seed(url, sessions, seed_postgres)
        if "bench_console_seeded" not in tables:
            seed_history(engine, sessions)
        engine.dispose()
        yield url
    finally:
        store.forget(url)
        if not keep:
            with admin.begin() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextmanager
def signed_in(url: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client with a staff session cookie, and the headers of an API client."""
    settings = Settings(
        database_url=url,
        public_url="https://clinic.example",
        secret_key="bench-secret-" + "x" * 32,
    )
    with suppress(AccountError):  # a kept store has the user already
        add_user(settings, "bench", "staff", PASSWORD, NOW)
    token = create_token(settings, f"bench-{uuid.uuid4().hex[:8]}", NOW)
    app = create_app(settings, clock=lambda: NOW)
    # https: the session cookie is Secure when the public URL is (as a real clinic's is).
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        page = client.get("/login").text
        found = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert found, "no form token on /login"
        login = {"name": "bench", "password": PASSWORD, "csrf_token": found.group(1)}
        answer = client.post("/login", data=login)
        assert answer.status_code == 303, answer.text
        yield client, {"Authorization": f"Bearer {token}"}


@dataclass(frozen=True)
class Page:
    name: str
    path: Callable[[TestClient, int], str]  # from the client and the store's size
    api: bool = False


def fixed(path: str) -> Callable[[TestClient, int], str]:
    return lambda _client, _sessions: path


def older(start: str, pages: int) -> Callable[[TestClient, int], str]:
    """The log page reached by following its Older link `pages` times, as staff would."""

    def follow(client: TestClient, _sessions: int) -> str:
        path = start
        for _ in range(pages):
            found = re.search(r'rel="next" href="([^"]+)"', client.get(path).text)
            if not found:
                break
            path = found.group(1).replace("&amp;", "&")
        return path

    return follow


def patients_page(client: TestClient, sessions: int) -> str:
    return f"/patients?page={sessions // SESSIONS_PER_SERIES // 50 // 2}"  # halfway down


def a_patient(sessions: int) -> int:
    return sessions // SESSIONS_PER_SERIES // 2 + 3


def patient_card(_client: TestClient, sessions: int) -> str:
    return f"/patients/P{a_patient(sessions)}"


def by_phone(_client: TestClient, sessions: int) -> str:
    digits = f"{a_patient(sessions):07d}"
    return "/patients?q=" + quote(f"(403) {digits[:3]}-{digits[3:]}")


def deep_offset(_client: TestClient, sessions: int) -> str:
    # Two thirds down the log, or as deep as the API lets a client go.
    return f"/api/v1/messages?offset={min(2 * sessions, MAX_OFFSET)}"


DAY = (NOW + timedelta(days=3)).date().isoformat()
PAGES = [
    Page("sessions (two weeks)", fixed("/")),
    Page("day view", fixed(f"/day?day={DAY}")),
    Page("patients list", fixed("/patients")),
    Page("patients list, halfway down", patients_page),
    Page("patient card (series timelines)", patient_card),
    Page("patient search: name", fixed("/patients?q=Tremblay")),
    Page("patient search: first and last", fixed("/patients?q=" + quote("chloé côté"))),
    Page("patient search: phone", by_phone),
    Page("message log", fixed("/messages")),
    Page("message log, 10 pages older", older("/messages", 10)),
    Page("message log: sent SMS", fixed("/messages?status=sent&channel=sms")),
    Page("message log: undelivered", fixed("/messages?status=undelivered")),
    Page("message log: one day", fixed("/messages?from=2025-11-01&to=2025-11-01")),
    Page("needs attention", fixed("/attention")),
    Page("adherence", fixed("/adherence")),
    Page("api: messages", fixed("/api/v1/messages"), api=True),
    Page("api: messages, deep offset", deep_offset, api=True),
    Page("api: messages, sent SMS", fixed("/api/v1/messages?status=sent&channel=sms"), api=True),
    Page("api: call list (drift)", fixed("/api/v1/drift"), api=True),
]


@dataclass(frozen=True)
class Timed:
    path: str
    ms: float
    status: int
    rows: int
    next_link: str


def paging(response: Response, api: bool) -> tuple[int, str]:
    """How many rows the page shows, and how to reach the next page (or '' if none)."""
    if api:
        rows = len(response.json()) if response.status_code == 200 else 0
        return rows, "limit/offset" if "drift" not in str(response.url) else ""
    if response.status_code != 200:
        return 0, response.headers.get("location", "")
    html = response.text
    rows = html.count("<tr") - html.count("<thead") + html.count("<article")
    if 'rel="next"' in html:
        return rows, "next link"
    return rows, "cut: " + ("notice" if 'class="notice"' in html else "none")


def time_page(
    client: TestClient, headers: dict[str, str], path: str, api: bool, repeats: int
) -> Timed:
    send = {"headers": headers} if api else {}
    response = client.get(path, **send)  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        response = client.get(path, **send)
        times.append(time.perf_counter() - started)
    assert response.status_code in (200, 303), (path, response.status_code, response.text[:300])
    rows, next_link = paging(response, api)
    return Timed(path, 1000 * statistics.median(times), response.status_code, rows, next_link)


class Slowest:
    """The SQL a request runs, each statement timed at the cursor, to EXPLAIN the slowest."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.timed: list[tuple[float, str, Any]] = []
        self._started = 0.0

    def __enter__(self) -> Slowest:
        event.listen(self.engine, "before_cursor_execute", self._before)
        event.listen(self.engine, "after_cursor_execute", self._after)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._before)
        event.remove(self.engine, "after_cursor_execute", self._after)

    def _before(self, *_: Any) -> None:
        self._started = time.perf_counter()

    def _after(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        took = time.perf_counter() - self._started
        if statement.lstrip().upper().startswith("SELECT"):
            self.timed.append((took, statement, params))


def show_plans(url: str, client: TestClient, path: str, send: dict[str, Any]) -> None:
    with Slowest(engine_of(url)) as caught:
        client.get(path, **send)
    total = sum(t for t, *_ in caught.timed)
    print(f"      {len(caught.timed)} statements, {1000 * total:.0f} ms in the database")
    for took, statement, params in sorted(caught.timed, key=lambda t: -t[0])[:2]:
        print(f"      {1000 * took:.0f} ms: {' '.join(statement.split())[:300]}")
        for line in explain(url, statement, params)[:14]:
            print(f"          {line}")


def measure(
    url: str, sessions: int, pages: list[Page], repeats: int, plans: bool
) -> dict[str, Timed]:
    found = {}
    with signed_in(url) as (client, headers):
        gc.freeze()  # as `reminders web` does once the app is built
        for page in pages:
            path = page.path(client, sessions)
            found[page.name] = timed = time_page(client, headers, path, page.api, repeats)
            print(
                f"  {page.name:36} {timed.ms:8.1f} ms  {timed.status} {timed.rows:4} rows  {path}"
            )
            if plans and timed.ms > LIMIT_MS:
                show_plans(url, client, path, {"headers": headers} if page.api else {})
    return found


def report(
    pages: list[Page], small: dict[str, Timed], big: dict[str, Timed], sizes: tuple[int, int]
) -> None:
    print(f"\n{'page':36} {sizes[0]:>9} {sizes[1]:>9} {'ratio':>6}  rows  paginates")
    for page in pages:
        a, b = small[page.name], big[page.name]
        flag = "  OVER" if b.ms > LIMIT_MS else ""
        print(
            f"{page.name:36} {a.ms:7.1f}ms {b.ms:7.1f}ms {b.ms / a.ms:6.2f}  {b.rows:4}  "
            f"{b.next_link}{flag}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="keep the seeded stores")
    parser.add_argument("--plans", action="store_true", help="EXPLAIN what a slow page runs")
    parser.add_argument("--only-big", action="store_true", help="no baseline (when fixing)")
    parser.add_argument("--only", default="", help="comma-separated words of page names")
    args = parser.parse_args()
    words = [w for w in args.only.split(",") if w]
    pages = [p for p in PAGES if not words or any(w in p.name for w in words)]
    print(f"machine: {os.cpu_count()} cores; load average {os.getloadavg()}")
    results = {}
    for sessions in (args.big,) if args.only_big else (args.small, args.big):
        print(f"\n{sessions} sessions")
        with clinic_store(sessions, args.keep) as url:
            results[sessions] = measure(url, sessions, pages, args.repeats, args.plans)
    if not args.only_big:
        report(pages, results[args.small], results[args.big], (args.small, args.big))
        print(f"\nload average {os.getloadavg()}")


if __name__ == "__main__":
    main()
