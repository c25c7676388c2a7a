"""The front desk's console through HTTP on a real store: finding a patient, the day sheet,
the patient's timeline, the call list worked item by item, and resends answered in place."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.feedback.replies import receive
from reminders.feedback.self_service import add_request
from reminders.journal import record
from reminders.models import (
    InboundMessage,
    Message,
    MessageEvent,
    Patient,
    PatientRequest,
    Series,
    Session,
    StaffAction,
)
from tests.harness import Clinic, local, row
from tests.web.conftest import NOW, form_token

FAILURE = "permanent error (21614): Twilio HTTP 400 error 21614: 'To' number is not a valid mobile"
LONG_AGO = "2026-01-05T10:00:00-07:00"


def fail_first_sms(settings: Settings, reason: str = FAILURE, status: str = "failed") -> int:
    with store.transaction(settings.database_url) as db:
        message = db.scalars(
            select(Message).where(Message.channel == "sms").order_by(Message.id)
        ).first()
        assert message is not None
        record(db, message, status, reason, NOW)
        return message.id


def item_ids(html: str) -> list[str]:
    return re.findall(r'data-item="([^"]+)"', html)


def post_outcome(
    client: TestClient, item: str, outcome: str, note: str = "", situation: str | None = None
) -> str:
    html = client.get("/attention").text
    if situation is None:
        found = re.search(
            rf'name="item" value="{re.escape(item)}">\s*<input type="hidden" name="situation" '
            r'value="([^"]*)"',
            html,
        )
        assert found, f"no outcome form for {item}"
        situation = found.group(1)
    response = client.post(
        "/attention/outcome",
        data={
            "item": item,
            "situation": situation,
            "outcome": outcome,
            "note": note,
            "next": "/attention",
            "csrf_token": form_token(client, "/attention"),
        },
    )
    assert response.status_code == 303
    page: str = client.get(response.headers["location"]).text
    return page


def drifting_patient(clinic: Clinic) -> None:
    """Sam came in January, booked nothing since: past the 21 days and the 7 of tolerance."""
    clinic.import_rows(
        [
            row(
                patient_id="P3",
                first_name="Sam",
                last_name="Okafor",
                phone="+14035550103",
                series_id="S3",
                session_id="S3-1",
                planned_sessions=4,
                starts_at=LONG_AGO,
                status="completed",
            )
        ],
        NOW,
    )


# ---------------------------------------------------------------- search


@pytest.mark.parametrize(
    "typed",
    ["Tremblay", "émilie", "P2", "(403) 555-0102", "403.555.0102", "+1 403 555 0102", "5550102"],
)
def test_a_patient_is_found_by_name_clinic_id_or_a_phone_typed_any_way(
    as_staff: TestClient, typed: str
) -> None:
    response = as_staff.get("/patients", params={"q": typed})

    # One match: straight to the patient.
    assert response.status_code == 303, typed
    assert response.headers["location"] == "/patients/P2"


def test_a_search_lists_every_match_and_says_when_none_matches(as_staff: TestClient) -> None:
    many = as_staff.get("/patients", params={"q": "403 555"}).text
    none = as_staff.get("/patients", params={"q": "Zebulon"}).text

    assert re.findall(r'data-patient-id="([^"]+)"', many) == ["P1", "P2"]
    assert "No patient matches" in none and "Zebulon" in none


def test_the_patients_list_goes_a_page_at_a_time(as_staff: TestClient, clinic: Clinic) -> None:
    clinic.import_rows(
        [
            row(
                patient_id=f"Q{n:03}",
                last_name=f"Zed{n:03}",
                series_id=f"Q{n:03}",
                session_id=f"Q{n:03}-1",
            )
            for n in range(60)
        ],
        NOW,
    )

    first = as_staff.get("/patients").text
    second = as_staff.get("/patients", params={"page": 2}).text

    shown = re.findall(r'data-patient-id="([^"]+)"', first)
    rest = re.findall(r'data-patient-id="([^"]+)"', second)
    assert len(shown) == 50 and len(rest) == 12
    assert not set(shown) & set(rest)
    assert 'rel="next"' in first and 'rel="prev"' in second and 'rel="next"' not in second


# ---------------------------------------------------------------- day view


def test_the_day_view_shows_the_days_sessions_with_confirmation_and_reminders(
    as_staff: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    clinic.tick(local("2026-03-09 14:00"))  # S1-1's SMS and email reminders go out
    receive(web_settings, "SM-confirm", "+14035550101", "C", local("2026-03-09 15:00"))

    html = as_staff.get("/day", params={"day": "2026-03-10"}).text

    sessions = re.findall(r'data-session-id="([^"]+)"', html)
    assert sessions == ["S1-1"]
    assert "Tuesday 10 March 2026" in html
    assert "status-confirmed" in html and "by reply Mon 09 Mar 15:00" in html
    reminders = html.split('class="reminders"', 1)[1].split("</td>", 1)[0]
    assert "sms" in reminders and "email" in reminders and "status-sent" in reminders
    assert 'href="/day?day=2026-03-09"' in html and 'href="/day?day=2026-03-11"' in html


def test_the_day_view_is_today_by_default_and_says_who_has_not_confirmed(
    as_staff: TestClient, clinic: Clinic
) -> None:
    clinic.import_rows(
        [row(session_id="S1-0", session_number=1, starts_at="2026-03-05T15:00-07:00")], NOW
    )

    html = as_staff.get("/day").text

    assert "Thursday 05 March 2026 · today" in html
    assert "not confirmed" in html and "no reply yet" in html


def busy_day(clinic: Clinic, sessions: int) -> None:
    """`sessions` patients booked on Thursday 12 March, a minute apart, the first confirmed."""
    clinic.import_rows(
        [
            row(
                patient_id=f"B{n:03}",
                phone=f"+1403555{n:04}",
                series_id=f"B{n:03}",
                session_id=f"B{n:03}-1",
                starts_at=f"2026-03-12T{8 + n // 60:02}:{n % 60:02}-06:00",
                status="confirmed" if n == 0 else "booked",
            )
            for n in range(sessions)
        ],
        NOW,
    )


def test_a_busy_day_goes_a_page_at_a_time_and_counts_the_whole_day(
    as_staff: TestClient, clinic: Clinic
) -> None:
    busy_day(clinic, 160)

    first = as_staff.get("/day", params={"day": "2026-03-12"}).text
    shown = re.findall(r'data-session-id="([^"]+)"', first)
    following = re.search(r'href="([^"]+after=[^"]+)">Next', first)
    assert following is not None
    second = as_staff.get(following.group(1).replace("&amp;", "&")).text
    rest = re.findall(r'data-session-id="([^"]+)"', second)

    assert "160 sessions, 1 confirmed. 150 on this page" in first
    assert shown == [f"B{n:03}-1" for n in range(150)]
    assert rest == [f"B{n:03}-1" for n in range(150, 160)]
    assert ">Next" not in second and 'href="/day?day=2026-03-12">' in second


def test_the_sessions_page_goes_a_page_at_a_time_in_time_order(
    as_staff: TestClient, clinic: Clinic
) -> None:
    busy_day(clinic, 130)  # with the clinic's own sessions of the fortnight

    pages, link = [], "/?day=2026-03-10"
    while link:
        html = as_staff.get(link.replace("&amp;", "&")).text
        pages.append(re.findall(r'data-session-id="([^"]+)"', html))
        found = re.search(r'href="([^"]+after=[^"]+)">Next', html)
        link = found.group(1) if found else ""

    every = [session for page in pages for session in page]
    assert [len(page) for page in pages][:-1] == [100] * (len(pages) - 1)
    assert len(every) == len(set(every)) and {f"B{n:03}-1" for n in range(130)} <= set(every)
    assert (
        f"{len(every)} sessions in these days, 100 on this page"
        in as_staff.get("/?day=2026-03-10").text
    )


def test_the_console_stylesheet_is_served_with_the_print_rules_of_the_day_sheet(
    as_staff: TestClient,
) -> None:
    page = as_staff.get("/day").text
    css = as_staff.get("/static/console.css")

    assert '<link rel="stylesheet" href="/static/console.css">' in page
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert "@media print" in css.text and "@media screen and (max-width" in css.text


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/day",
        "/patients",
        "/patients/P1",
        "/messages",
        "/attention",
        "/templates",
        "/adherence",
        "/admin/users",
        "/admin/policy",
        "/admin/patients/P1/opt-out",
    ],
)
def test_no_page_carries_inline_styles_or_scripts(as_admin: TestClient, path: str) -> None:
    """The style-src of the CSP has no 'unsafe-inline': an inline style would not apply."""
    response = as_admin.get(path)
    assert response.status_code == 200, path
    html = response.text

    assert "<style" not in html and "<script" not in html
    assert not re.search(r"\sstyle=", html), path


@pytest.mark.parametrize("path", ["/login", "/unsubscribe/not-a-token"])
def test_no_public_page_carries_inline_styles_or_scripts(client: TestClient, path: str) -> None:
    html = client.get(path).text

    assert "</html>" in html, path
    assert "<style" not in html and "<script" not in html
    assert not re.search(r"\sstyle=", html), path


# ---------------------------------------------------------------- patient timeline


def test_the_patient_timeline_shows_what_was_sent_with_its_text_and_the_patients_reply(
    as_staff: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    clinic.tick(local("2026-03-09 14:00"))
    receive(
        web_settings,
        "SM-r1",
        "+14035550101",
        "Running late, is 2:30 ok?",
        local("2026-03-09 16:00"),
    )

    html = as_staff.get("/patients/P1").text
    timeline = html.split('<ol class="events">', 1)[1].split("</ol>", 1)[0]

    reply = timeline.index("Running late, is 2:30 ok?")
    sms = timeline.index("session reminder by sms")
    assert reply < sms  # newest first
    sent_text = next(m for m in clinic.outbox() if m["channel"] == "sms")["body"]
    assert sent_text.split("\n")[0] in timeline
    assert "SMS from the patient" in timeline and "We answered" in timeline


def test_phones_show_in_the_clinics_national_format_as_tel_links(as_staff: TestClient) -> None:
    html = as_staff.get("/patients/P1").text

    assert '<a class="phone" href="tel:+14035550101">(403) 555-0101</a>' in html


# ---------------------------------------------------------------- the call list


def test_a_failed_send_is_explained_and_leaves_the_list_once_handled(
    as_staff: TestClient, web_settings: Settings
) -> None:
    failed = fail_first_sms(web_settings)
    html = as_staff.get("/attention").text
    assert f"message:{failed}" in item_ids(html)
    assert "landline: cannot receive SMS" in html and "call instead, or fix the number" in html

    after = post_outcome(as_staff, f"message:{failed}", "handled", "emailed instead")

    assert f"message:{failed}" not in item_ids(after)
    with store.transaction(web_settings.database_url) as db:
        events = db.scalars(select(MessageEvent).where(MessageEvent.message_id == failed)).all()
        assert events[-1].actor == "dana" and "emailed instead" in events[-1].reason
        (action,) = db.scalars(select(StaffAction)).all()
        assert (action.item, action.action, action.actor) == (
            f"message:{failed}",
            "handled",
            "dana",
        )


def test_a_handled_message_comes_back_when_its_situation_changes(
    as_staff: TestClient, web_settings: Settings
) -> None:
    unknown = fail_first_sms(web_settings, "outcome unknown: no answer from Twilio", "unknown")
    post_outcome(as_staff, f"message:{unknown}", "handled")
    assert f"message:{unknown}" not in item_ids(as_staff.get("/attention").text)

    fail_first_sms(web_settings)  # the reconciler learns it failed after all

    assert f"message:{unknown}" in item_ids(as_staff.get("/attention").text)


def test_a_drifting_patient_stays_on_the_list_after_a_message_and_leaves_once_called(
    as_staff: TestClient, clinic: Clinic
) -> None:
    drifting_patient(clinic)
    assert "series:S3" in item_ids(as_staff.get("/attention").text)

    left = post_outcome(as_staff, "series:S3", "left_message", "voicemail")
    assert "series:S3" in item_ids(left)
    assert "Left a message by dana" in left and "voicemail" in left

    called = post_outcome(as_staff, "series:S3", "called", "will book online")
    assert "series:S3" not in item_ids(called)
    timeline = as_staff.get("/patients/P3").text
    assert "Called: spoke to the patient" in timeline and "will book online" in timeline


def test_a_called_patient_is_back_on_the_list_after_missing_another_session(
    as_staff: TestClient, clinic: Clinic
) -> None:
    drifting_patient(clinic)
    post_outcome(as_staff, "series:S3", "booked")
    assert "series:S3" not in item_ids(as_staff.get("/attention").text)

    missed = row(
        patient_id="P3",
        first_name="Sam",
        last_name="Okafor",
        phone="+14035550103",
        series_id="S3",
        session_id="S3-2",
        session_number=2,
        planned_sessions=4,
        starts_at="2026-03-03T10:00:00-07:00",
        status="no_show",
    )
    first = {**missed, "session_id": "S3-1", "session_number": 1, "starts_at": LONG_AGO}
    clinic.import_rows([{**first, "status": "completed"}, missed], NOW)

    assert "series:S3" in item_ids(as_staff.get("/attention").text)


def test_an_outcome_for_no_such_item_or_a_bad_outcome_is_refused_in_words(
    as_staff: TestClient,
) -> None:
    for item, outcome in (("series:NOPE", "called"), ("series:S1", "shrugged")):
        response = as_staff.post(
            "/attention/outcome",
            data={
                "item": item,
                "situation": "x",
                "outcome": outcome,
                "next": "/attention#item-x",
                "csrf_token": form_token(as_staff, "/attention"),
            },
        )
        html = as_staff.get(response.headers["location"]).text
        assert "Not saved:" in html, (item, outcome)


def test_a_series_is_paused_and_resumed_from_the_console_and_the_journal_says_who(
    as_staff: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    drifting_patient(clinic)
    token = form_token(as_staff, "/attention")

    as_staff.post("/series/S3/pause", data={"csrf_token": token, "next": "/attention"})
    paused = as_staff.get("/attention").text
    assert "series:S3" not in item_ids(paused) and "Resume follow-ups" in paused
    as_staff.post("/series/S3/resume", data={"csrf_token": token, "next": "/attention"})

    assert "series:S3" in item_ids(as_staff.get("/attention").text)
    with store.transaction(web_settings.database_url) as db:
        series = db.scalars(select(Series).where(Series.external_id == "S3")).one()
        assert not series.paused
        actions = db.scalars(select(StaffAction).order_by(StaffAction.id)).all()
        assert [(a.action, a.actor) for a in actions] == [("paused", "dana"), ("resumed", "dana")]


def test_a_reply_marked_handled_leaves_the_list(
    as_staff: TestClient, web_settings: Settings
) -> None:
    receive(web_settings, "SM-r2", "+14035550102", "Can I come at 3 instead?", NOW)
    html = as_staff.get("/attention").text
    (reply,) = [i for i in item_ids(html) if i.startswith("reply:")]

    after = post_outcome(as_staff, reply, "called", "moved to Friday")

    assert reply not in item_ids(after)


def test_a_long_group_shows_its_first_fifty_counts_every_item_and_opens_whole(
    as_staff: TestClient, web_settings: Settings
) -> None:
    for n in range(60):
        receive(web_settings, f"SM-many{n}", "+14035550102", f"Question {n}", NOW)

    first = as_staff.get("/attention").text
    whole = as_staff.get("/attention", params={"whole": "reply"}).text

    replies = [i for i in item_ids(first) if i.startswith("reply:")]
    every = [i for i in item_ids(whole) if i.startswith("reply:")]
    assert len(replies) == 50 and len(every) == 60 and set(replies) < set(every)
    assert "The first 50 of 60." in first and 'href="/attention?whole=reply#group-reply"' in first
    assert "The first 50" not in whole


def test_an_sms_r_is_one_item_the_request_and_booking_it_handles_the_reply_too(
    as_staff: TestClient, web_settings: Settings
) -> None:
    receive(web_settings, "SM-r2", "+14035550102", "R", NOW)
    html = as_staff.get("/attention").text
    items = [i for i in item_ids(html) if i.startswith(("reply:", "request:"))]

    assert len(items) == 1 and items[0].startswith("request:"), items
    assert "asked for another time by SMS" in html
    after = post_outcome(as_staff, items[0], "booked")

    assert not [i for i in item_ids(after) if i.startswith(("reply:", "request:"))]
    with store.transaction(web_settings.database_url) as db:
        reply = db.scalars(select(InboundMessage).where(InboundMessage.body == "R")).one()
        assert reply.handled_by is not None


# ---------------------------------------------------------------- resend and the log


def test_a_refused_resend_is_shown_next_to_the_row_that_was_clicked(
    as_staff: TestClient, web_settings: Settings
) -> None:
    html = as_staff.get("/messages").text
    form = re.search(r'action="/sessions/S1-1/resend">(.*?)</form>', html, re.S)
    assert form
    fields = dict(re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', form.group(1)))
    row_id = fields["next"].split("#", 1)[1]
    for n in range(4):
        response = as_staff.post(
            "/sessions/S1-1/resend", data={**fields, "channel": "email", "request_key": f"k{n}"}
        )

    assert response.headers["location"].endswith(f"#{row_id}")
    page = as_staff.get(response.headers["location"]).text
    the_row = page.split(f'id="{row_id}"', 1)[1].split("</tr>", 1)[0]
    assert "Resend refused: limit reached" in the_row


def test_the_message_log_puts_recent_activity_before_rows_planned_months_ahead(
    as_staff: TestClient, clinic: Clinic
) -> None:
    clinic.import_rows(
        [row(session_id="S1-9", session_number=6, starts_at="2026-09-01T10:00-06:00")], NOW
    )
    clinic.tick(local("2026-03-09 14:00"))

    html = as_staff.get("/messages").text

    first_row = html.split('class="message"', 2)[1].split("</tr>", 1)[0]
    assert "status-sent" in first_row and "S1-9" not in first_row


def test_the_static_files_are_package_data(tmp_path: Path) -> None:
    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"web/static/*"' in pyproject


def test_a_patient_request_shows_on_the_call_list_and_leaves_once_handled(
    as_staff: TestClient, web_settings: Settings
) -> None:
    with store.transaction(web_settings.database_url) as db:
        patient = db.scalars(select(Patient).where(Patient.external_id == "P2")).one()
        session = db.scalars(select(Session).where(Session.external_id == "S2-1")).one()
        request = add_request(
            db,
            patient=patient,
            session=session,
            kind="reschedule",
            source="link",
            now=NOW,
            preferred_days=[date(2026, 3, 12), date(2026, 3, 13)],
        )
        item = f"request:{request.id}"
    html = as_staff.get("/attention").text
    assert item in item_ids(html)
    assert "asked for another time (would take Thu 12 Mar, Fri 13 Mar)" in html

    after = post_outcome(as_staff, item, "booked", "moved to Thu 12 Mar 10:00")

    assert item not in item_ids(after)
    with store.transaction(web_settings.database_url) as db:
        assert db.get(PatientRequest, int(item.split(":")[1])).status == "handled"  # type: ignore[union-attr]
