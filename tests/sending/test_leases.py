"""Claims take only what they ask for; a lease belongs to one message and one attempt."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import create_engine, insert, select, text

from reminders import store
from reminders.config import Settings
from reminders.models import Message, MessageEvent, MessageStatus, Patient, Series, Session
from reminders.sending.claims import claim_due, release_stale, start_attempt
from reminders.sending.dispatch import Report, prepare, record_outcome, send_claimed
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import Clinic, local, row

BOOKED = local("2026-03-01 09:00")
DUE = local("2026-03-09 14:00")  # the sms-24h reminder of a 2026-03-10 14:00 session


def sms_only(count: int) -> list[dict[str, object]]:
    return [
        row(
            patient_id=f"P{i}",
            phone=f"+1403555{i:04d}",
            email="",
            series_id=f"S{i}",
            session_id=f"S{i}-1",
        )
        for i in range(count)
    ]


def seed_due(url: str, due: int, later: int, now: datetime) -> None:
    """`due` SMS due now and `later` planned for next month, written in bulk."""
    store.sessions(url)
    total = due + later
    starts = now + timedelta(days=40)
    with store.transaction(url) as db:
        db.execute(
            insert(Patient),
            [
                {"id": i, "external_id": f"P{i}", "first_name": "A", "last_name": "B"}
                for i in range(1, total + 1)
            ],
        )
        db.execute(
            insert(Series),
            [
                {
                    "id": i,
                    "external_id": f"S{i}",
                    "patient_id": i,
                    "treatment": "prolotherapy",
                    "planned_sessions": 6,
                }
                for i in range(1, total + 1)
            ],
        )
        db.execute(
            insert(Session),
            [
                {
                    "id": i,
                    "external_id": f"S{i}-1",
                    "series_id": i,
                    "number": 1,
                    "starts_at": starts,
                }
                for i in range(1, total + 1)
            ],
        )
    add_messages(url, range(1, total + 1), now, due)


def add_messages(url: str, sessions: range, now: datetime, due: int) -> None:
    with store.transaction(url) as db:
        db.execute(
            insert(Message),
            [
                {
                    "session_id": i,
                    "kind": "session_reminder",
                    "rule": "sms-24h",
                    "channel": "sms",
                    "status": "planned",
                    "due_at": now if n < due else now + timedelta(days=30),
                    "created_at": now,
                }
                for n, i in enumerate(sessions)
            ],
        )


def test_a_claim_takes_no_more_than_its_limit_on_a_table_never_analyzed(
    database_url: str,
) -> None:
    now = datetime(2026, 3, 9, 15, tzinfo=UTC)
    seed_due(database_url, due=600, later=0, now=now)

    with store.transaction(database_url) as db:
        ids = claim_due(db, now, 100)

    assert len(ids) == 100
    with store.transaction(database_url) as db:
        queued = db.scalars(select(Message.id).where(Message.status == "queued")).all()
    assert sorted(queued) == ids


@pytest.mark.postgres
def test_a_claim_takes_no_more_than_its_limit_when_a_backlog_lands_on_an_analyzed_table(
    postgres_base: str,
) -> None:
    from tests.conftest import _postgres_schema

    schemas = _postgres_schema(postgres_base)
    url = next(schemas)
    try:
        now = datetime(2026, 3, 9, 15, tzinfo=UTC)
        seed_due(url, due=0, later=20_000, now=now)
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("ANALYZE messages"))
        engine.dispose()
        # The 08:00 backlog: many rows fall due at once after the statistics were taken.
        with store.transaction(url) as db:
            db.execute(
                Message.__table__.update()
                .where(Message.id <= 600)
                .values(due_at=now - timedelta(minutes=1))
            )

        with store.transaction(url) as db:
            ids = claim_due(db, now, 100)

        assert len(ids) == 100
    finally:
        next(schemas, None)


def test_two_claims_at_once_never_share_a_row(database_url: str) -> None:
    now = datetime(2026, 3, 9, 15, tzinfo=UTC)
    seed_due(database_url, due=300, later=0, now=now)
    claimed: list[list[int]] = []

    def claim() -> None:
        with store.transaction(database_url) as db:
            claimed.append(claim_due(db, now, 100))

    threads = [threading.Thread(target=claim) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    every = [i for ids in claimed for i in ids]
    assert len(every) == len(set(every)) == 300
    assert all(len(ids) <= 100 for ids in claimed)


def test_rows_never_attempted_when_a_worker_dies_are_planned_again_not_unknown(
    providers: Clinic,
) -> None:
    settings = providers.settings
    providers.import_rows(sms_only(3), BOOKED)
    with store.transaction(settings.database_url) as db:
        ids = claim_due(db, DUE, 10)
    with store.transaction(settings.database_url) as db:
        first, *_ = prepare(db, settings, ids, DUE, Report())
    with store.transaction(settings.database_url) as db:
        start_attempt(db, first.message_id, DUE)  # ...its call goes out, and the worker dies

    after = DUE + timedelta(seconds=settings.lease_seconds + 1)
    with store.transaction(settings.database_url) as db:
        release_stale(db, settings, after)

    statuses = {m["id"]: m["status"] for m in providers.log()}
    assert statuses.pop(first.message_id) == "unknown"
    assert set(statuses.values()) == {"planned"}


def test_a_slow_provider_never_makes_a_live_workers_rows_look_dead(
    providers: Clinic, twilio_api: FakeTwilio
) -> None:
    quiet = providers.settings.quiet_hours.model_copy(update={"end": time(21)})  # none
    settings = providers.settings.model_copy(
        update={"lease_seconds": 1.5, "quiet_hours": quiet, "twilio_timeout": 10.0}
    )
    now = datetime.now(UTC)
    tomorrow = (now + timedelta(hours=23)).isoformat()
    # Planned without quiet hours too: at night in Calgary they would move the reminders
    # to the morning, and nothing would be due.
    clinic = Clinic(settings=settings, folder=providers.folder)
    clinic.import_rows([{**r, "starts_at": tomorrow} for r in sms_only(2)], now)
    # The worker's clock starts at the claim: on a busy machine the import alone can outlast
    # this short lease, which would make the leases look stale from the start.
    now = datetime.now(UTC)
    with store.transaction(settings.database_url) as db:
        ids = claim_due(db, now, 10, settings.lease_seconds)
    assert len(ids) == 2
    for _ in ids:
        twilio_api.delay_next(3.0)  # each call outlasts the lease twice over
    sending = threading.Thread(target=send_claimed, args=(settings, ids, now))
    sending.start()
    while sending.is_alive():  # another beat's pass, over and over, during the slow calls
        with store.transaction(settings.database_url) as db:
            release_stale(db, settings, datetime.now(UTC))
        sending.join(0.2)

    assert {m["status"] for m in providers.log()} == {"sent"}
    assert len(twilio_api.messages) == 2
    with store.transaction(settings.database_url) as db:
        reasons = db.scalars(select(MessageEvent.reason)).all()
    assert not [r for r in reasons if "unknown" in r or "expired" in r]


def attempt_lost_then_lapsed(settings: Settings) -> tuple[int, str]:
    """One attempt taken, then its lease runs out before the answer comes back."""
    with store.transaction(settings.database_url) as db:
        ids = claim_due(db, DUE, 10)
    with store.transaction(settings.database_url) as db:
        (outgoing,) = prepare(db, settings, ids, DUE, Report())
    with store.transaction(settings.database_url) as db:
        token = start_attempt(db, outgoing.message_id, DUE)
    assert token is not None
    after = DUE + timedelta(seconds=settings.lease_seconds + 1)
    with store.transaction(settings.database_url) as db:
        release_stale(db, settings, after)
    return outgoing.message_id, token


def test_an_answer_that_comes_after_the_lease_is_still_recorded(providers: Clinic) -> None:
    settings = providers.settings
    providers.import_rows(sms_only(1), BOOKED)
    message_id, token = attempt_lost_then_lapsed(settings)
    assert providers.log()[0]["status"] == "unknown"

    with store.transaction(settings.database_url) as db:
        message = db.get(Message, message_id)
        assert message is not None
        record_outcome(db, settings, message, "SMlate", DUE, token=token)

    (sms,) = providers.log()
    assert (sms["status"], sms["provider_id"]) == ("sent", "SMlate")


def test_only_the_attempt_holding_the_row_may_record_it(providers: Clinic) -> None:
    settings = providers.settings
    providers.import_rows(sms_only(1), BOOKED)
    message_id, old_token = attempt_lost_then_lapsed(settings)
    later = DUE + timedelta(minutes=20)
    with store.transaction(settings.database_url) as db:
        message = db.get(Message, message_id)
        assert message is not None
        message.status, message.due_at = MessageStatus.PLANNED, later  # the reconciler's retry
    with store.transaction(settings.database_url) as db:
        claim_due(db, later, 10)
        new_token = start_attempt(db, message_id, later)
    assert new_token not in (None, old_token)

    with store.transaction(settings.database_url) as db:
        message = db.get(Message, message_id)
        assert message is not None
        record_outcome(db, settings, message, "SMold", later, token=old_token)

    (sms,) = providers.log()
    assert (sms["status"], sms["provider_id"]) == ("sending", None)
    with store.transaction(settings.database_url) as db:
        reasons = db.scalars(
            select(MessageEvent.reason).where(MessageEvent.message_id == message_id)
        ).all()
    assert "an earlier attempt's answer came late: the provider accepted it" in reasons


@pytest.mark.postgres
def test_threads_of_one_process_migrate_a_new_database_once(postgres_base: str) -> None:
    from tests.conftest import _postgres_schema

    schemas = _postgres_schema(postgres_base)
    url = next(schemas)
    try:
        done: list[bool] = []

        def first_use() -> None:
            with store.transaction(url) as db:
                db.execute(text("SELECT 1"))
            done.append(True)

        threads = [threading.Thread(target=first_use, daemon=True) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)  # a deadlock guard, not a measure of speed
        assert len(done) == 8
    finally:
        next(schemas, None)
