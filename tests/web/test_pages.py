"""The staff pages through HTTP, on a real store: guards, escaping, timelines, resend, log."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.journal import record
from reminders.models import Message
from reminders.staff.message_log import messages
from tests.harness import Clinic, row
from tests.web.conftest import NOW, Clock, form_token, sign_in

PAGES = [
    "/",
    "/patients/P1",
    "/messages",
    "/attention",
    "/templates",
    "/admin/users",
    "/admin/policy",
    "/admin/patients/P1/opt-out",
]
ADMIN_PAGES = [path for path in PAGES if path.startswith("/admin/")]
ADMIN_FORMS = {
    "/admin/users": {"name": "kim", "role": "admin", "password": "long enough password"},
    "/admin/patients/P1/opt-out": {"sms_opt_out": "true"},
}
FORMS = {"/sessions/S1-1/resend": {"channel": "sms", "request_key": "k1"}, **ADMIN_FORMS}
SCRIPT = "<script>alert(1)</script>"


def session_ids(html: str) -> list[str]:
    return re.findall(r'<tr id="session-[^"]*" data-session-id="([^"]+)"', html)


def message_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'data-message-id="(\d+)"', html)]


def resend_fields(client: TestClient, session_id: str, page: str = "/") -> dict[str, str]:
    """The hidden fields of the session's resend form, as the page rendered them."""
    html = client.get(page).text
    form = re.search(rf'action="/sessions/{session_id}/resend">(.*?)</form>', html, re.S)
    assert form, f"no resend form for {session_id} on {page}"
    return dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))


def manual_resends(settings: Settings, session_id: str) -> list[dict[str, object]]:
    return [m for m in messages(settings, session_id=session_id) if m["rule"] is None]


def total_shown(html: str) -> int:
    found = re.search(r"<p>(\d+) messages?", html)
    assert found, "no message count on the page"
    return int(found.group(1))


# ---------------------------------------------------------------- guards


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_a_signed_out_visitor_to_the_login_page(
    client: TestClient, path: str
) -> None:
    response = client.get(path)

    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


@pytest.mark.parametrize("path", sorted(FORMS))
def test_every_form_refuses_a_signed_out_post_even_with_a_valid_token(
    client: TestClient, web_settings: Settings, path: str
) -> None:
    before = len(messages(web_settings))
    response = client.post(path, data={**FORMS[path], "csrf_token": form_token(client)})

    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")
    assert len(messages(web_settings)) == before


def test_a_form_posted_without_its_csrf_token_is_refused(
    as_admin: TestClient, clinic: Clinic
) -> None:
    before = clinic.statuses()

    for path, data in FORMS.items():
        assert as_admin.post(path, data=data).status_code == 403, path

    assert clinic.statuses() == before
    assert "kim" not in as_admin.get("/admin/users").text


def test_staff_are_refused_the_admin_pages_and_forms(as_staff: TestClient, clinic: Clinic) -> None:
    before = clinic.statuses()
    token = form_token(as_staff, "/")

    for path in ADMIN_PAGES:
        assert as_staff.get(path).status_code == 403, path
    for path, data in ADMIN_FORMS.items():
        assert as_staff.post(path, data={**data, "csrf_token": token}).status_code == 403, path

    assert clinic.statuses() == before


def test_a_patient_named_like_a_script_shows_as_text(as_staff: TestClient, clinic: Clinic) -> None:
    clinic.import_rows(
        [
            row(
                patient_id="P9",
                first_name=SCRIPT,
                last_name=SCRIPT,
                series_id="S9",
                session_id="S9-1",
                starts_at="2026-03-12T10:00:00-06:00",
            )
        ],
        NOW,
    )

    for path in ("/", "/patients/P9", "/messages"):
        html = as_staff.get(path).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html, path
        assert SCRIPT not in html, path


# ---------------------------------------------------------------- sessions


def test_the_sessions_page_lists_the_coming_sessions_with_their_planned_reminders(
    as_staff: TestClient,
) -> None:
    html = as_staff.get("/").text

    # Today is 5 March: S1-2 on 31 March is past the two weeks shown.
    assert session_ids(html) == ["S1-1", "S2-1"]
    assert "Avery Nguyen" in html and "Émilie Tremblay" in html
    assert "1 of 6" in html and "Dr. Roy" in html
    assert html.count('class="status status-planned"') == 4
    assert "rule email-72h" in html and "rule sms-24h" in html
    assert "Sat 07 Mar 14:00" in html  # S1-1's email, 72 hours before, clinic time


def test_the_sessions_page_filters_by_practitioner_and_day(as_staff: TestClient) -> None:
    assert session_ids(as_staff.get("/", params={"practitioner": "Dr. Roy"}).text) == ["S2-1"]
    assert session_ids(as_staff.get("/", params={"day": "2026-03-11"}).text) == ["S2-1"]
    assert session_ids(as_staff.get("/", params={"day": "2026-03-20"}).text) == ["S1-2"]


def test_the_sessions_page_says_why_a_rule_has_no_reminder(
    as_staff: TestClient, clinic: Clinic
) -> None:
    clinic.import_rows(
        [row(patient_id="P7", phone="", series_id="S7", session_id="S7-1")],
        NOW,
    )

    assert "no sms-24h: no phone number on file" in as_staff.get("/").text


def test_a_day_that_is_not_a_date_shows_today_and_says_so(as_staff: TestClient) -> None:
    html = as_staff.get("/", params={"day": "next tuesday"}).text

    assert session_ids(html) == ["S1-1", "S2-1"]
    assert "not a date" in html


# ---------------------------------------------------------------- resend


def test_a_resend_form_posted_twice_sends_once_and_records_who_asked(
    as_staff: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    fields = {**resend_fields(as_staff, "S1-1"), "channel": "sms", "reason": "lost phone"}

    first = as_staff.post("/sessions/S1-1/resend", data=fields)
    second = as_staff.post("/sessions/S1-1/resend", data=fields)

    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == "/#session-S1-1"
    sent = manual_resends(web_settings, "S1-1")
    assert [(m["channel"], m["status"], m["triggered_by"]) for m in sent] == [
        ("sms", "sent", "dana")
    ]
    assert len([m for m in clinic.outbox() if m["channel"] == "sms"]) == 1
    assert "Resend of S1-1 by sms: sent" in as_staff.get("/").text


def test_the_fourth_resend_in_a_day_shows_the_limit(
    as_staff: TestClient, web_settings: Settings
) -> None:
    for _ in range(3):
        fields = {**resend_fields(as_staff, "S1-1"), "channel": "email"}
        assert as_staff.post("/sessions/S1-1/resend", data=fields).status_code == 303

    fields = {**resend_fields(as_staff, "S1-1"), "channel": "email"}
    response = as_staff.post("/sessions/S1-1/resend", data=fields)
    html = as_staff.get(response.headers["location"]).text

    assert "Resend refused: limit reached" in html
    assert len(manual_resends(web_settings, "S1-1")) == 3


def test_a_resend_goes_back_only_to_a_page_of_this_site(as_staff: TestClient) -> None:
    fields = {**resend_fields(as_staff, "S2-1"), "channel": "email"}
    response = as_staff.post(
        "/sessions/S2-1/resend", data={**fields, "next": "//evil.example/phish"}
    )

    assert response.headers["location"] == "/"


# ---------------------------------------------------------------- patient


def test_the_patient_page_shows_contact_details_progress_and_a_timeline(
    as_staff: TestClient,
) -> None:
    html = as_staff.get("/patients/P1").text

    assert "+14035550101" in html and "avery@example.com" in html
    assert "0 of 6 done, 6 left" in html
    assert html.count("<svg") == 1
    assert message_ids(html)  # every message to the patient


def test_a_drifting_patient_shows_the_gap_on_their_timeline_and_needs_attention(
    as_staff: TestClient, clinic: Clinic
) -> None:
    clinic.import_rows(
        [
            row(
                patient_id="P3",
                first_name="Sam",
                last_name="Okafor",
                series_id="S3",
                session_id="S3-1",
                planned_sessions=4,
                starts_at="2026-01-05T10:00:00-07:00",
                status="completed",
            )
        ],
        NOW,
    )

    html = as_staff.get("/patients/P3").text
    assert "1 of 4 done, 3 left" in html
    assert "status-drifting" in html
    assert "Mon 26 Jan 2026" in html  # recommended: 21 days after 5 January
    assert 'class="window"' in html and 'class="gap"' in html
    assert "Sam Okafor" in as_staff.get("/attention").text


def test_an_unknown_patient_is_not_found(as_staff: TestClient) -> None:
    assert as_staff.get("/patients/P404").status_code == 404


# ---------------------------------------------------------------- message log


def test_the_message_log_filters_by_status_channel_kind_and_day(
    as_staff: TestClient, web_settings: Settings
) -> None:
    fields = {**resend_fields(as_staff, "S2-1"), "channel": "email"}
    as_staff.post("/sessions/S2-1/resend", data=fields)

    def shown(**query: str) -> int:
        return total_shown(as_staff.get("/messages", params=query).text)

    assert shown() == len(messages(web_settings))
    assert shown(channel="sms") == len(messages(web_settings, channel="sms"))
    assert shown(status="sent") == 1
    assert shown(kind="session_reminder") == len(messages(web_settings))
    assert shown(kind="aftercare") == 0
    # Only S1-1's SMS is due on 9 March (24 hours before 14:00 on the 10th).
    day = as_staff.get("/messages", params={"from": "2026-03-09", "to": "2026-03-09"}).text
    assert total_shown(day) == 1 and "S1-1" in day


def test_the_message_log_shows_fifty_a_page_newest_first(
    as_staff: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    clinic.import_rows(
        [
            row(
                patient_id=f"Q{n}",
                series_id=f"SQ{n}",
                session_id=f"SQ{n}-1",
                starts_at=f"2026-04-{n + 1:02d}T10:00:00-06:00",
            )
            for n in range(25)
        ],
        NOW,
    )
    total = len(messages(web_settings))
    assert total > 50

    first = as_staff.get("/messages").text
    older = re.search(r'rel="next" href="([^"]+)"', first)
    assert older, "no link to the older messages"
    second = as_staff.get(older.group(1).replace("&amp;", "&")).text

    assert len(message_ids(first)) == 50
    assert len(message_ids(second)) == total - 50
    assert not set(message_ids(first)) & set(message_ids(second))
    assert 'rel="prev"' not in first and 'rel="prev"' in second and 'rel="next"' not in second
    # The newest is due the latest: SQ24-1 on 25 April, its SMS the day before.
    assert "SQ24-1" in first.split('data-message-id="')[1]


def test_a_message_in_the_log_can_be_resent(as_staff: TestClient, web_settings: Settings) -> None:
    fields = {**resend_fields(as_staff, "S2-1", "/messages"), "channel": "sms"}

    response = as_staff.post("/sessions/S2-1/resend", data=fields)

    # Back to the row clicked, where the outcome shows.
    assert re.fullmatch(r"/messages#message-\d+", response.headers["location"])
    assert [m["triggered_by"] for m in manual_resends(web_settings, "S2-1")] == ["dana"]


# ---------------------------------------------------------------- needs attention


def test_failed_sends_need_attention_with_their_reason(
    as_staff: TestClient, web_settings: Settings
) -> None:
    with store.transaction(web_settings.database_url) as db:
        message = db.scalars(select(Message).where(Message.channel == "sms")).first()
        assert message is not None
        record(db, message, "failed", "Twilio 21211: invalid 'To' number", NOW)
        failed_id = message.id

    html = as_staff.get("/attention").text

    assert message_ids(html) == [failed_id]
    assert "Twilio 21211: invalid &#39;To&#39; number" in html


# ---------------------------------------------------------------- templates


def test_the_template_preview_counts_the_segments_of_an_sms(as_staff: TestClient) -> None:
    query = {"kind": "session_reminder", "channel": "sms", "language": "fr"}
    html = as_staff.get("/templates", params=query).text

    assert re.search(r"<strong>(GSM-7|UCS-2)</strong>, \d+ characters", html)
    assert re.search(r"<strong>\d segments?</strong>", html)


def test_the_template_preview_shows_an_email_with_its_html_escaped_in_a_sandbox(
    as_staff: TestClient,
) -> None:
    query = {"kind": "aftercare", "channel": "email", "language": "en"}
    html = as_staff.get("/templates", params=query).text

    assert "<strong>Subject:</strong>" in html
    frame = re.search(r'<iframe [^>]*sandbox="" srcdoc="([^"]*)"', html)
    assert frame and "&lt;" in frame.group(1) and "<" not in frame.group(1)


def test_the_template_preview_names_an_unknown_kind(as_staff: TestClient) -> None:
    response = as_staff.get("/templates", params={"kind": "birthday"})

    assert response.status_code == 400
    assert "unknown kind &#39;birthday&#39;" in response.text


# ---------------------------------------------------------------- admin


def test_an_admin_opt_out_withdraws_the_planned_sms_and_lifting_it_plans_them_again(
    as_admin: TestClient, clinic: Clinic
) -> None:
    token = form_token(as_admin, "/admin/patients/P1/opt-out")

    response = as_admin.post(
        "/admin/patients/P1/opt-out", data={"sms_opt_out": "true", "csrf_token": token}
    )

    assert response.status_code == 303 and response.headers["location"] == "/patients/P1"
    sms = [m for m in clinic.log(channel="sms") if m["patient_id"] == "P1"]
    assert {(m["status"], m["reason"]) for m in sms} == {("cancelled", "patient opted out of sms")}
    assert {m["status"] for m in clinic.log(channel="email")} == {"planned"}
    page = as_admin.get("/patients/P1").text
    assert "opted out of SMS" in page and "2 planned message(s) changed" in page
    assert 'status-cancelled">cancelled</span> sms' in as_admin.get("/").text

    as_admin.post("/admin/patients/P1/opt-out", data={"csrf_token": token})
    sms = [m for m in clinic.log(channel="sms") if m["patient_id"] == "P1"]
    assert {m["status"] for m in sms} == {"planned"}


def test_an_admin_adds_a_user_and_a_bad_password_is_explained(as_admin: TestClient) -> None:
    token = form_token(as_admin, "/admin/users")
    short = {"name": "kim", "role": "staff", "password": "short", "csrf_token": token}
    good = {**short, "password": "a long enough password"}

    refused = as_admin.post("/admin/users", data=short)
    added = as_admin.post("/admin/users", data=good)

    assert refused.status_code == 400 and "at least 10 characters" in refused.text
    assert added.status_code == 303
    assert re.search(r"<td>kim</td>\s*<td>staff</td>", as_admin.get("/admin/users").text)


def test_the_policy_page_shows_the_rules_quiet_hours_and_follow_ups(
    as_admin: TestClient,
) -> None:
    html = as_admin.get("/admin/policy").text

    assert "email-72h" in html and "3d before the session starts" in html
    assert "No SMS from 21:00 to 08:00" in html
    assert "tolerance 7 days" in html
    assert "test-secret" not in html


def test_the_sessions_page_follows_the_app_clock(as_staff: TestClient, clock: Clock) -> None:
    clock.now = NOW + timedelta(days=12)  # 17 March: S1-1 and S2-1 are past
    sign_in(as_staff, "dana")  # the 12-hour session ended on the app's clock too

    assert session_ids(as_staff.get("/").text) == ["S1-2"]
