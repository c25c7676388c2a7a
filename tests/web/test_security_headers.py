"""Every response carries the security headers: pages, redirects, errors, the API, webhooks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from reminders.config import Settings
from reminders.web.app import create_app
from reminders.web.security_headers import CONTENT_SECURITY_POLICY
from tests.harness import Clinic
from tests.web.conftest import Clock, sign_in

EXPECTED = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


class Crash(Exception):
    """What a bug in a page raises: the 500 it becomes must carry the headers too."""


@pytest.fixture
def client(web_settings: Settings, clinic: Clinic, clock: Clock) -> Iterator[TestClient]:
    app = create_app(web_settings, clock=clock)

    @app.get("/crash")
    def crash() -> None:
        raise Crash("a bug")

    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        yield client


def test_the_policy_allows_no_inline_script_or_style_and_no_framing() -> None:
    directives = dict(part.strip().split(" ", 1) for part in CONTENT_SECURITY_POLICY.split(";"))

    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["default-src"] == "'self'"


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/login", 200),
        ("GET", "/", 303),  # signed out: the redirect to the login page
        ("GET", "/admin/users", 303),
        ("GET", "/no-such-page", 404),
        ("POST", "/login", 403),  # no form token
        ("GET", "/crash", 500),
        ("GET", "/api/v1/messages", 401),
        ("POST", "/webhooks/twilio/inbound", 403),  # unsigned
        ("GET", "/unsubscribe/not-a-token", 404),
        ("GET", "/healthz", None),
        ("GET", "/metrics", None),
    ],
)
def test_every_kind_of_response_carries_the_headers(
    client: TestClient, method: str, path: str, status: int | None
) -> None:
    response = client.request(method, path)

    if status is not None:
        assert response.status_code == status, response.text
    for name, value in EXPECTED.items():
        assert response.headers.get(name) == value, (path, name)


def test_signed_in_pages_and_the_api_are_never_cached(
    client: TestClient, staff: str, api_token: str
) -> None:
    sign_in(client, staff)
    page = client.get("/")
    api = client.get("/api/v1/messages", headers={"Authorization": f"Bearer {api_token}"})

    assert page.status_code == 200 and api.status_code == 200
    for response in (page, api):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-frame-options"] == "DENY"


def test_hsts_is_sent_only_when_the_console_is_served_over_https(
    web_settings: Settings, clinic: Clinic, clock: Clock
) -> None:
    https = web_settings.model_copy(update={"public_url": "https://reminders.example.org/"})
    for settings, expected in ((web_settings, None), (https, "max-age=31536000")):
        with TestClient(create_app(settings, clock=clock), follow_redirects=False) as client:
            assert client.get("/login").headers.get("strict-transport-security") == expected
