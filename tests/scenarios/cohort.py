"""A clinic's cohort over six months, as a script of what the front desk records and when:
keepers, drifters, no-shows who never rebook, cancellers and finishers, some in French.

The script is the oracle: `expected_call` says, from the script alone, whether and why a
patient should be on the call list at a given moment. The cohort test and the adherence
screenshot both replay it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from tests.harness import EDMONTON, Clinic, local, row

START = date(2026, 1, 5)
DAYS = 182
END = START + timedelta(days=DAYS)
OPENING = "2026-01-05 08:00"
TICKS = ("09:00", "13:00", "17:00")
INTERVAL = 21  # the shipped default target interval, days
TOLERANCE = 7  # the shipped default tolerance, days


@dataclass
class Visit:
    number: int
    day: date
    booked_at: str  # clinic wall-clock time the booking reaches the service
    outcome: str | None = None  # completed, no_show, cancelled; None while booked
    recorded_at: str | None = None
    suffix: str = ""  # a rebooked session keeps its number under a new id

    @property
    def starts(self) -> datetime:
        return local(f"{self.day} 10:00")


@dataclass
class Person:
    id: str
    group: str
    language: str
    planned: int
    practitioner: str
    treatment: str = "prolotherapy"
    target: int | None = None  # the series' own target interval, when not the clinic's
    phone: str = ""
    visits: list[Visit] = field(default_factory=list)

    def session_id(self, visit: Visit) -> str:
        return f"{self.id}-{visit.number}{visit.suffix}"

    def row(self, visit: Visit, now: datetime) -> dict[str, Any]:
        done = visit.outcome if visit.recorded_at and local(visit.recorded_at) <= now else None
        return row(
            patient_id=self.id,
            first_name=self.id.title(),
            last_name=self.group.title(),
            language=self.language,
            phone=self.phone,
            email=f"{self.id.lower()}@example.com",
            series_id=f"{self.id}-S",
            treatment=self.treatment,
            planned_sessions=self.planned,
            target_interval_days=self.target or "",
            session_id=self.session_id(visit),
            session_number=visit.number,
            starts_at=f"{visit.day}T10:00",
            practitioner=self.practitioner,
            status=done or "booked",
        )


def _completed(number: int, day: date, booked_at: str) -> Visit:
    return Visit(number, day, booked_at, "completed", f"{day} 18:00")


def _steady(
    first: date, every: int, count: int, start: int = 1, booked: str = OPENING
) -> list[Visit]:
    """Sessions `every` days apart, each booked at the visit before (the first at `booked`)."""
    visits = []
    for n in range(count):
        day = first + timedelta(days=every * n)
        booked_at = booked if n == 0 else f"{day - timedelta(days=every)} 18:05"
        if local(booked_at) >= local(f"{END} 00:00"):
            break
        visit = _completed(start + n, day, booked_at)
        if day >= END:
            visit.outcome = visit.recorded_at = None
        visits.append(visit)
    return visits


def cohort() -> list[Person]:
    d = date
    people = [
        Person("KEEP1", "keeper", "en", 10, "Dr. Chen", visits=_steady(d(2026, 1, 6), 21, 10)),
        Person("KEEP2", "keeper", "fr", 10, "Dr. Roy", visits=_steady(d(2026, 1, 7), 21, 10)),
        # Within the tolerance every time: a keeper too.
        Person("KEEP3", "keeper", "en", 10, "Dr. Chen", visits=_steady(d(2026, 1, 8), 25, 10)),
        Person("FINISH1", "finisher", "en", 4, "Dr. Roy", visits=_steady(d(2026, 1, 9), 21, 4)),
        Person(
            "FINISH2",
            "finisher",
            "fr",
            3,
            "Dr. Chen",
            treatment="PRP",
            target=28,
            visits=_steady(d(2026, 1, 12), 28, 3),
        ),
        Person("DRIFT1", "drifter", "en", 6, "Dr. Chen", visits=_steady(d(2026, 1, 6), 21, 2)),
        Person("DRIFT2", "drifter", "fr", 6, "Dr. Roy", visits=_steady(d(2026, 1, 13), 21, 1)),
        # On the list on 5 Feb, books on 14 Feb for the 17th, then drifts again.
        Person(
            "DRIFT3",
            "drifter",
            "en",
            6,
            "Dr. Roy",
            visits=[
                _completed(1, d(2026, 1, 8), OPENING),
                _completed(2, d(2026, 2, 17), "2026-02-14 10:30"),
            ],
        ),
        # Nothing booked after the first session; the nudge a week later works.
        Person(
            "REBOOK1",
            "rebooker",
            "en",
            6,
            "Dr. Roy",
            visits=[
                _completed(1, d(2026, 1, 20), OPENING),
                *_steady(d(2026, 2, 9), 21, 5, start=2, booked="2026-02-02 10:30"),
            ],
        ),
        Person(
            "NOSHOW1",
            "no-show",
            "en",
            6,
            "Dr. Chen",
            visits=[
                _completed(1, d(2026, 1, 14), OPENING),
                Visit(2, d(2026, 2, 4), "2026-01-14 18:05", "no_show", "2026-02-04 18:00"),
            ],
        ),
        Person(
            "NOSHOW2",
            "no-show",
            "fr",
            6,
            "Dr. Roy",
            visits=[
                *_steady(d(2026, 1, 15), 21, 2),
                Visit(3, d(2026, 2, 26), "2026-02-05 18:05", "no_show", "2026-02-26 18:00"),
            ],
        ),
        # Missed the very first session.
        Person(
            "NOSHOW3",
            "no-show",
            "en",
            6,
            "Dr. Chen",
            visits=[Visit(1, d(2026, 1, 20), OPENING, "no_show", "2026-01-20 18:00")],
        ),
        Person(
            "CANCEL1",
            "canceller",
            "en",
            6,
            "Dr. Roy",
            visits=[
                _completed(1, d(2026, 1, 16), OPENING),
                Visit(2, d(2026, 2, 6), "2026-01-16 18:05", "cancelled", "2026-02-03 08:30"),
            ],
        ),
        # Cancels, rebooks the next day inside the window, and finishes the series.
        Person(
            "CANCEL2",
            "canceller",
            "fr",
            6,
            "Dr. Chen",
            visits=[
                _completed(1, d(2026, 1, 9), OPENING),
                Visit(2, d(2026, 1, 30), "2026-01-09 18:05", "cancelled", "2026-01-27 08:30"),
                *_steady(d(2026, 2, 2), 21, 5, start=2, booked="2026-01-28 08:30"),
            ],
        ),
    ]
    people[-1].visits[2].suffix = "b"
    for n, person in enumerate(people):
        person.phone = f"+1403555{n + 200:04d}"
    return people


def schedule(people: list[Person], now: datetime) -> list[dict[str, Any]]:
    return [p.row(v, now) for p in people for v in p.visits if local(v.booked_at) <= now]


def changes(people: list[Person]) -> list[datetime]:
    """Every moment the front desk's schedule changes: a booking or a recorded outcome."""
    moments = {local(v.booked_at) for p in people for v in p.visits}
    moments |= {local(v.recorded_at) for p in people for v in p.visits if v.recorded_at}
    return sorted(m for m in moments if m < local(f"{END} 00:00"))


def ticks() -> Iterator[datetime]:
    for day in range(DAYS):
        for at in TICKS:
            yield local(f"{START + timedelta(days=day)} {at}")


@dataclass(frozen=True)
class Call:
    reason: str  # "overdue" or "no_show"
    crossed: datetime  # when the patient should be on the list from


def expected_call(person: Person, now: datetime) -> Call | None:
    """From the script alone: whether and why staff should be calling the patient now."""
    known = [v for v in person.visits if local(v.booked_at) <= now]

    def status(v: Visit) -> str:
        recorded = v.recorded_at is not None and local(v.recorded_at) <= now
        return v.outcome if recorded and v.outcome else "booked"

    completed = [v for v in known if status(v) == "completed"]
    if len(completed) >= person.planned:
        return None
    # A session booked for today counts as booked all day: its outcome comes in the evening.
    today = now.astimezone(EDMONTON).date()
    if any(status(v) == "booked" and (v.starts > now or v.day == today) for v in known):
        return None
    last = max(completed, key=lambda v: v.starts, default=None)
    missed = [v for v in known if status(v) == "no_show" and (last is None or v.day > last.day)]
    if missed:
        day_after = max(v.day for v in missed) + timedelta(days=1)
        crossed = datetime.combine(day_after, time(0), EDMONTON)
        return Call("no_show", crossed) if now >= crossed else None
    if last is not None:
        wait = (person.target or INTERVAL) + TOLERANCE
        crossed = local(f"{last.day + timedelta(days=wait)} 10:00")
        return Call("overdue", crossed) if now > crossed else None
    return None


def replay(clinic: Clinic, people: list[Person], each_tick: Callable[[datetime], None]) -> None:
    """Import the schedule at every change, tick three times a day, and look after each tick."""
    clinic.import_rows(schedule(people, local(OPENING)), local(OPENING))
    moments = [(m, True) for m in changes(people) if m > local(OPENING)]
    moments += [(t, False) for t in ticks()]
    for moment, is_change in sorted(moments):
        if is_change:
            clinic.import_rows(schedule(people, moment), moment)
        else:
            clinic.tick(moment)
            each_tick(moment)
