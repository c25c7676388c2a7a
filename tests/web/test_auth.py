"""Signing in: argon2 passwords, CSRF on the login form, throttling, sign-out."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reminders.config import Settings
from reminders.staff.accounts import LOCK_AFTER, AccountError, add_user, login_delay
from tests.web.conftest import NOW, PASSWORD, form_token, sign_in


def test_a_login_form_posted_without_its_token_is_refused(client: TestClient, staff: str) -> None:
    response = client.post("/login", data={"name": staff, "password": PASSWORD})

    assert response.status_code == 403
    assert "user_id" not in client.cookies.get("reminders_session", "")


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: TestClient, staff: str
) -> None:
    token = form_token(client)
    response = client.post(
        "/login", data={"name": staff, "password": "wrong password", "csrf_token": token}
    )

    assert response.status_code == 401
    assert "wrong name or password" in response.text


def test_signing_in_sets_an_http_only_lax_cookie(client: TestClient, staff: str) -> None:
    token = form_token(client)
    response = client.post(
        "/login", data={"name": staff, "password": PASSWORD, "csrf_token": token}
    )

    cookie = response.headers["set-cookie"].lower()
    assert response.status_code == 303
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie  # REMINDERS_PUBLIC_URL is not https here


def test_repeated_failures_slow_down_and_then_lock_the_account(
    client: TestClient, staff: str, web_settings: Settings
) -> None:
    delays = [login_delay(n) for n in range(LOCK_AFTER)]
    assert delays[0] == 0 and delays == sorted(delays) and delays[-1] > delays[3]
    from reminders.staff.accounts import authenticate

    for _ in range(LOCK_AFTER):
        with pytest.raises(AccountError):
            authenticate(web_settings, staff, "nope nope nope", NOW)
    with pytest.raises(AccountError, match="too many failed attempts"):
        authenticate(web_settings, staff, PASSWORD, NOW)


def test_signing_out_ends_the_session(client: TestClient, staff: str) -> None:
    sign_in(client, staff)
    response = client.post("/logout", data={"csrf_token": form_token(client, "/login")})

    assert response.status_code == 303
    assert client.get("/").status_code in (303, 307)


def test_passwords_are_stored_as_argon2_hashes(web_settings: Settings) -> None:
    from sqlalchemy import select

    from reminders import store
    from reminders.models import User

    add_user(web_settings, "kim", "admin", PASSWORD, NOW)
    with store.transaction(web_settings.database_url) as db:
        stored = db.scalar(select(User.password_hash).where(User.name == "kim"))
    assert stored is not None and stored.startswith("$argon2") and PASSWORD not in stored


def test_the_console_refuses_to_start_without_a_secret_key(settings: Settings) -> None:
    from reminders.config import ConfigError
    from reminders.web.app import create_app

    with pytest.raises(ConfigError, match="REMINDERS_SECRET_KEY"):
        create_app(settings)
