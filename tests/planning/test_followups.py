"""Follow-ups are planned from where a series stands, and withdrawn the moment it changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reminders.config import Settings
from reminders.planning.followups import set_paused
from reminders.staff.drift import drifting
from tests.harness import Clinic, local, row

SERIES = {"planned_sessions": 4}


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    return Clinic(settings, tmp_path)


def visit(number: int, starts_at: str, status: str = "booked", **extra: Any) -> dict[str, Any]:
    return row(
        session_id=f"S1-{number}",
        session_number=number,
        starts_at=starts_at,
        status=status,
        **SERIES,
        **extra,
    )


def followups(clinic: Clinic) -> list[tuple[str, str, str, str]]:
    return [
        (m["rule"], m["channel"], m["status"], m["due_at"])
        for m in clinic.log()
        if m["kind"] != "session_reminder"
    ]


def test_a_completed_session_gets_aftercare_the_next_morning(clinic: Clinic) -> None:
    clinic.import_rows(
        [visit(1, "2026-03-03T14:00", "completed"), visit(2, "2026-03-24T14:00")],
        local("2026-03-03 18:00"),
    )

    assert followups(clinic) == [
        ("aftercare", "email", "planned", local("2026-03-04 10:00").isoformat())
    ]


def test_with_nothing_booked_two_nudges_follow_by_both_channels(clinic: Clinic) -> None:
    clinic.import_rows([visit(1, "2026-03-03T14:00", "completed")], local("2026-03-03 18:00"))

    assert followups(clinic) == [
        ("aftercare", "email", "planned", local("2026-03-04 10:00").isoformat()),
        ("rebook_nudge-1", "email", "planned", local("2026-03-10 14:00").isoformat()),
        ("rebook_nudge-2", "sms", "planned", local("2026-03-17 14:00").isoformat()),
    ]


def test_booking_the_next_session_withdraws_the_nudges(clinic: Clinic) -> None:
    done = visit(1, "2026-03-03T14:00", "completed")
    clinic.import_rows([done], local("2026-03-03 18:00"))
    clinic.import_rows([done, visit(2, "2026-03-24T14:00")], local("2026-03-05 09:00"))

    nudges = [f for f in followups(clinic) if f[0].startswith("rebook_nudge")]
    assert [(rule, status) for rule, _, status, _ in nudges] == [
        ("rebook_nudge-1", "cancelled"),
        ("rebook_nudge-2", "cancelled"),
    ]
    reasons = {m["reason"] for m in clinic.log(status="cancelled")}
    assert reasons == {"next session booked (S1-2)"}


def test_a_nudge_already_claimed_is_skipped_when_a_booking_arrives(clinic: Clinic) -> None:
    from reminders import store
    from reminders.sending.claims import claim_due
    from reminders.sending.dispatch import send_claimed

    done = visit(1, "2026-03-03T14:00", "completed")
    clinic.import_rows([done], local("2026-03-03 18:00"))
    clinic.tick(local("2026-03-04 10:00"))  # the after-care goes out
    now = local("2026-03-10 14:00")
    with store.transaction(clinic.settings.database_url) as db:
        ids = claim_due(db, now, 10)
    clinic.import_rows([done, visit(2, "2026-03-24T14:00")], now)
    report = send_claimed(clinic.settings, ids, now)

    assert report.outcomes["skipped"] == 1
    (nudge,) = [m for m in clinic.log() if m["rule"] == "rebook_nudge-1"]
    assert (nudge["status"], nudge["reason"]) == ("skipped", "next session booked (S1-2)")


def test_a_no_show_gets_a_note_two_hours_after_the_session_ended(clinic: Clinic) -> None:
    clinic.import_rows(
        [visit(1, "2026-03-03T14:00", "completed"), visit(2, "2026-03-24T14:00", "no_show")],
        local("2026-03-24 15:00"),
    )

    missed = [f for f in followups(clinic) if f[0] == "missed_session"]
    assert missed == [("missed_session", "email", "planned", local("2026-03-24 16:30").isoformat())]
    nudges = [f[3] for f in followups(clinic) if f[0].startswith("rebook_nudge")]
    assert nudges == [local("2026-03-31 14:00").isoformat(), local("2026-04-07 14:00").isoformat()]


def test_a_late_no_show_note_waits_for_sending_hours(clinic: Clinic) -> None:
    clinic.import_rows([visit(1, "2026-03-03T19:30", "no_show")], local("2026-03-03 20:00"))

    missed = [f for f in followups(clinic) if f[0] == "missed_session"]
    assert missed == [("missed_session", "email", "planned", local("2026-03-04 08:00").isoformat())]


def test_a_cancellation_counts_from_when_it_was_seen(clinic: Clinic) -> None:
    done = visit(1, "2026-03-03T14:00", "completed")
    clinic.import_rows([done, visit(2, "2026-03-24T14:00")], local("2026-03-03 18:00"))
    clinic.import_rows([done, visit(2, "2026-03-24T14:00", "cancelled")], local("2026-03-12 09:00"))

    nudges = [(f[0], f[3]) for f in followups(clinic) if f[2] == "planned" and "nudge" in f[0]]
    assert nudges == [
        ("rebook_nudge-1", local("2026-03-19 09:00").isoformat()),
        ("rebook_nudge-2", local("2026-03-26 09:00").isoformat()),
    ]


def test_a_cancellation_seen_after_the_session_counts_from_the_session(clinic: Clinic) -> None:
    done = visit(1, "2026-03-03T14:00", "completed")
    clinic.import_rows([done, visit(2, "2026-03-24T14:00", "cancelled")], local("2026-03-25 09:00"))

    nudges = [f[3] for f in followups(clinic) if "nudge" in f[0]]
    assert nudges[0] == local("2026-03-31 14:00").isoformat()


def test_the_final_session_gets_congratulations_and_no_nudges(clinic: Clinic) -> None:
    rows = [visit(n, f"2026-0{n + 1}-03T14:00", "completed") for n in range(1, 5)]
    clinic.import_rows(rows, local("2026-05-03 18:00"))

    assert followups(clinic) == [
        ("series_complete", "email", "planned", local("2026-05-04 10:00").isoformat())
    ]


def test_old_history_does_not_plan_stale_follow_ups(clinic: Clinic) -> None:
    rows = [visit(1, "2025-10-01T14:00", "completed"), visit(2, "2026-03-24T14:00")]
    clinic.import_rows(rows, local("2026-03-01 09:00"))

    assert followups(clinic) == []


def test_a_patient_without_email_gets_follow_ups_by_sms(clinic: Clinic) -> None:
    clinic.import_rows(
        [visit(1, "2026-03-03T14:00", "completed", email="")], local("2026-03-03 18:00")
    )

    assert [(f[0], f[1]) for f in followups(clinic)] == [
        ("aftercare", "sms"),
        ("rebook_nudge-1", "sms"),
        ("rebook_nudge-2", "sms"),
    ]


def test_pausing_a_series_withdraws_its_follow_ups_and_resuming_plans_them(
    clinic: Clinic,
) -> None:
    clinic.import_rows([visit(1, "2026-03-03T14:00", "completed")], local("2026-03-03 18:00"))
    set_paused(clinic.settings, "S1", True, local("2026-03-03 19:00"))

    assert {(f[2]) for f in followups(clinic)} == {"cancelled"}
    assert {m["reason"] for m in clinic.log(status="cancelled")} == {"series paused"}
    set_paused(clinic.settings, "S1", False, local("2026-03-03 20:00"))
    assert {(f[2]) for f in followups(clinic)} == {"planned"}


def test_a_series_drifts_past_its_interval_plus_tolerance(clinic: Clinic) -> None:
    clinic.import_rows(
        [visit(1, "2026-03-03T14:00", "completed", target_interval_days=14)],
        local("2026-03-03 18:00"),
    )

    assert drifting(clinic.settings, local("2026-03-24 14:00")) == []
    (record,) = drifting(clinic.settings, local("2026-03-24 15:00"))
    assert (record["patient_id"], record["series_id"], record["days_overdue"]) == ("P1", "S1", 7)
    assert record["last_session"]["session_id"] == "S1-1"
    assert drifting(clinic.settings, local("2026-03-24 15:00"))[0]["sent"] == []


def test_follow_up_emails_offer_a_way_to_unsubscribe(settings: Settings, tmp_path: Path) -> None:
    import email
    import email.policy

    clinic_settings = settings.model_copy(
        update={"clinic": settings.clinic.model_copy(update={"email": "desk@clinic.example"})}
    )
    clinic = Clinic(clinic_settings, tmp_path)
    clinic.import_rows(
        [visit(1, "2026-03-03T14:00", "completed"), visit(2, "2026-03-24T14:00")],
        local("2026-03-03 18:00"),
    )
    clinic.tick(local("2026-03-04 10:00"))

    (eml,) = (tmp_path / "outbox").glob("*.eml")
    sent = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    assert sent["List-Unsubscribe"] == "<mailto:desk@clinic.example?subject=unsubscribe>"
    text = sent.get_body(preferencelist=("plain",))
    html = sent.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "mailto:desk@clinic.example?subject=unsubscribe" in text.get_content()
    assert "mailto:desk@clinic.example?subject=unsubscribe" in html.get_content()
    assert "March 24" in text.get_content()  # the next session's date
