"""Needs attention lists SMS that Twilio never reported on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from reminders.config import Settings
from reminders.staff.accounts import add_user
from reminders.web.app import create_app
from tests.harness import Clinic, local
from tests.web.conftest import NOW, PASSWORD, Clock, sign_in


def test_an_sms_with_no_delivery_report_after_a_day_needs_attention(
    web_settings: Settings, clinic: Clinic
) -> None:
    settings = web_settings.model_copy(update={"public_url": "https://clinic.example"})
    clinic.tick(local("2026-03-09 14:00"))  # S1-1's SMS goes out; no status callback follows
    add_user(settings, "dana", "staff", PASSWORD, NOW)
    app = create_app(settings, clock=Clock(local("2026-03-10 15:00")))
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        sign_in(client, "dana")
        page = client.get("/attention").text

    section = page.split("SMS with no delivery report", 1)[1].split("<h2>", 1)[0]
    assert "Avery Nguyen" in section
    assert "session reminder" in section
