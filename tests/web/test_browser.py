"""The staff console in a real browser: Debian's headless chromium, driven by Playwright.

The app runs under uvicorn in a thread, on the test store and the virtual clock. Never
Playwright's own browser download: the machine's `chromium` is the browser under test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from reminders.config import Settings
from reminders.web.app import create_app
from tests.harness import Clinic, row
from tests.web.conftest import NOW, PASSWORD, Clock
from tests.web.live import serving

# e2e: the suite's marker for tests that start real processes and servers.
pytestmark = [
    pytest.mark.e2e,
    # The pages' store code runs on both stores in test_pages.py; here SQLite keeps it quick.
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

VIEWPORT: ViewportSize = {"width": 1280, "height": 800}


@pytest.fixture
def busy_clinic(clinic: Clinic) -> Clinic:
    """A few more sessions this week, and the morning's dispatch done: a day as staff see it."""
    clinic.import_rows(
        [
            row(
                patient_id="P4",
                first_name="Jordan",
                last_name="Blackwater",
                email_opt_out="true",
                series_id="S4",
                session_id="S4-3",
                session_number=3,
                starts_at="2026-03-06T11:30:00-07:00",
                practitioner="Dr. Roy",
            ),
            row(
                patient_id="P5",
                first_name="Mei",
                last_name="Lindqvist",
                phone="",
                series_id="S5",
                session_id="S5-5",
                session_number=5,
                starts_at="2026-03-07T09:15:00-07:00",
            ),
        ],
        NOW,
    )
    clinic.tick(NOW)
    return clinic


@pytest.fixture
def server(web_settings: Settings, busy_clinic: Clinic, clock: Clock, staff: str) -> Iterator[str]:
    with serving(create_app(web_settings, clock=clock)) as url:
        yield url


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=VIEWPORT)  # its own cookies: signed out
    yield context.new_page()
    context.close()


def sign_in(page: Page, server: str, path: str = "/") -> None:
    page.goto(server + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Name").fill("dana")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_staff_resend_a_reminder_from_the_sessions_page_and_find_it_in_the_log(
    page: Page, server: str, tmp_path: Path
) -> None:
    sign_in(page, server)
    session = page.locator("tr[data-session-id='S1-1']")
    expect(session).to_contain_text("Avery Nguyen")

    session.get_by_label("Channel for S1-1").select_option("sms")
    session.get_by_label("Reason").fill("patient deleted the first text")
    session.get_by_role("button", name="Resend").click()

    # At the top of the page, and next to the row clicked.
    expect(session.locator(".row-flash")).to_have_text("Resend of S1-1 by sms: sent")
    expect(page.locator("main > .flash")).to_have_text("Resend of S1-1 by sms: sent")
    expect(session).to_contain_text("(by dana)")
    page.evaluate("window.scrollTo(0, 0)")  # the redirect scrolled to the session's row
    page.screenshot(path=tmp_path / "sessions.png")

    page.get_by_role("link", name="Messages").click()
    page.get_by_label("Status").select_option("sent")
    page.get_by_role("button", name="Filter").click()
    resent = page.locator("tr.message", has_text="S1-1").filter(has_text="dana")
    expect(resent).to_have_count(1)
    expect(resent).to_contain_text("sms")


def test_staff_are_refused_the_admin_pages_in_the_browser(page: Page, server: str) -> None:
    sign_in(page, server)
    expect(page.get_by_role("link", name="Sessions")).to_be_visible()
    expect(page.get_by_role("link", name="Users")).to_have_count(0)

    for path in ("/admin/users", "/admin/policy"):
        response = page.goto(server + path)
        assert response is not None and response.status == 403, path
        expect(page.locator("body")).to_contain_text("for administrators")
