"""The public unsubscribe pages: signed token in, opt-out recorded, follow-ups stop."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.models import Patient
from reminders.wording.unsubscribe_links import make_token
from tests.harness import Clinic, local, row


def token_for(settings: Settings, external_id: str) -> str:
    return make_token(settings, Patient(external_id=external_id))


def flags(settings: Settings, external_id: str) -> tuple[bool, bool]:
    """(followup_email_opt_out, email_opt_out)"""
    with store.transaction(settings.database_url) as db:
        patient = db.scalars(select(Patient).where(Patient.external_id == external_id)).one()
        return patient.followup_email_opt_out, patient.email_opt_out


def test_the_page_offers_both_choices_without_a_login(
    client: TestClient, web_settings: Settings
) -> None:
    response = client.get(f"/unsubscribe/{token_for(web_settings, 'P1')}")

    assert response.status_code == 200
    assert "Stop follow-up emails" in response.text
    assert "Stop all emails (session reminders too)" in response.text
    assert flags(web_settings, "P1") == (False, False)


def test_the_page_speaks_the_patients_language(client: TestClient, web_settings: Settings) -> None:
    response = client.get(f"/unsubscribe/{token_for(web_settings, 'P2')}")
    assert "Ne plus recevoir les courriels de suivi" in response.text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_bad_token_changes_nothing(
    client: TestClient, web_settings: Settings, method: str
) -> None:
    forged = token_for(web_settings.model_copy(update={"secret_key": "y" * 40}), "P1")
    response = client.request(method, f"/unsubscribe/{forged}", data={"scope": "all"})

    assert response.status_code == 404
    assert "not valid" in response.text
    assert flags(web_settings, "P1") == (False, False)


def test_a_token_for_a_patient_no_longer_on_file_is_refused(
    client: TestClient, web_settings: Settings
) -> None:
    response = client.post(f"/unsubscribe/{token_for(web_settings, 'P9')}")
    assert response.status_code == 404


@pytest.mark.parametrize(
    "data", [{"List-Unsubscribe": "One-Click"}, {}, {"scope": "followups"}], ids=str
)
def test_a_one_click_post_stops_follow_up_emails_only(
    client: TestClient, web_settings: Settings, data: dict[str, str]
) -> None:
    response = client.post(f"/unsubscribe/{token_for(web_settings, 'P1')}", data=data)

    assert response.status_code == 200
    assert "no longer get follow-up emails" in response.text
    assert flags(web_settings, "P1") == (True, False)


def test_scope_all_stops_every_email_and_withdraws_planned_reminders(
    client: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    assert "planned" in [m["status"] for m in clinic.log(patient_id="P1", channel="email")]
    response = client.post(f"/unsubscribe/{token_for(web_settings, 'P1')}", data={"scope": "all"})

    assert response.status_code == 200
    assert "no longer get any email" in response.text
    assert flags(web_settings, "P1") == (True, True)
    assert "planned" not in [m["status"] for m in clinic.log(patient_id="P1", channel="email")]
    assert "planned" in [m["status"] for m in clinic.log(patient_id="P1", channel="sms")]


def test_after_unsubscribing_follow_ups_stop_and_session_reminders_continue(
    client: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    done = row(
        patient_id="P3",
        phone="",
        email="sam@example.com",
        series_id="S3",
        session_id="S3-1",
        status="completed",
        starts_at="2026-03-04T14:00-07:00",
    )
    booked = {**done, "session_id": "S3-2", "session_number": 2, "status": "booked"}
    booked["starts_at"] = "2026-03-25T14:00-06:00"
    clinic.import_rows([done, booked], local("2026-03-04 16:00"))
    assert [m["kind"] for m in clinic.log(patient_id="P3", status="planned")].count("aftercare")

    response = client.post(
        f"/unsubscribe/{token_for(web_settings, 'P3')}", data={"List-Unsubscribe": "One-Click"}
    )
    assert response.status_code == 200
    clinic.tick(local("2026-03-05 10:30"))  # when the after-care email was due
    assert [m for m in clinic.outbox() if m["to"] == "sam@example.com"] == []
    assert "planned" not in [m["status"] for m in clinic.log(patient_id="P3", kind="aftercare")]

    clinic.tick(local("2026-03-22 14:30"))  # the email-72h reminder for S3-2
    (reminder,) = [m for m in clinic.outbox() if m["to"] == "sam@example.com"]
    assert reminder["channel"] == "email"
    (sent,) = clinic.log(patient_id="P3", status="sent")
    assert (sent["kind"], sent["session_id"]) == ("session_reminder", "S3-2")
