"""Accounts in a real browser (Debian's headless chromium, driven by Playwright): signing out
ends the session for every copy of its cookie, a disabled user is turned away at once, and
the security headers reach the browser and are obeyed (the console cannot be framed)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from reminders.config import Settings
from reminders.web.app import create_app
from reminders.web.security_headers import CONTENT_SECURITY_POLICY
from tests.harness import Clinic
from tests.web.conftest import PASSWORD, Clock
from tests.web.live import serving

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


@pytest.fixture
def server(
    web_settings: Settings, clinic: Clinic, clock: Clock, staff: str, admin: str
) -> Iterator[str]:
    with serving(create_app(web_settings, clock=clock)) as url:
        yield url


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    """Browsers of their own (separate cookies), closed after the test."""
    opened: list[BrowserContext] = []
    yield opened
    for context in opened:
        context.close()


def fresh_page(browser: Browser, contexts: list[BrowserContext]) -> Page:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    contexts.append(context)
    return context.new_page()


def sign_in(page: Page, server: str, name: str, path: str = "/") -> None:
    page.goto(server + path)
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("Name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


def test_signing_out_ends_the_session_even_for_a_copied_cookie(
    browser: Browser, contexts: list[BrowserContext], server: str, admin: str
) -> None:
    page = fresh_page(browser, contexts)
    sign_in(page, server, admin, "/admin/users")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    copied = page.context.cookies()

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/login$"))

    thief = fresh_page(browser, contexts)
    thief.context.add_cookies(copied)  # type: ignore[arg-type]
    thief.goto(server + "/admin/users")
    expect(thief).to_have_url(re.compile(r"/login\?next=/admin/users"))
    expect(thief.get_by_role("button", name="Sign in")).to_be_visible()


def test_a_user_disabled_by_an_admin_is_turned_away_at_once(
    browser: Browser, contexts: list[BrowserContext], server: str, staff: str, admin: str
) -> None:
    dana = fresh_page(browser, contexts)
    sign_in(dana, server, staff)
    expect(dana.get_by_role("link", name="Messages")).to_be_visible()

    ada = fresh_page(browser, contexts)
    sign_in(ada, server, admin, "/admin/users")
    ada.get_by_role("button", name=f"Disable {staff}").click()
    expect(ada.locator(".flash")).to_have_text(f"Disabled {staff}: their sessions have ended.")
    expect(ada.locator(f"tr[data-user='{staff}']")).to_contain_text("disabled")

    dana.reload()
    expect(dana).to_have_url(re.compile(r"/login\?next="))
    dana.get_by_label("Name").fill(staff)
    dana.get_by_label("Password").fill(PASSWORD)
    dana.get_by_role("button", name="Sign in").click()
    expect(dana.locator(".error")).to_have_text("this account is disabled: ask an administrator")

    ada.get_by_role("button", name=f"Enable {staff}").click()
    dana.get_by_label("Name").fill(staff)
    dana.get_by_label("Password").fill(PASSWORD)
    dana.get_by_role("button", name="Sign in").click()
    expect(dana.get_by_role("link", name="Messages")).to_be_visible()


def test_the_browser_gets_the_security_headers_and_refuses_to_frame_the_console(
    browser: Browser, contexts: list[BrowserContext], server: str, staff: str
) -> None:
    page = fresh_page(browser, contexts)
    response = page.goto(server + "/login")
    assert response is not None
    headers = response.headers
    assert headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"

    sign_in(page, server, staff)
    expect(page.get_by_role("link", name="Messages")).to_be_visible()
    # Another site's page framing the console: the browser must show nothing of it.
    framing = fresh_page(browser, contexts)
    frame_html = f'<iframe src="{server}/login" onload="this.dataset.loaded = 1"></iframe>'
    framing.route(
        "http://framing.test/",
        lambda route: route.fulfill(content_type="text/html", body=frame_html),
    )
    framing.goto("http://framing.test/")
    framing.wait_for_function("document.querySelector('iframe').dataset.loaded === '1'")
    framed = framing.frames[1]
    assert not framed.url.startswith(server), framed.url
    assert framed.locator("input[name=csrf_token]").count() == 0
