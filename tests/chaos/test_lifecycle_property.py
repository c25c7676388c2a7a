"""A stateful property: no interleaving of the lifecycle gets one message to Twilio twice.

In-process on SQLite, through the package's public functions only: claims, sends (some
late, some twice, one that waits on a slow provider while everything else goes on),
lease expiry by moving a virtual `now`, stale releases, reconciliation, whole ticks and
provider faults. After every step, Twilio (the loopback fake, on the same virtual clock)
must hold each message at most once.

The send path is being rewritten (per-message leases, attempt tokens, heartbeats): only
the five calls in "The API under test" below touch it, so adapting is a local change.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
    run_state_machine_as_test,
)

from reminders import store
from reminders.config import Settings
from reminders.feedback.reconcile import reconcile
from reminders.sending.claims import claim_due, release_stale
from reminders.sending.dispatch import dispatch_due, send_claimed
from reminders.staff.message_log import messages
from tests.fakes.fixtures import twilio_settings_for
from tests.fakes.twilio_api import FakeTwilio, Hold
from tests.harness import Clinic, row

# Two at a time fall due, ten minutes apart: work keeps arriving as the clock moves.
PATIENTS, APART = 8, timedelta(minutes=10)
EXAMPLES = int(os.environ.get("REMINDERS_TEST_CHAOS_EXAMPLES", "120"))
# Shrinking a failure replays hundreds of examples (minutes); CI reports the first one found.
SHRINK = os.environ.get("REMINDERS_TEST_CHAOS_SHRINK", "") == "1"
START = datetime.now(UTC).replace(microsecond=0)
# A moment, past the reconciler's grace (1 min); past the lease (300 s), past the
# reconciler's wait before it plans a message again (10 min).
MOMENTS, LONG_WAITS = (1, 61), (301, 601)
FAULTS = ("429", "500", "hang_up")
# Real seconds: a held answer must not run into the client's timeout (it would be unknown).
TWILIO_TIMEOUT = 30.0

# -- The API under test -----------------------------------------------------------------


def claim(config: Settings, now: datetime, limit: int) -> list[Any]:
    with store.transaction(config.database_url) as db:
        return list(claim_due(db, now, limit))


def send(config: Settings, claimed: list[Any], now: datetime) -> None:
    send_claimed(config, claimed, now)


def release(config: Settings, now: datetime) -> None:
    with store.transaction(config.database_url) as db:
        release_stale(db, config, now)


def settle(config: Settings, now: datetime) -> None:
    reconcile(config, now)


def tick(config: Settings, now: datetime) -> None:
    """What `reminders tick` does: dispatch what is due, then reconcile."""
    dispatch_due(config, now)
    reconcile(config, now)


CHORES = {"release stale": release, "reconcile": settle, "tick": tick}

# -- The machine --------------------------------------------------------------------------


class Totals:
    """What all examples did, printed once at the end."""

    def __init__(self) -> None:
        self.examples = 0
        self.steps: Counter[str] = Counter()
        self.accepted = 0
        self.unknown_left = 0
        self.retried = 0
        self.first_duplicate: tuple[int, dict[str, int]] | None = None

    def line(self) -> str:
        found = "none"
        if self.first_duplicate is not None:
            example, twice = self.first_duplicate
            found = f"in example {example}: {twice}"
        return (
            f"{self.examples} examples, {sum(self.steps.values())} steps; accepted "
            f"{self.accepted} (in examples that passed), duplicates {found}, "
            f"unknown left {self.unknown_left}, retried {self.retried}"
        )


class SlowSend:
    """A send whose first provider call waits on a held answer while other steps run."""

    def __init__(self, config: Settings, claimed: list[Any], now: datetime, hold: Hold) -> None:
        self.hold = hold
        self.started = now
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(config, claimed, now))
        self.thread.start()
        # Either the call reached Twilio (and waits there) or there was nothing to send.
        while self.thread.is_alive() and not hold.arrived.wait(0.01):
            pass
        if not hold.arrived.is_set():
            hold.release()  # unused: the next create, anyone's, must not wait on it

    def _run(self, config: Settings, claimed: list[Any], now: datetime) -> None:
        try:
            send(config, claimed, now)
        except BaseException as exc:  # re-raised in the test's thread by finish()
            self.error = exc

    def finish(self) -> None:
        self.hold.release()  # harmless when no call took it
        self.thread.join(timeout=TWILIO_TIMEOUT * 2)
        assert not self.thread.is_alive(), "the slow send did not finish"
        if self.error is not None:
            raise self.error


class Lifecycle(RuleBasedStateMachine):
    twilio: FakeTwilio
    template: Path
    totals: Totals

    claims = Bundle("claims")

    def __init__(self) -> None:
        super().__init__()
        self.folder = Path(tempfile.mkdtemp(prefix="lifecycle-"))
        database = self.folder / "reminders.db"
        shutil.copy(self.template, database)
        self.config = lifecycle_settings(self.twilio, self.folder, database)
        self.now = START
        self.slow: SlowSend | None = None
        self.longest_slow_send = 0.0
        self.twilio.reset()
        self.twilio.set_clock(lambda: self.now)
        self.totals.examples += 1

    def _step(self, name: str) -> None:
        self.totals.steps[name] += 1

    @rule(target=claims, limit=st.integers(1, PATIENTS))
    def claim_due_rows(self, limit: int) -> MultipleResults[list[Any]]:
        """A beat claims; the task it enqueues runs later, maybe twice, maybe never."""
        self._step("claim")
        claimed = claim(self.config, self.now, limit)
        return multiple(claimed) if claimed else multiple()

    @rule(claimed=claims)
    def send_a_claim(self, claimed: list[Any]) -> None:
        """A worker runs a send task: on time, late, or again (a redelivered task)."""
        self._step("send")
        send(self.config, claimed, self.now)

    @precondition(lambda self: self.slow is None)
    @rule(target=claims, limit=st.integers(1, PATIENTS))
    def claim_and_send_slowly(self, limit: int) -> MultipleResults[list[Any]]:
        """A claim whose task starts at once, and whose first provider call Twilio accepts
        but answers only later: the rest of the steps run while it waits."""
        self._step("slow send starts")
        claimed = claim(self.config, self.now, limit)
        if not claimed:
            return multiple()
        self.slow = SlowSend(self.config, claimed, self.now, self.twilio.hold_next())
        return multiple(claimed)

    @precondition(lambda self: self.slow is not None)
    @rule()
    def finish_the_slow_send(self) -> None:
        self._step("slow send ends")
        self._finish_slow()

    @rule(seconds=st.sampled_from(MOMENTS))
    def a_moment_passes(self, seconds: int) -> None:
        self._step(f"+{seconds} s")
        self.now += timedelta(seconds=seconds)

    @rule(seconds=st.sampled_from(LONG_WAITS))
    def leases_run_out(self, seconds: int) -> None:
        self._step(f"+{seconds} s")
        self.now += timedelta(seconds=seconds)

    @rule(chore=st.sampled_from(sorted(CHORES)))
    def the_beat_does_a_chore(self, chore: str) -> None:
        """A beat pass: release stale rows, reconcile unknowns, or a whole tick."""
        self._step(chore)
        CHORES[chore](self.config, self.now)

    @rule(fault=st.sampled_from(FAULTS))
    def provider_misbehaves_next(self, fault: str) -> None:
        self._step(f"fault {fault}")
        if fault == "hang_up":
            self.twilio.hang_up_next()  # accepted, then no answer: the outcome is unknown
        else:
            self.twilio.fail_next(status=int(fault), code=20000 + int(fault))

    @invariant()
    def measure_the_slow_send(self) -> None:
        if self.slow is not None:
            held = (self.now - self.slow.started).total_seconds()
            self.longest_slow_send = max(self.longest_slow_send, min(held, 1800.0))

    @invariant()
    def no_message_reaches_twilio_twice(self) -> None:
        arrivals = Counter(sms.to for sms in self.twilio.messages)
        twice = {to: n for to, n in arrivals.items() if n > 1}
        if twice and self.totals.first_duplicate is None:
            self.totals.first_duplicate = (self.totals.examples, twice)
        assert not twice, f"accepted more than once: {twice}"

    def teardown(self) -> None:
        try:
            self._finish_slow()
            self._count()
            # Search harder where a slow send stays in flight while the clock runs on.
            target(self.longest_slow_send, label="virtual seconds a slow send was in flight")
        finally:
            self.clean_up()

    def clean_up(self) -> None:
        if self.slow is not None:
            self.slow.hold.release()
            self.slow.thread.join(timeout=TWILIO_TIMEOUT * 2)
        self.twilio.set_clock(None)
        store.forget(self.config.database_url)
        shutil.rmtree(self.folder, ignore_errors=True)

    def _finish_slow(self) -> None:
        slow, self.slow = self.slow, None
        if slow is not None:
            slow.finish()
        self.no_message_reaches_twilio_twice()

    def _count(self) -> None:
        arrivals = Counter(sms.to for sms in self.twilio.messages)
        self.totals.accepted += sum(arrivals.values())
        sids = {sms.sid for sms in self.twilio.messages}
        for record in messages(self.config):
            self.totals.unknown_left += record["status"] == "unknown"
            self.totals.retried += (record["attempts"] or 0) > 1
            if record["status"] == "sent":
                assert record["provider_id"] in sids, f"sent, but not at Twilio: {record}"


def lifecycle_settings(twilio: FakeTwilio, folder: Path, database: Path) -> Settings:
    one_call_at_a_time: dict[str, object] = {}
    if "send_concurrency" in Settings.model_fields:
        # Calls of one send one after another: while the slow one is held, the rest of its
        # claim waits, and nothing happens behind the steps' backs (Hypothesis replays
        # each sequence and needs it to come out the same every time).
        one_call_at_a_time["send_concurrency"] = 1
    return twilio_settings_for(
        twilio,
        folder,
        database_url=f"sqlite:///{database}",
        twilio_timeout=TWILIO_TIMEOUT,
        quiet_hours={"start": "00:00", "end": "00:00"},
        followups={"enabled": False},
        batch_size=2,
        **one_call_at_a_time,
    )


@pytest.fixture
def template(chaos_twilio: FakeTwilio, tmp_path: Path) -> Iterator[Path]:
    """One migrated store with the patients imported; each example starts from a copy."""
    database = tmp_path / "template.db"
    config = lifecycle_settings(chaos_twilio, tmp_path, database)
    first = START + timedelta(hours=23, minutes=50)
    rows = [
        row(
            patient_id=f"P{i}",
            phone=f"+1403555{i:04d}",
            email="",
            series_id=f"S{i}",
            session_id=f"S{i}-1",
            starts_at=(first + i // 2 * APART).isoformat(),
        )
        for i in range(PATIENTS)
    ]
    Clinic(config, tmp_path).import_rows(rows, START)
    store.forget(config.database_url)  # closes it: the copy carries everything
    yield database


@pytest.mark.chaos
def test_no_interleaving_gets_one_message_to_twilio_twice(
    chaos_twilio: FakeTwilio, template: Path
) -> None:
    totals = Totals()
    machine = type(
        "LifecycleOnSQLite",
        (Lifecycle,),
        {"twilio": chaos_twilio, "template": template, "totals": totals},
    )
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=40,
                deadline=None,
                database=None,
                report_multiple_bugs=False,
                phases=[Phase.generate, Phase.target, *([Phase.shrink] if SHRINK else [])],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        steps = ", ".join(f"{name} {n}" for name, n in sorted(totals.steps.items()))
        print(f"\n[chaos lifecycle] {totals.line()}\n  steps: {steps}")


@pytest.mark.chaos
def test_a_worker_still_sending_when_its_rows_are_planned_again_sends_no_second_copy(
    chaos_twilio: FakeTwilio, template: Path
) -> None:
    """The shortest interleaving the property test knows for a second copy, spelled out.

    A worker claims due rows and starts sending; Twilio is slow to answer its first call.
    Ten minutes pass: the reconciler finds the rows not at Twilio and plans them again, a
    tick sends them, and then the first worker gets its answer and goes on with its batch.
    """
    machine = type(
        "OneInterleaving",
        (Lifecycle,),
        {"twilio": chaos_twilio, "template": template, "totals": Totals()},
    )
    state = machine()
    try:
        state.claim_and_send_slowly(limit=PATIENTS)
        state.leases_run_out(seconds=601)
        state.the_beat_does_a_chore(chore="tick")
        state.the_beat_does_a_chore(chore="tick")
        state.finish_the_slow_send()
    finally:
        arrivals = Counter(sms.to for sms in chaos_twilio.messages)
        print(
            f"\n[chaos lifecycle, one interleaving] accepted {sum(arrivals.values())}, "
            f"duplicates {sum(n - 1 for n in arrivals.values() if n > 1)}"
        )
        state.clean_up()
