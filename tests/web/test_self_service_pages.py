"""The public self-service page behind the link in reminder emails: confirm, or ask for
another time on days that keep the series on schedule; nothing moves without staff."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.models import PatientRequest, Session
from reminders.staff.requests import open_requests
from reminders.web.app import create_app
from reminders.wording.session_links import make_token
from tests.harness import Clinic, local, row
from tests.web.conftest import NOW, Clock

PUBLIC = "https://reminders.clinic.example"


@pytest.fixture
def web_settings(web_settings: Settings) -> Settings:
    return web_settings.model_copy(update={"public_url": PUBLIC + "/"})


@pytest.fixture
def client(web_settings: Settings, clinic: Clinic, clock: Clock) -> Iterator[TestClient]:
    """HTTPS, as behind the clinic's proxy: the form token's cookie is secure."""
    app = create_app(web_settings, clock=clock)
    with TestClient(app, base_url=PUBLIC, follow_redirects=False) as client:
        yield client


def token_for(settings: Settings, session_id: str, now: datetime = NOW) -> str:
    with store.transaction(settings.database_url) as db:
        session = db.scalars(select(Session).where(Session.external_id == session_id)).one()
        return make_token(settings, session, now)


def form(client: TestClient, path: str) -> dict[str, str]:
    html = client.get(path).text
    fields = dict(re.findall(r'name="(csrf_token|shown)" value="([^"]*)"', html))
    assert "csrf_token" in fields, html
    return fields


def session_row(settings: Settings, session_id: str) -> tuple[str, str]:
    with store.transaction(settings.database_url) as db:
        found = db.scalars(select(Session).where(Session.external_id == session_id)).one()
        return found.status, found.starts_at.isoformat()


def requests_of(settings: Settings) -> list[PatientRequest]:
    with store.transaction(settings.database_url) as db:
        return list(db.scalars(select(PatientRequest).order_by(PatientRequest.id)))


def test_the_page_shows_the_session_and_the_days_that_keep_the_series_on_time(
    client: TestClient, web_settings: Settings
) -> None:
    response = client.get(f"/appointment/{token_for(web_settings, 'S1-1')}")

    assert response.status_code == 200
    text = response.text
    assert "Hello Avery," in text
    assert "Tuesday, March 10, 2026 at 2:00" in text
    assert "Confirm this appointment" in text and "Ask for another time" in text
    # No completed session yet: the next days, from tomorrow, as many as the window holds.
    days = re.findall(r'name="day" value="([\d-]+)"', text)
    assert days[0] == "2026-03-06" and days[-1] == "2026-03-20" and len(days) == 15
    assert "<script" not in text and " style=" not in text


def test_confirming_sets_the_session_confirmed_like_an_sms_c(
    client: TestClient, web_settings: Settings
) -> None:
    path = f"/appointment/{token_for(web_settings, 'S1-1')}"
    before = session_row(web_settings, "S1-1")

    answer = client.post(f"{path}/confirm", data=form(client, path))

    assert answer.status_code == 303 and answer.headers["location"] == path
    page = client.get(path).text
    assert "your appointment is confirmed" in page
    assert "Confirm this appointment" not in page
    assert session_row(web_settings, "S1-1") == ("confirmed", before[1])
    [confirmation] = requests_of(web_settings)
    assert (confirmation.kind, confirmation.status, confirmation.source) == (
        "confirm",
        "handled",
        "link",
    )


def test_asking_for_another_time_lands_on_needs_attention_and_moves_nothing(
    client: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    path = f"/appointment/{token_for(web_settings, 'S1-1')}"
    planned = clinic.statuses(session_id="S1-1")
    fields = form(client, path) | {"note": "mornings please"}
    days = {"day": ["2026-03-13", "2026-03-12"]}

    answer = client.post(f"{path}/request", data=fields | days)

    assert answer.status_code == 303
    assert "the clinic will call you to set the time" in client.get(path).text
    assert session_row(web_settings, "S1-1")[0] == "booked"
    assert clinic.statuses(session_id="S1-1") == planned
    with store.transaction(web_settings.database_url) as db:
        [request] = open_requests(db, web_settings)
    assert request.kind == "reschedule" and request.session_external_id == "S1-1"
    assert request.preferred_days == (date(2026, 3, 13), date(2026, 3, 12))
    assert request.note == "mornings please"
    assert request.patient_name == "Avery Nguyen"


def test_asking_twice_keeps_one_request_with_the_latest_days(
    client: TestClient, web_settings: Settings
) -> None:
    path = f"/appointment/{token_for(web_settings, 'S1-1')}"
    for day in ("2026-03-12", "2026-03-16"):
        fields = form(client, path)
        client.post(f"{path}/request", data=fields | {"day": [day]})

    with store.transaction(web_settings.database_url) as db:
        [request] = open_requests(db, web_settings)
    assert request.preferred_days == (date(2026, 3, 16),)
    assert 'value="2026-03-16" checked' in client.get(path).text


@pytest.mark.parametrize(
    ("data", "notice"),
    [
        ({}, "Choose at least one day, or write a note."),
        ({"day": ["2026-05-01"]}, "Please choose among the days shown."),
    ],
    ids=["nothing chosen", "a day not on offer"],
)
def test_a_request_without_a_usable_day_is_refused_with_a_clear_notice(
    client: TestClient, web_settings: Settings, data: dict[str, list[str]], notice: str
) -> None:
    path = f"/appointment/{token_for(web_settings, 'S1-1')}"
    fields = form(client, path)

    answer = client.post(f"{path}/request", data=fields | data)

    assert answer.status_code == 303
    assert notice in client.get(path).text
    assert requests_of(web_settings) == []


@pytest.mark.parametrize("action", ["confirm", "request"])
def test_a_post_without_the_form_token_changes_nothing(
    client: TestClient, web_settings: Settings, action: str
) -> None:
    path = f"/appointment/{token_for(web_settings, 'S1-1')}"
    fields = form(client, path) | {"csrf_token": "forged"}

    answer = client.post(f"{path}/{action}", data=fields | {"day": ["2026-03-12"]})

    assert answer.status_code == 303
    assert "This form has expired" in client.get(path).text
    assert session_row(web_settings, "S1-1")[0] == "booked"
    assert requests_of(web_settings) == []


def test_a_session_moved_after_the_page_loaded_is_not_confirmed_unseen(
    client: TestClient, web_settings: Settings, clinic: Clinic
) -> None:
    path = f"/appointment/{token_for(web_settings, 'S1-1')}"
    fields = form(client, path)
    moved = row(starts_at="2026-03-10T16:00-06:00")
    second = row(session_id="S1-2", session_number=2, starts_at="2026-03-31T14:00-06:00")
    clinic.import_rows([moved, second], NOW)

    client.post(f"{path}/confirm", data=fields)

    page = client.get(path).text
    assert "changed since this page was opened" in page
    assert "at 4:00" in page
    assert session_row(web_settings, "S1-1")[0] == "booked"


def test_the_page_speaks_the_patients_language(client: TestClient, web_settings: Settings) -> None:
    page = client.get(f"/appointment/{token_for(web_settings, 'S2-1')}").text

    assert '<html lang="fr">' in page
    assert "Bonjour Émilie," in page
    assert "mercredi 11 mars 2026 à 10 h" in page
    assert "Confirmer ce rendez-vous" in page and "Demander un autre moment" in page


@pytest.mark.parametrize("case", ["forged", "cut", "unsubscribe token", "garbage"])
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_tampered_link_gets_a_clear_page_and_changes_nothing(
    client: TestClient, web_settings: Settings, case: str, method: str
) -> None:
    good = token_for(web_settings, "S1-1")
    token = {
        "forged": token_for(web_settings.model_copy(update={"secret_key": "z" * 40}), "S1-1"),
        "cut": good.rsplit(".", 1)[0],
        "unsubscribe token": good.split(".")[0] + "." + good.split(".")[2],
        "garbage": "%%%",
    }[case]
    path = f"/appointment/{token}" + ("/confirm" if method == "POST" else "")

    response = client.request(method, path, data={"csrf_token": "x"})

    assert response.status_code == 404
    assert "This link is not valid" in response.text and "Ce lien n'est pas valide" in response.text
    assert session_row(web_settings, "S1-1")[0] == "booked"


def test_an_expired_link_says_so_in_both_languages(
    client: TestClient, web_settings: Settings, clock: Clock
) -> None:
    token = token_for(web_settings, "S1-1")
    clock.now = local("2026-03-10 14:00") + timedelta(days=14)

    response = client.get(f"/appointment/{token}")

    assert response.status_code == 410
    assert "This link has expired" in response.text and "Ce lien a expiré" in response.text


def test_a_link_to_a_past_session_offers_the_next_one_booked(
    client: TestClient, web_settings: Settings, clock: Clock
) -> None:
    token = token_for(web_settings, "S1-1")
    clock.now = local("2026-03-12 09:00")

    page = client.get(f"/appointment/{token}").text

    assert "Tuesday, March 31, 2026 at 2:00" in page
    assert "Confirm this appointment" in page


def test_the_page_and_its_refusals_carry_no_inline_style_or_script(
    client: TestClient, web_settings: Settings
) -> None:
    """The CSP's style-src has no 'unsafe-inline': an inline style would not apply."""
    pages = [
        client.get(f"/appointment/{token_for(web_settings, 'S1-1')}").text,
        client.get("/appointment/%%%").text,
    ]

    assert all("This link is not valid" in page or "Hello Avery," in page for page in pages)
    for page in pages:
        assert "<style" not in page and "<script" not in page
        assert not re.search(r"\sstyle=", page)
