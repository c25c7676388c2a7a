"""The console on a real store, driven through HTTP (TestClient) or a browser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from reminders.config import Settings
from reminders.staff.accounts import add_user, create_token
from reminders.web.app import create_app
from tests.harness import Clinic, local, row
from tests.web.live import browser  # noqa: F401  (the one chromium, for every browser test)

PASSWORD = "correct horse battery"
NOW = local("2026-03-05 09:00")


class Clock:
    """A virtual clock the tests move by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def web_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secret_key": "test-secret-" + "x" * 32})


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def clinic(web_settings: Settings, tmp_path: Path) -> Clinic:
    """A small clinic: one English and one French patient with upcoming sessions."""
    clinic = Clinic(web_settings, tmp_path)
    clinic.import_rows(
        [
            row(),
            row(session_id="S1-2", session_number=2, starts_at="2026-03-31T14:00-06:00"),
            row(
                patient_id="P2",
                first_name="Émilie",
                last_name="Tremblay",
                language="fr",
                phone="+14035550102",
                email="emilie@example.com",
                series_id="S2",
                session_id="S2-1",
                starts_at="2026-03-11T10:00-06:00",
                practitioner="Dr. Roy",
            ),
        ],
        local("2026-03-01 09:00"),
    )
    return clinic


@pytest.fixture
def client(web_settings: Settings, clinic: Clinic, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(web_settings, clock=clock), follow_redirects=False) as client:
        yield client


@pytest.fixture
def staff(web_settings: Settings) -> str:
    add_user(web_settings, "dana", "staff", PASSWORD, NOW)
    return "dana"


@pytest.fixture
def admin(web_settings: Settings) -> str:
    add_user(web_settings, "ada", "admin", PASSWORD, NOW)
    return "ada"


@pytest.fixture
def api_token(web_settings: Settings) -> str:
    return create_token(web_settings, "booking-system", NOW)


def form_token(client: TestClient, path: str = "/login") -> str:
    """The CSRF token from a page's form, as a browser would post it back."""
    html = client.get(path).text
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, f"no form token on {path}"
    return match.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> None:
    response = client.post(
        "/login", data={"name": name, "password": password, "csrf_token": form_token(client)}
    )
    assert response.status_code == 303, response.text


@pytest.fixture
def as_staff(client: TestClient, staff: str) -> TestClient:
    sign_in(client, staff)
    return client


@pytest.fixture
def as_admin(client: TestClient, admin: str) -> TestClient:
    sign_in(client, admin)
    return client
