"""Six months of a clinic's cohort, ticked three times a day: staff are told to call exactly
the patients the clinic would call, as soon as they should; nobody is nudged after booking
or finishing; everyone reads their own language; a finished series is never overdue.

Run with `-s` to see the cohort's figures.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.models import Series
from reminders.planning.standing import SeriesStatus, assess
from reminders.staff.drift import drifting
from reminders.web.pages.timeline import series_timeline
from tests.harness import Clinic, local
from tests.scenarios.cohort import END, Call, Person, cohort, expected_call, replay

# Words only one of the two languages uses, whole words: wording can change, these stay.
FRENCH = re.compile(r"\b(vous|votre|vos|séance|rendez-vous|Bonjour|Répondez|merci)\b", re.I)
ENGLISH = re.compile(r"\b(you|your|session|Hello|Hi|Dear|Reply|thanks?)\b", re.I)


@dataclass
class Run:
    clinic: Clinic
    people: list[Person]
    # At every tick: who was on the call list, and why; and who the script says should be.
    listed: dict[datetime, dict[str, str]] = field(default_factory=dict)
    expected: dict[datetime, dict[str, Call]] = field(default_factory=dict)
    overdue_after_finishing: list[tuple[str, datetime, int]] = field(default_factory=list)


def _finished_overdue(settings: Settings, now: datetime) -> list[tuple[str, datetime, int]]:
    """Every complete series that counts as overdue at `now` (there should be none)."""
    with store.transaction(settings.database_url) as db:
        found = [(s.external_id, assess(settings, s, now)) for s in db.scalars(select(Series))]
    return [
        (series, now, st.days_overdue(now))
        for series, st in found
        if st.status == SeriesStatus.COMPLETE and (st.days_overdue(now) or st.is_overdue(now))
    ]


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("cohort")
    settings = Settings(
        database_url=f"sqlite:///{folder / 'reminders.db'}",
        outbox_dir=folder / "outbox",
        state_dir=folder / "state",
    )
    result = Run(Clinic(settings, folder), cohort())

    def look(now: datetime) -> None:
        result.listed[now] = {r["patient_id"]: r["reason"] for r in drifting(settings, now)}
        calls = {p.id: expected_call(p, now) for p in result.people}
        result.expected[now] = {pid: call for pid, call in calls.items() if call is not None}
        if now.astimezone(settings.clinic.zone).hour == 9:  # once a day is plenty
            result.overdue_after_finishing += _finished_overdue(settings, now)

    replay(result.clinic, result.people, look)
    yield result
    store.forget(settings.database_url)


def test_the_call_list_is_exactly_who_the_clinic_would_call_at_every_tick(run: Run) -> None:
    wrong = {
        now.isoformat(): (listed, {p: c.reason for p, c in run.expected[now].items()})
        for now, listed in run.listed.items()
        if listed != {p: c.reason for p, c in run.expected[now].items()}
    }

    assert wrong == {}


def test_every_drifter_is_on_the_list_within_a_day_and_no_shows_the_day_after(run: Run) -> None:
    appeared = first_appearances(run)
    print("\n" + "\n".join(cohort_figures(run)))  # with -s: the figures for the closing note

    assert appeared, "the cohort has nobody to call: the test would prove nothing"
    for (patient, call), seen in appeared.items():
        assert seen - call.crossed <= timedelta(days=1), (patient, call, seen)
        if call.reason == "no_show":
            assert seen.astimezone(run.clinic.settings.clinic.zone).date() == (
                call.crossed.date()
            ), (patient, seen)
    groups = {(next(p.group for p in run.people if p.id == pid)) for pid, _ in appeared}
    assert groups == {"drifter", "no-show", "canceller"}


def test_no_nudge_goes_out_once_the_next_session_is_booked_or_the_series_is_done(
    run: Run,
) -> None:
    nudges = [m for m in sent(run) if m["kind"] == "rebook_nudge"]
    people = {p.id: p for p in run.people}

    assert nudges
    for message in nudges:
        person, at = people[message["patient_id"]], datetime.fromisoformat(message["sent_at"])
        booked = [v for v in person.visits if local(v.booked_at) <= at < v.starts]
        booked = [v for v in booked if not v.recorded_at or local(v.recorded_at) > at]
        done = [
            v
            for v in person.visits
            if v.outcome == "completed" and local(v.recorded_at or "") <= at
        ]
        assert not booked, (person.id, at, "booked")
        assert len(done) < person.planned, (person.id, at, "complete")


def test_each_patient_reads_every_message_in_their_own_language(run: Run) -> None:
    people = {p.id: p for p in run.people}
    wrong = []
    for message in sent(run):
        text = " ".join(filter(None, [message["subject"], message["body"]]))
        text = re.sub(r"https?://\S+|\S+@\S+", "", text)  # links and addresses are neither
        french = people[message["patient_id"]].language == "fr"
        own, other = (FRENCH, ENGLISH) if french else (ENGLISH, FRENCH)
        if not own.search(text) or other.search(text):
            wrong.append((message["patient_id"], message["kind"], message["channel"], text[:80]))

    assert {p.language for p in run.people} == {"en", "fr"}
    assert wrong == []


def test_a_completed_series_is_never_overdue_on_the_list_the_card_or_the_chart(run: Run) -> None:
    settings, now = run.clinic.settings, local(f"{END} 09:00")
    finished = {
        p.id for p in run.people if sum(v.outcome == "completed" for v in p.visits) >= p.planned
    }
    with store.transaction(settings.database_url) as db:
        series = [s for s in db.scalars(select(Series)) if s.patient.external_id in finished]
        standings = {s.patient.external_id: assess(settings, s, now) for s in series}
        charts = [
            series_timeline(settings, s, standings[s.patient.external_id], now) for s in series
        ]

    assert finished >= {"FINISH1", "FINISH2", "CANCEL2"}
    assert {pid: st.status for pid, st in standings.items()} == dict.fromkeys(finished, "complete")
    assert [st.days_overdue(now) for st in standings.values()] == [0] * len(finished)
    assert all(chart.gaps == [] for chart in charts)
    assert run.overdue_after_finishing == []
    assert not any(finished & set(listed) for listed in run.listed.values())


def first_appearances(run: Run) -> dict[tuple[str, Call], datetime]:
    """Each time the script says a patient crossed onto the list, the tick they first showed."""
    seen: dict[tuple[str, Call], datetime] = {}
    for now in sorted(run.listed):
        for patient, call in run.expected[now].items():
            if patient in run.listed[now]:
                seen.setdefault((patient, call), now)
    return seen


def sent(run: Run) -> list[dict[str, Any]]:
    return [m for m in run.clinic.log() if m["status"] in ("sent", "delivered")]


def cohort_figures(run: Run) -> list[str]:
    groups = Counter(p.group for p in run.people)
    french = Counter(p.group for p in run.people if p.language == "fr")
    by_patient = {p.id: p.group for p in run.people}
    kinds: dict[str, Counter[str]] = defaultdict(Counter)
    for message in sent(run):
        kinds[by_patient[message["patient_id"]]][message["kind"]] += 1
    lines = [f"cohort: {len(run.people)} patients, {sum(french.values())} in French, six months"]
    for group, count in sorted(groups.items()):
        lines.append(
            f"  {group:10} {count} patients ({french[group]} French)  sent: {dict(kinds[group])}"
        )
    lines.append("days from crossing onto the call list to appearing on it:")
    zone = run.clinic.settings.clinic.zone
    for (patient, call), seen in sorted(first_appearances(run).items(), key=lambda i: i[1]):
        delay = (seen - call.crossed).total_seconds() / 86400
        crossed, listed = call.crossed.astimezone(zone), seen.astimezone(zone)
        lines.append(
            f"  {patient:8} {call.reason:8} crossed {crossed:%Y-%m-%d %H:%M}"
            f"  listed {listed:%Y-%m-%d %H:%M}  {delay:.2f} days"
        )
    return lines
