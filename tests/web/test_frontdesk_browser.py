"""The front desk's day in a real browser (Debian's chromium, driven by Playwright): find a
patient, read the day sheet, work the call list, see what was sent and what came back, a
refused resend in view, and every page at 390 px without sideways scrolling."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, Page, ViewportSize, expect

from reminders.config import Settings
from reminders.feedback.replies import receive
from tests.harness import Clinic, row
from tests.web.conftest import NOW, Clock
from tests.web.test_browser import (  # noqa: F401 (fixtures)
    busy_clinic,
    server,
    sign_in,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
DESK: ViewportSize = {"width": 1366, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
PAGES = ["/", "/day", "/patients", "/patients/P1", "/messages", "/attention", "/templates"]


@pytest.fixture
def desk(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport=DESK)
    yield context.new_page()
    context.close()


@pytest.fixture
def front_desk(busy_clinic: Clinic, web_settings: Settings) -> Clinic:  # noqa: F811
    """The busy clinic plus a patient who stopped coming and a patient's reply."""
    busy_clinic.import_rows(
        [
            row(
                patient_id="P3",
                first_name="Sam",
                last_name="Okafor",
                phone="+14035550103",
                series_id="S3",
                session_id="S3-1",
                planned_sessions=4,
                starts_at="2026-01-05T10:00:00-07:00",
                status="completed",
            )
        ],
        NOW,
    )
    receive(web_settings, "SM-in-1", "+14035550102", "Can I come at 3 instead?", NOW)
    return busy_clinic


def test_staff_find_a_patient_by_phone_from_the_header(
    desk: Page,
    server: str,  # noqa: F811
    front_desk: Clinic,
) -> None:
    sign_in(desk, server)
    desk.get_by_label("Find a patient").fill("(403) 555-0102")
    desk.get_by_role("button", name="Find").click()

    expect(desk).to_have_url(re.compile(r"/patients/P2$"))
    expect(desk.locator("h1")).to_contain_text("Émilie Tremblay")
    expect(desk.locator("a.phone").first).to_have_attribute("href", "tel:+14035550102")


def test_the_day_view_moves_day_by_day_and_prints_as_the_day_sheet(
    desk: Page,
    server: str,  # noqa: F811
    front_desk: Clinic,
) -> None:
    sign_in(desk, server, "/day")
    expect(desk.locator("h1")).to_contain_text("Thursday 05 March 2026 · today")

    desk.get_by_role("link", name=re.compile("Fri 06 Mar")).click()
    session = desk.locator("tr[data-session-id='S4-3']")
    expect(session).to_contain_text("Jordan Blackwater")
    expect(session.locator(".confirmation")).to_contain_text("not confirmed")
    expect(session.locator(".reminders")).to_contain_text("sms")

    desk.emulate_media(media="print")
    expect(desk.locator("header.top")).to_be_hidden()
    expect(desk.locator("nav.days")).to_be_hidden()
    expect(desk.locator("p.print-only")).to_be_visible()
    expect(desk.locator("th.print-only")).to_have_text("Arrived")
    desk.emulate_media(media="screen")
    expect(desk.locator("header.top")).to_be_visible()


def test_the_patient_timeline_shows_the_reply_and_the_text_that_was_sent(
    desk: Page,
    clock: Clock,
    server: str,  # noqa: F811
    front_desk: Clinic,
) -> None:
    clock.now = NOW + timedelta(minutes=5)  # the reply came at NOW
    sign_in(desk, server)
    session = desk.locator("tr[data-session-id='S2-1']")
    session.get_by_label("Channel for S2-1").select_option("sms")
    session.get_by_role("button", name="Resend").click()
    expect(session.locator(".row-flash")).to_have_text("Resend of S2-1 by sms: sent")

    desk.get_by_role("link", name="Émilie Tremblay").first.click()
    reply = desk.locator("li.event-in").first
    expect(reply).to_contain_text("Can I come at 3 instead?")
    expect(reply).to_contain_text("SMS from the patient")
    sent = desk.locator("li.event-out", has_text="session reminder by sms").first
    expect(sent).to_contain_text("by dana")
    expect(sent.locator("blockquote.text")).to_contain_text("Calgary Integrative Medicine")
    # The reply came before the resend: the newest is on top.
    order = desk.locator("li.event").evaluate_all("els => els.map(e => e.className)")
    assert order.index(next(c for c in order if "event-out" in c)) < order.index(
        next(c for c in order if "event-in" in c)
    )


def test_staff_work_the_call_list_from_call_to_handled(
    desk: Page,
    server: str,  # noqa: F811
    front_desk: Clinic,
) -> None:
    sign_in(desk, server, "/attention")
    sam = desk.locator("article[data-item='series:S3']")
    expect(sam).to_contain_text("Sam Okafor")
    expect(sam).to_contain_text("overdue")

    sam.get_by_label("Outcome for Sam Okafor").select_option("left_message")
    sam.get_by_label("Note for Sam Okafor").fill("voicemail, will try after lunch")
    sam.get_by_role("button", name="Save").click()
    expect(desk.locator(".flash").first).to_have_text("Saved: left a message.")
    expect(sam).to_contain_text("Left a message by dana")

    sam.get_by_label("Outcome for Sam Okafor").select_option("booked")
    sam.get_by_role("button", name="Save").click()
    expect(desk.locator("article[data-item='series:S3']")).to_have_count(0)

    reply = desk.locator("article.item-reply", has_text="Can I come at 3 instead?")
    reply.get_by_label(re.compile("Outcome for")).select_option("called")
    reply.get_by_role("button", name="Save").click()
    expect(desk.locator("article.item-reply")).to_have_count(0)

    desk.goto(server + "/patients/P3")
    expect(desk.locator("li.event-staff").first).to_contain_text("Booked the next session")
    expect(desk.locator("li.event-staff").nth(1)).to_contain_text("voicemail")


def test_a_series_is_paused_and_resumed_from_the_page(
    desk: Page,
    server: str,  # noqa: F811
    front_desk: Clinic,
) -> None:
    sign_in(desk, server, "/attention")
    desk.locator("article[data-item='series:S3']").get_by_role(
        "button", name="Pause follow-ups"
    ).click()
    expect(desk.locator(".flash").first).to_contain_text("Series S3 paused")
    expect(desk.locator("article[data-item='series:S3']")).to_have_count(0)

    desk.locator("tr[data-series-id='S3']").get_by_role("button", name="Resume follow-ups").click()
    expect(desk.locator("article[data-item='series:S3']")).to_have_count(1)


def test_a_refused_resend_is_in_view_next_to_the_row_clicked(
    desk: Page,
    server: str,  # noqa: F811
    front_desk: Clinic,
) -> None:
    sign_in(desk, server, "/messages?status=planned")
    for _ in range(4):
        first = desk.locator("tr.message", has_text="S1-1").first
        if not first.locator("form.resend").is_visible():
            first.locator("summary").click()
        first.get_by_label("Channel for S1-1").select_option("email")
        first.get_by_role("button", name="Resend").click()

    refusal = desk.locator(".row-flash")
    expect(refusal).to_contain_text("Resend refused: limit reached")
    expect(refusal).to_be_in_viewport()


@pytest.mark.parametrize("path", PAGES)
def test_every_page_fits_a_390_px_phone_without_sideways_scrolling(
    browser: Browser,
    server: str,  # noqa: F811
    front_desk: Clinic,
    path: str,
) -> None:
    context = browser.new_context(viewport=PHONE)
    page = context.new_page()
    try:
        sign_in(page, server, path)
        expect(page.locator("main")).to_be_visible()
        fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert fits, f"{path} scrolls sideways at 390 px: {width}"
    finally:
        context.close()


def test_every_page_is_styled_by_the_stylesheet_alone(
    desk: Page,
    server: str,  # noqa: F811
    front_desk: Clinic,
) -> None:
    """No style attribute or element and no inline script anywhere, so the CSP allows
    neither ('unsafe-inline' is in no directive) and the browser reports no violation."""
    reports: list[str] = []
    desk.on("console", lambda message: reports.append(message.text))
    sign_in(desk, server)
    for path in [*PAGES, "/adherence"]:
        desk.goto(server + path)
        inline = desk.evaluate(
            "document.querySelectorAll('[style], style, script:not([src])').length"
        )
        assert inline == 0, path
        expect(desk.locator("header.top")).to_have_css("background-color", "rgb(18, 85, 107)")
    # The adherence page's own rules live in console.css now, and apply from there.
    expect(desk.locator(".adherence-overall dl.figures")).to_have_css("display", "grid")
    assert not [text for text in reports if "Content Security Policy" in text], reports

    # The browser does enforce the policy, and the listener hears it: an inline style is refused.
    with desk.expect_console_message(lambda message: "Content Security Policy" in message.text):
        desk.evaluate("document.querySelector('main').setAttribute('style', 'color: red')")
    expect(desk.locator("main")).not_to_have_css("color", "rgb(255, 0, 0)")
