"""A stateful property: however a session is moved, the latest word names its current time.

Random sequences of changes (move, move back, move across the fall-back night, cancel,
re-book) and ticks (the clock moves on, what is due goes out through the outbox channel).
After every tick, for every booked session not yet started, the last reminder the outbox
holds on each channel names the session's current date and time (SMS are not checked
inside quiet hours, where they wait). After every change, importing the same schedule
again changes nothing: the planner is at rest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule, run_state_machine_as_test

from reminders import store
from reminders.config import ReminderRule, Settings
from reminders.models import Session
from reminders.planning.quiet_hours import window_at
from reminders.wording.templating import SessionView, session_context
from tests.harness import EDMONTON, Clinic, local, reminders_only, row

EXAMPLES = int(os.environ.get("REMINDERS_TEST_RESCHEDULE_EXAMPLES", "30"))
START = local("2026-10-27 09:00")
# Slots to move to: same day, another hour, across the fall-back night (Sunday 1 Nov),
# early in the morning (its reminders meet quiet hours), and a week on.
SLOTS = [
    local(text)
    for text in (
        "2026-10-29 07:30",
        "2026-10-30 10:00",
        "2026-10-30 14:00",
        "2026-10-31 10:00",
        "2026-11-02 10:00",
        "2026-11-02 14:00",
        "2026-11-06 09:30",
    )
]
STEPS = [timedelta(minutes=20), timedelta(hours=3), timedelta(hours=10), timedelta(days=1)]
RULES = [
    ReminderRule(name="email-72h", channel="email", offset=timedelta(hours=-72)),
    ReminderRule(name="sms-24h", channel="sms", offset=timedelta(hours=-24)),
    ReminderRule(name="sms-2h", channel="sms", offset=timedelta(hours=-2)),
]
PATIENTS = (("en", "Avery"), ("fr", "Élise"))


class Reschedules(RuleBasedStateMachine):
    template: Path  # a migrated, empty store; each example starts from a copy

    def __init__(self) -> None:
        super().__init__()
        folder = Path(tempfile.mkdtemp(prefix="reschedule-"))
        shutil.copy(self.template, folder / "reminders.db")
        self.base = clinic_settings(folder)
        self.clinic = Clinic(self.base, folder)
        self.now = START
        self.sessions: list[dict[str, Any]] = [
            row(
                patient_id=f"P{i}",
                first_name=name,
                language=language,
                phone=f"+140355501{i:02d}",
                email=f"p{i}@example.com",
                series_id=f"S{i}",
                session_id=f"S{i}-1",
                starts_at=SLOTS[1 + i].isoformat(),
            )
            for i, (language, name) in enumerate(PATIENTS)
        ]
        self.history: list[list[str]] = [[s["starts_at"]] for s in self.sessions]
        self._import()

    def teardown(self) -> None:
        store.forget(self.base.database_url)
        shutil.rmtree(self.clinic.folder, ignore_errors=True)

    # -- changes --------------------------------------------------------------------------

    def _future(self) -> list[datetime]:
        return [slot for slot in SLOTS if slot > self.now + timedelta(hours=1)]

    @precondition(lambda self: bool(self._future()))
    @rule(which=st.integers(0, 1), slot=st.integers(0, len(SLOTS) - 1))
    def move(self, which: int, slot: int) -> None:
        self._move(which, self._pick(slot))

    @precondition(lambda self: any(len(h) > 1 for h in self.history))
    @rule(which=st.integers(0, 1))
    def move_back(self, which: int) -> None:
        history = self.history[which]
        if len(history) > 1 and datetime.fromisoformat(history[-2]) > self.now:
            self._move(which, datetime.fromisoformat(history[-2]))

    @rule(which=st.integers(0, 1))
    def cancel(self, which: int) -> None:
        self.sessions[which]["status"] = "cancelled"
        self._import()

    @precondition(lambda self: bool(self._future()))
    @rule(which=st.integers(0, 1), slot=st.integers(0, len(SLOTS) - 1), same=st.booleans())
    def rebook(self, which: int, slot: int, same: bool) -> None:
        self.sessions[which]["status"] = "booked"
        current = datetime.fromisoformat(self.sessions[which]["starts_at"])
        self._move(which, current if same and current > self.now else self._pick(slot))

    def _pick(self, slot: int) -> datetime:
        future = self._future()
        return future[slot % len(future)]

    def _move(self, which: int, to: datetime) -> None:
        self.sessions[which]["starts_at"] = to.isoformat()
        self.history[which].append(to.isoformat())
        self._import()

    def _import(self) -> None:
        self.clinic.import_rows(self.sessions, self.now)
        again = self.clinic.import_rows(self.sessions, self.now)
        assert again.messages_changed == 0, "the same schedule again changed the plan"

    # -- the clock ----------------------------------------------------------------------

    @rule(step=st.sampled_from(STEPS))
    def tick(self, step: timedelta) -> None:
        self.now += step
        self.clinic.tick(self.now)
        self._check_latest_words()

    def _check_latest_words(self) -> None:
        outbox = self.clinic.outbox()
        quiet = window_at(self.base.quiet_hours, EDMONTON, self.now) is not None
        with store.transaction(self.base.database_url) as db:
            for booked in self.sessions:
                session = db.query(Session).filter_by(external_id=booked["session_id"]).one()
                if booked["status"] != "booked" or session.starts_at <= self.now:
                    continue
                for channel, address in (("email", booked["email"]), ("sms", booked["phone"])):
                    if channel == "sms" and quiet:
                        continue
                    told = [m["body"] for m in outbox if m["to"] == address]
                    if told:
                        self._names(session, channel, told[-1])

    def _names(self, session: Session, channel: str, body: str) -> None:
        view = session_context(self.base, session, channel=channel, now=self.now)["session"]
        assert isinstance(view, SessionView)
        # The day without its year, as the SMS say it; the email's full date contains it.
        assert view.day in body and view.time in body, (
            f"at {self.now.astimezone(EDMONTON):%a %d %b %H:%M} the last {channel} names "
            f"another time than {view.day} {view.time}:\n{body}"
        )


def clinic_settings(folder: Path) -> Settings:
    config = Settings(
        database_url=f"sqlite:///{folder / 'reminders.db'}",
        outbox_dir=folder / "outbox",
        state_dir=folder / "state",
        rules=RULES,
    )
    return reminders_only(config)


def test_the_latest_reminder_on_each_channel_names_the_current_time(tmp_path: Path) -> None:
    """SQLite only: the planner's logic is the same on both stores."""
    template = clinic_settings(tmp_path)
    with store.transaction(template.database_url):
        pass  # migrated on first use
    store.forget(template.database_url)
    machine = type("ReschedulesOnSQLite", (Reschedules,), {"template": tmp_path / "reminders.db"})
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=25,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
