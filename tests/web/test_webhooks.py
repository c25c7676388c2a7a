"""Twilio's webhooks over HTTP, signed with the real RequestValidator, on a real store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from reminders import store
from reminders.config import Settings
from reminders.models import InboundMessage, Message, Patient, PatientRequest, Session
from reminders.web.app import create_app
from tests.harness import Clinic, local
from tests.web.conftest import Clock, form_token, sign_in

TOKEN = "twilio-auth-token-for-tests"
PUBLIC = "https://reminders.example.org/"
AVERY, EMILIE, STRANGER = "+14035550101", "+14035550102", "+14035550199"
# The clinic's +14032027272 as the auto-replies print it: the way patients dial it.
CLINIC_PHONE = "(403) 202-7272"


@pytest.fixture
def web_settings(web_settings: Settings) -> Settings:
    """Behind a proxy: Twilio signs the public URL, not the one the app sees."""
    return web_settings.model_copy(update={"public_url": PUBLIC, "twilio_auth_token": TOKEN})


@pytest.fixture
def client(web_settings: Settings, clinic: Clinic, clock: Clock) -> Iterator[TestClient]:
    """HTTPS, so the secure session cookie works; the host is not the public one Twilio signs."""
    app = create_app(web_settings, clock=clock)
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        yield client


def signature(path: str, params: dict[str, str], base: str = PUBLIC) -> str:
    signed: str = RequestValidator(TOKEN).compute_signature(base.rstrip("/") + path, params)
    return signed


def post(client: TestClient, path: str, params: dict[str, str], sig: str | None = "") -> Any:
    headers = {} if sig is None else {"X-Twilio-Signature": sig or signature(path, params)}
    return client.post(path, data=params, headers=headers)


_count = 0


def inbound(client: TestClient, body: str, sender: str = AVERY, sid: str = "") -> Any:
    global _count
    _count += 1
    params = {"MessageSid": sid or f"SMin{_count:06d}", "From": sender, "Body": body}
    response = post(client, "/webhooks/twilio/inbound", params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/xml")
    assert "<Response/>" in response.text
    return response


def status(client: TestClient, sid: str, value: str, code: str = "") -> Any:
    params = {"MessageSid": sid, "MessageStatus": value}
    if code:
        params["ErrorCode"] = code
    return post(client, "/webhooks/twilio/status", params)


def patient(settings: Settings, external_id: str) -> dict[str, Any]:
    with store.transaction(settings.database_url) as db:
        found = db.scalars(select(Patient).where(Patient.external_id == external_id)).one()
        return {"sms_opt_out": found.sms_opt_out, "email_opt_out": found.email_opt_out}


def session_status(settings: Settings, external_id: str) -> str:
    with store.transaction(settings.database_url) as db:
        found = db.scalars(select(Session).where(Session.external_id == external_id)).one()
        return found.status


def replies_to(clinic: Clinic, phone: str) -> list[str]:
    return [str(m["body"]) for m in clinic.outbox() if m["channel"] == "sms" and m["to"] == phone]


def inbound_rows(settings: Settings) -> list[tuple[str, str | None]]:
    with store.transaction(settings.database_url) as db:
        rows = db.scalars(select(InboundMessage).order_by(InboundMessage.id)).all()
        return [(r.intent, r.auto_reply) for r in rows]


# ---------------------------------------------------------------- keywords


@pytest.mark.parametrize(
    "word",
    [
        *("STOP", "stop", " Stop! ", "STOPALL", "Unsubscribe", "CANCEL", "end", "QUIT"),
        *("revoke", "OPTOUT", "ARRET", "Arrêt", "arrêt."),
    ],
)
def test_it_opts_the_patient_out_of_sms_at_once(
    client: TestClient, clinic: Clinic, web_settings: Settings, word: str
) -> None:
    inbound(client, word)
    assert patient(web_settings, "P1") == {"sms_opt_out": True, "email_opt_out": False}
    assert patient(web_settings, "P2")["sms_opt_out"] is False
    statuses = {(m["session_id"], m["channel"], m["status"]) for m in clinic.log()}
    assert ("S1-1", "sms", "planned") not in statuses
    assert ("S1-1", "email", "planned") in statuses
    french = word.strip(" !.").upper() in ("ARRET", "ARRÊT")
    # Twilio answers its own opt-out words; ARRET gets a French confirmation from us.
    assert len(replies_to(clinic, AVERY)) == (1 if french else 0)
    assert "CANCEL" not in " ".join(replies_to(clinic, AVERY))


@pytest.mark.parametrize("word", ["START", "unstop", "Yes", "OUI", "oui!"])
def test_it_opts_back_in(
    client: TestClient, clinic: Clinic, web_settings: Settings, word: str
) -> None:
    inbound(client, "STOP")
    inbound(client, word)
    assert patient(web_settings, "P1")["sms_opt_out"] is False
    assert session_status(web_settings, "S1-1") == "booked"  # OUI while opted out is no confirm
    statuses = {(m["session_id"], m["channel"], m["status"]) for m in clinic.log()}
    assert ("S1-1", "sms", "planned") in statuses


@pytest.mark.parametrize(
    ("sender", "word", "session", "expected"),
    [
        (AVERY, "C", "S1-1", "confirmed"),
        (AVERY, " c. ", "S1-1", "confirmed"),
        (EMILIE, "OUI", "S2-1", "confirmé"),
        (EMILIE, "Oui", "S2-1", "confirmé"),
        (EMILIE, "c", "S2-1", "confirmé"),
    ],
)
def test_it_confirms_the_next_session_with_an_acknowledgement(
    client: TestClient,
    clinic: Clinic,
    web_settings: Settings,
    clock: Clock,
    sender: str,
    word: str,
    session: str,
    expected: str,
) -> None:
    inbound(client, word, sender)
    assert session_status(web_settings, session) == "confirmed"
    assert session_status(web_settings, "S1-2") == "booked"
    with store.transaction(web_settings.database_url) as db:
        found = db.scalars(select(Session).where(Session.external_id == session)).one()
        assert found.status_changed_at == clock.now
    (reply,) = replies_to(clinic, sender)
    assert expected in reply
    assert "CANCEL" not in reply


@pytest.mark.parametrize(
    ("sender", "word", "language_hint"),
    [(AVERY, "HELP", "call"), (AVERY, "help?", "call"), (EMILIE, "AIDE", "Tél. :")],
)
def test_it_answers_help_with_the_clinics_name_and_phone(
    client: TestClient,
    clinic: Clinic,
    web_settings: Settings,
    sender: str,
    word: str,
    language_hint: str,
) -> None:
    inbound(client, word, sender)
    (reply,) = replies_to(clinic, sender)
    assert web_settings.clinic.name in reply
    assert web_settings.clinic.phone == "+14032027272" and CLINIC_PHONE in reply
    assert language_hint in reply
    assert inbound_rows(web_settings) == [("help", reply)]


def test_it_answers_other_text_at_most_once_a_day(
    client: TestClient, clinic: Clinic, web_settings: Settings, clock: Clock
) -> None:
    inbound(client, "Can I bring my daughter?")
    inbound(client, "Hello??")
    inbound(client, "Bonjour", EMILIE)
    assert len(replies_to(clinic, AVERY)) == 1
    assert "not monitored" in replies_to(clinic, AVERY)[0]
    assert CLINIC_PHONE in replies_to(clinic, AVERY)[0]
    assert "pas surveillé" in replies_to(clinic, EMILIE)[0]
    clock.now = local("2026-03-06 08:00")
    inbound(client, "Still there?")
    assert len(replies_to(clinic, AVERY)) == 2
    assert [i for i, _ in inbound_rows(web_settings)] == ["other"] * 4


def test_it_stores_a_repeated_webhook_once(
    client: TestClient, clinic: Clinic, web_settings: Settings
) -> None:
    inbound(client, "C", sid="SMsame")
    inbound(client, "C", sid="SMsame")
    assert len(inbound_rows(web_settings)) == 1
    assert len(replies_to(clinic, AVERY)) == 1


def test_it_keeps_a_text_from_an_unknown_number_for_staff(
    client: TestClient, clinic: Clinic, web_settings: Settings
) -> None:
    inbound(client, "STOP", STRANGER)
    inbound(client, "who is this", STRANGER)
    assert [i for i, _ in inbound_rows(web_settings)] == ["opt_out", "other"]
    assert patient(web_settings, "P1")["sms_opt_out"] is False


def test_reschedule_requests_show_on_attention_until_handled(
    client: TestClient, clinic: Clinic, web_settings: Settings, staff: str
) -> None:
    inbound(client, "R")
    inbound(client, "Je serai en retard", EMILIE)
    (reply,) = replies_to(clinic, AVERY)
    assert "call you" in reply
    with store.transaction(web_settings.database_url) as db:
        request = db.scalars(select(InboundMessage).where(InboundMessage.intent == "reschedule"))
        first = request.one()
        assert first.session is not None and first.session.external_id == "S1-1"
        first_id = first.id
    sign_in(client, staff)
    page = client.get("/attention").text
    # The "R" is one item, the patient's request; the free text is a reply to read.
    requests, replies = group(page, "request"), group(page, "reply")
    assert "Avery Nguyen" in requests and "asked for another time by SMS" in requests
    assert "Avery Nguyen" not in replies and "Je serai en retard" in replies
    token = form_token(client, "/attention")
    forged = client.post(f"/attention/replies/{first_id}/handled", data={"csrf_token": "x"})
    assert forged.status_code == 403
    done = client.post(f"/attention/replies/{first_id}/handled", data={"csrf_token": token})
    assert done.status_code == 303
    page = client.get("/attention").text
    assert "Avery Nguyen" not in group(page, "request")
    assert "Je serai en retard" in group(page, "reply")
    with store.transaction(web_settings.database_url) as db:
        handled = db.get(InboundMessage, first_id)
        assert handled is not None and handled.handled_by == staff
        request_row = db.scalars(select(PatientRequest)).one()
        assert request_row.handled_by == staff


def group(page: str, key: str) -> str:
    """One group of the call list (Needs attention), by its key."""
    return page.split(f'id="group-{key}"', 1)[1].split("</section>", 1)[0]


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize(
    "sig",
    [
        None,  # missing
        "bm90IGEgc2lnbmF0dXJl",  # forged
        signature(
            "/webhooks/twilio/inbound",
            {"MessageSid": "SMx", "From": AVERY, "Body": "STOP"},
            "https://elsewhere.example.org",
        ),  # signed for another URL
        signature(
            "/webhooks/twilio/inbound",
            {"MessageSid": "SMx", "From": AVERY, "Body": "START"},
        ),  # signed for other fields
    ],
)
def test_it_refuses_unsigned_or_forged_inbound_webhooks(
    client: TestClient, clinic: Clinic, web_settings: Settings, sig: str | None
) -> None:
    params = {"MessageSid": "SMx", "From": AVERY, "Body": "STOP"}
    response = post(client, "/webhooks/twilio/inbound", params, sig)
    assert response.status_code == 403
    assert patient(web_settings, "P1")["sms_opt_out"] is False
    assert inbound_rows(web_settings) == []


def test_it_refuses_a_forged_status_callback(
    client: TestClient, clinic: Clinic, web_settings: Settings, clock: Clock
) -> None:
    sid = _sent_sms(clinic, clock)
    params = {"MessageSid": sid, "MessageStatus": "failed", "ErrorCode": "30006"}
    assert post(client, "/webhooks/twilio/status", params, "forged").status_code == 403
    assert post(client, "/webhooks/twilio/status", params, None).status_code == 403
    assert _message(web_settings, sid)["status"] == "sent"


@pytest.mark.parametrize("missing", ["public_url", "twilio_auth_token"])
def test_it_refuses_webhooks_when_not_configured(
    web_settings: Settings, clinic: Clinic, clock: Clock, missing: str
) -> None:
    settings = web_settings.model_copy(update={missing: ""})
    params = {"MessageSid": "SMy", "From": AVERY, "Body": "STOP"}
    with TestClient(create_app(settings, clock=clock)) as bare:
        assert post(bare, "/webhooks/twilio/inbound", params).status_code == 403
    assert patient(web_settings, "P1")["sms_opt_out"] is False


def test_it_signs_with_the_query_string_too(
    client: TestClient, clinic: Clinic, web_settings: Settings
) -> None:
    params = {"MessageSid": "SMq", "From": AVERY, "Body": "STOP"}
    path = "/webhooks/twilio/inbound?clinic=main"
    response = post(client, path, params, signature(path, params))
    assert response.status_code == 200
    assert patient(web_settings, "P1")["sms_opt_out"] is True


# ---------------------------------------------------------------- status callbacks


def _sent_sms(clinic: Clinic, clock: Clock) -> str:
    """Tick to the 24-hour SMS of S1-1 and return its provider id."""
    clock.now = local("2026-03-09 14:05")
    clinic.tick(clock.now)
    (sent,) = [
        m
        for m in clinic.log()
        if m["session_id"] == "S1-1" and m["channel"] == "sms" and m["status"] == "sent"
    ]
    return str(sent["provider_id"])


def _message(settings: Settings, sid: str) -> dict[str, Any]:
    with store.transaction(settings.database_url) as db:
        found = db.scalars(select(Message).where(Message.provider_id == sid)).one()
        return {
            "status": found.status,
            "reason": found.reason,
            "provider_status": found.provider_status,
            "events": [e.status for e in found.events],
        }


def test_status_callbacks_move_a_message_forward_only(
    client: TestClient, clinic: Clinic, web_settings: Settings, clock: Clock
) -> None:
    sid = _sent_sms(clinic, clock)
    assert status(client, sid, "sent").status_code == 204
    assert _message(web_settings, sid)["provider_status"] == "sent"
    assert status(client, sid, "delivered").status_code == 204
    delivered = _message(web_settings, sid)
    assert delivered["status"] == "delivered"
    assert delivered["reason"] == "Twilio: delivered"
    for late in ("delivered", "sent", "queued", "failed"):  # repeated and out of order
        assert status(client, sid, late, "30003" if late == "failed" else "").status_code == 204
    assert _message(web_settings, sid) == delivered
    assert delivered["events"].count("delivered") == 1


def test_an_unknown_sid_is_answered_and_changes_nothing(
    client: TestClient, clinic: Clinic, clock: Clock
) -> None:
    sid = _sent_sms(clinic, clock)
    before = clinic.log()
    assert status(client, "SMunknown", "delivered").status_code == 204
    assert clinic.log() == before
    assert sid


def test_a_permanent_failure_falls_back_to_email_once(
    client: TestClient, clinic: Clinic, web_settings: Settings, clock: Clock, staff: str
) -> None:
    sid = _sent_sms(clinic, clock)
    emails = len([m for m in clinic.outbox() if m["channel"] == "email"])
    status(client, sid, "undelivered", "30006")
    status(client, sid, "undelivered", "30006")
    status(client, sid, "failed", "30006")
    failed = _message(web_settings, sid)
    assert failed["status"] == "undelivered"
    assert failed["reason"] == "Twilio: undelivered (error 30006)"
    sent = [m for m in clinic.outbox() if m["channel"] == "email"]
    assert len(sent) == emails + 1
    assert sent[-1]["to"] == "avery@example.com"
    (fallback,) = [m for m in clinic.log() if m["triggered_by"] == "sms-fallback"]
    assert (fallback["channel"], fallback["status"], fallback["kind"]) == (
        "email",
        "sent",
        "session_reminder",
    )
    sign_in(client, staff)
    page = client.get("/attention").text
    assert "undelivered (error 30006)" in page


def test_a_failure_that_is_not_about_the_number_does_not_fall_back(
    client: TestClient, clinic: Clinic, web_settings: Settings, clock: Clock
) -> None:
    sid = _sent_sms(clinic, clock)
    emails = len([m for m in clinic.outbox() if m["channel"] == "email"])
    status(client, sid, "failed", "30007")  # carrier filtering: email would not fix it
    assert _message(web_settings, sid)["status"] == "failed"
    assert len([m for m in clinic.outbox() if m["channel"] == "email"]) == emails


def test_its_logs_carry_no_phone_numbers_or_message_text(
    client: TestClient, clinic: Clinic, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    sid = _sent_sms(clinic, clock)
    inbound(client, "Please call me at home", sid="SMlog1")
    inbound(client, "HELP", sid="SMlog2")
    status(client, sid, "undelivered", "30003")
    text = caplog.text
    assert "SMlog1" in text
    for secret in (AVERY, "5550101", "Please call me", "Avery", "avery@example.com"):
        assert secret not in text
