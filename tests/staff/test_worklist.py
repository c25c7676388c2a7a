"""The call list's rules: what closes an item, what brings it back, what is refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.feedback.replies import receive
from reminders.journal import record
from reminders.models import InboundMessage, Message, PatientRequest, StaffAction
from reminders.staff.worklist import (
    WorklistError,
    call_list,
    needs_attention,
    record_outcome,
    set_paused,
)
from tests.harness import Clinic, row

NOW = datetime(2026, 3, 5, 16, tzinfo=UTC)


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    clinic = Clinic(settings, tmp_path)
    clinic.import_rows(
        [row(planned_sessions=4, starts_at="2026-01-05T10:00:00-07:00", status="completed")],
        NOW,
    )
    return clinic


def listed(settings: Settings) -> dict[str, str]:
    return {item.item: item.situation for item in call_list(settings, NOW)}


def test_a_drifting_series_is_listed_with_its_reason_and_last_session(
    clinic: Clinic, settings: Settings
) -> None:
    (item,) = call_list(settings, NOW)

    assert (item.item, item.group, item.situation) == (
        "series:S1",
        "drift",
        "overdue:S1-1:completed",
    )
    assert item.patient_name == "Avery Nguyen" and item.phone == "+14035550101"


@pytest.mark.parametrize(
    ("outcome", "stays"),
    [
        ("called", False),
        ("booked", False),
        ("wrong_number", False),
        ("handled", False),
        ("left_message", True),
    ],
)
def test_closing_outcomes_take_an_item_off_and_a_left_message_keeps_it(
    clinic: Clinic, settings: Settings, outcome: str, stays: bool
) -> None:
    situation = listed(settings)["series:S1"]

    record_outcome(settings, "series:S1", situation, outcome, "", "dana", NOW)

    assert ("series:S1" in listed(settings)) is stays


def test_an_outcome_in_an_older_situation_does_not_close_the_current_one(
    clinic: Clinic, settings: Settings
) -> None:
    record_outcome(settings, "series:S1", "no_show:S1-0:no_show", "called", "", "dana", NOW)

    assert "series:S1" in listed(settings)


@pytest.mark.parametrize(
    ("item", "outcome", "note", "problem"),
    [
        ("series:S9", "called", "", "no call-list item 'series:S9'"),
        ("message:12345", "handled", "", "no call-list item 'message:12345'"),
        ("patient:P1", "called", "", "no call-list item 'patient:P1'"),
        ("series:S1", "ignored", "", "unknown outcome 'ignored'"),
        ("series:S1", "note", "  ", "a note needs some text"),
    ],
)
def test_a_bad_outcome_is_refused_saying_what_and_writes_nothing(
    clinic: Clinic, settings: Settings, item: str, outcome: str, note: str, problem: str
) -> None:
    with pytest.raises(WorklistError, match=problem):
        record_outcome(settings, item, "x", outcome, note, "dana", NOW)

    with store.transaction(settings.database_url) as db:
        assert db.scalars(select(StaffAction)).all() == []


def test_a_message_marked_handled_gets_an_event_on_its_own_trail(
    clinic: Clinic, settings: Settings
) -> None:
    clinic.import_rows(
        [row(session_id="S1-2", session_number=2, starts_at="2026-03-10T14:00-06:00")], NOW
    )
    with store.transaction(settings.database_url) as db:
        message = db.scalars(select(Message).order_by(Message.id)).first()
        assert message is not None
        record(db, message, "failed", "permanent error (21211): invalid", NOW)
        message_id = message.id
    assert listed(settings)[f"message:{message_id}"] == "failed"

    record_outcome(settings, f"message:{message_id}", "failed", "handled", "fixed", "dana", NOW)

    assert f"message:{message_id}" not in listed(settings)
    with store.transaction(settings.database_url) as db:
        events = db.get(Message, message_id).events  # type: ignore[union-attr]
        assert (events[-1].status, events[-1].actor) == ("failed", "dana")


def failed_messages(clinic: Clinic, settings: Settings) -> None:
    """Every planned message of four more sessions failed at the provider."""
    clinic.import_rows(
        [
            row(session_id=f"S1-{n}", session_number=n, starts_at=f"2026-03-{9 + n}T14:00-06:00")
            for n in range(2, 6)
        ],
        NOW,
    )
    with store.transaction(settings.database_url) as db:
        for message in db.scalars(select(Message)):
            record(db, message, "failed", "permanent error (21211): invalid", NOW)


def shown_messages(settings: Settings, first: int | None) -> tuple[list[str], int]:
    group = next(
        g for g in needs_attention(settings, NOW, {"message": first}) if g.key == "message"
    )
    return [item.item for item in group.items], group.count


def test_closed_items_never_hide_open_ones_behind_the_first_shown(
    clinic: Clinic, settings: Settings
) -> None:
    failed_messages(clinic, settings)
    every, count = shown_messages(settings, None)
    assert count == len(every) >= 8

    for item in every[:5]:  # the top of the list, closed one by one
        record_outcome(settings, item, "failed", "handled", "", "dana", NOW)

    assert shown_messages(settings, 2) == (every[5:7], count - 5)
    assert shown_messages(settings, None) == (every[5:], count - 5)


def test_an_sms_closed_for_no_report_leaves_and_is_not_counted(
    clinic: Clinic, settings: Settings
) -> None:
    settings = settings.model_copy(update={"public_url": "https://clinic.example"})
    clinic.import_rows([row(session_id="S1-2", session_number=2)], NOW)
    with store.transaction(settings.database_url) as db:
        sms = db.scalars(select(Message).where(Message.channel == "sms")).first()
        assert sms is not None
        record(db, sms, "sent", "accepted by Twilio", NOW - timedelta(days=2))
        sms.sent_at = NOW - timedelta(days=2)  # and Twilio never reported on it
        item = f"message:{sms.id}"

    def stale() -> tuple[list[str], int]:
        group = next(g for g in needs_attention(settings, NOW) if g.key == "no_report")
        return [i.item for i in group.items], group.count

    assert stale() == ([item], 1)
    record_outcome(settings, item, "no_report", "wrong_number", "", "dana", NOW)
    assert stale() == ([], 0)


def texted_r_twice(clinic: Clinic, settings: Settings) -> list[str]:
    """Sam, booked for 10 March, answers the reminder with "R", then "R" again: the
    replies and requests on the list (one request, no reply: one wish, one item)."""
    clinic.import_rows(
        [
            row(
                patient_id="P2",
                first_name="Sam",
                phone="+14035550102",
                series_id="S2",
                session_id="S2-1",
            )
        ],
        NOW,
    )
    receive(settings, "SM-r1", "+14035550102", "R", datetime(2026, 3, 5, 14, tzinfo=UTC))
    receive(settings, "SM-r2", "+14035550102", "r", datetime(2026, 3, 5, 15, tzinfo=UTC))
    receive(
        settings, "SM-t1", "+14035550102", "Mornings only", datetime(2026, 3, 5, 15, 5, tzinfo=UTC)
    )
    return sorted(item for item in listed(settings) if not item.startswith("series:"))


def handled_by(settings: Settings) -> tuple[list[str | None], list[str | None]]:
    """Who handled each "R" reply, and each request."""
    with store.transaction(settings.database_url) as db:
        replies = db.scalars(
            select(InboundMessage.handled_by)
            .where(InboundMessage.intent == "reschedule")
            .order_by(InboundMessage.id)
        ).all()
        requests = db.scalars(select(PatientRequest.handled_by).order_by(PatientRequest.id))
        return list(replies), list(requests.all())


def request_and_replies(settings: Settings) -> tuple[int, list[int]]:
    with store.transaction(settings.database_url) as db:
        request_id = db.scalars(select(PatientRequest.id)).one()
        replies = db.scalars(select(InboundMessage.id).order_by(InboundMessage.id)).all()
        return request_id, list(replies)


def test_an_sms_r_is_listed_once_as_its_request_and_handling_it_closes_the_replies(
    clinic: Clinic, settings: Settings
) -> None:
    items = texted_r_twice(clinic, settings)
    request_id, (_, _, free_text) = request_and_replies(settings)

    # The free text is a reply of its own; both "R"s are the one request.
    assert items == sorted([f"request:{request_id}", f"reply:{free_text}"])
    record_outcome(settings, f"request:{request_id}", "open", "booked", "", "dana", NOW)

    assert [item for item in listed(settings) if not item.startswith("series:")] == [
        f"reply:{free_text}"
    ]
    assert handled_by(settings) == (["dana", "dana"], ["dana"])


def test_handling_the_r_reply_closes_its_request_too(clinic: Clinic, settings: Settings) -> None:
    texted_r_twice(clinic, settings)
    request_id, (first_r, _, free_text) = request_and_replies(settings)

    # Through the reply's own item (the old Needs attention form still posts it).
    record_outcome(settings, f"reply:{first_r}", "open", "called", "", "dana", NOW)

    assert f"request:{request_id}" not in listed(settings)
    assert handled_by(settings) == (["dana", "dana"], ["dana"])
    assert f"reply:{free_text}" in listed(settings)


def test_pausing_takes_a_series_off_the_list_and_is_journaled(
    clinic: Clinic, settings: Settings
) -> None:
    set_paused(settings, "S1", True, "dana", NOW)
    assert "series:S1" not in listed(settings)

    set_paused(settings, "S1", False, "dana", NOW)
    assert "series:S1" in listed(settings)
    with pytest.raises(LookupError, match="no series 'S9'"):
        set_paused(settings, "S9", True, "dana", NOW)
    with store.transaction(settings.database_url) as db:
        actions = db.scalars(select(StaffAction.action).order_by(StaffAction.id)).all()
    assert actions == ["paused", "resumed"]
