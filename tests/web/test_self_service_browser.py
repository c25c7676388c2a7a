"""The self-service page on a phone: Debian's chromium at 390 px wide, JavaScript off."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from reminders.config import Settings
from reminders.web.app import create_app
from tests.harness import Clinic
from tests.web.conftest import Clock
from tests.web.live import serving
from tests.web.test_self_service_pages import requests_of, session_row, token_for

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
PHONE: ViewportSize = {"width": 390, "height": 844}


@pytest.fixture
def server(web_settings: Settings, clinic: Clinic, clock: Clock) -> Iterator[str]:
    with serving(create_app(web_settings, clock=clock)) as url:
        yield url


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, is_mobile=True)
    yield context.new_page()
    context.close()


def fits_the_screen(page: Page) -> bool:
    width: int = page.evaluate("document.documentElement.scrollWidth")
    return width <= PHONE["width"]


def test_a_patient_confirms_on_a_phone_without_javascript(
    phone: Page, server: str, web_settings: Settings, tmp_path: Path
) -> None:
    phone.goto(f"{server}/appointment/{token_for(web_settings, 'S1-1')}")
    assert fits_the_screen(phone)
    phone.screenshot(path=tmp_path / "appointment.png", full_page=True)

    phone.get_by_role("button", name="Confirm this appointment").click()

    expect(phone.locator(".notice")).to_have_text("Thank you: your appointment is confirmed.")
    assert session_row(web_settings, "S1-1")[0] == "confirmed"
    assert fits_the_screen(phone)


def test_a_patient_asks_for_other_days_in_french_on_a_phone(
    phone: Page, server: str, web_settings: Settings
) -> None:
    phone.goto(f"{server}/appointment/{token_for(web_settings, 'S2-1')}")
    assert fits_the_screen(phone)

    phone.get_by_label("vendredi 13 mars").check()
    phone.get_by_label("lundi 16 mars").check()
    phone.get_by_label("Une précision ? (facultatif)").fill("le matin")
    phone.get_by_role("button", name="Demander un autre moment").click()

    expect(phone.locator(".notice")).to_contain_text("la clinique vous appellera")
    expect(phone.locator(".pending")).to_contain_text("vendredi 13 mars, lundi 16 mars")
    [request] = requests_of(web_settings)
    assert (request.kind, request.preferred_days, request.note) == (
        "reschedule",
        "2026-03-13,2026-03-16",
        "le matin",
    )
    assert session_row(web_settings, "S2-1")[0] == "booked"
