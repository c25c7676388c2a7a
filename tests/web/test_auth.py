"""Signing in over HTTP: argon2 passwords, CSRF on the login form, throttled guessers, sessions
that end on sign-out and when the user is disabled, and the admin's account controls."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from fastapi.testclient import TestClient

from reminders.config import Settings
from reminders.staff.accounts import BY_ADDRESS_AND_NAME, add_user, set_disabled
from reminders.web.app import create_app
from tests.harness import Clinic
from tests.web.conftest import NOW, PASSWORD, Clock, form_token, sign_in


def test_a_login_form_posted_without_its_token_is_refused(client: TestClient, staff: str) -> None:
    response = client.post("/login", data={"name": staff, "password": PASSWORD})

    assert response.status_code == 403
    assert client.get("/").status_code == 303


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


@contextmanager
def browser_at(settings: Settings, clock: Clock, address: str) -> Iterator[TestClient]:
    """A browser of its own (its own cookies) connecting from `address`."""
    app = create_app(settings, clock=clock)
    with TestClient(app, follow_redirects=False, client=(address, 50000)) as client:
        yield client


def try_sign_in(client: TestClient, name: str, password: str) -> int:
    data = {"name": name, "password": password, "csrf_token": form_token(client)}
    status: int = client.post("/login", data=data).status_code
    return status


def test_hundreds_of_wrong_passwords_from_one_address_never_stop_the_user_from_another(
    web_settings: Settings, clinic: Clinic, clock: Clock, staff: str
) -> None:
    with browser_at(web_settings, clock, "203.0.113.9") as attacker:
        answers = [try_sign_in(attacker, staff, f"guess {n}") for n in range(300)]
        refused = attacker.post(
            "/login", data={"name": staff, "password": "x", "csrf_token": form_token(attacker)}
        )
    with browser_at(web_settings, clock, "198.51.100.20") as desk:
        assert try_sign_in(desk, staff, PASSWORD) == 303
        assert desk.get("/").status_code == 200

    free = BY_ADDRESS_AND_NAME.free
    assert answers[:free] == [401] * free and set(answers[free:]) == {429}
    assert "too many failed sign-ins from here" in refused.text
    assert int(refused.headers["retry-after"]) > 0


def test_an_unknown_name_gets_the_same_answers_as_a_known_one(
    web_settings: Settings, clinic: Clinic, clock: Clock, staff: str
) -> None:
    def answers(name: str, address: str) -> list[tuple[int, str]]:
        with browser_at(web_settings, clock, address) as client:
            replies = []
            for n in range(BY_ADDRESS_AND_NAME.free + 2):
                data = {"name": name, "password": f"guess {n}", "csrf_token": form_token(client)}
                response = client.post("/login", data=data)
                error = response.text.split('class="error">', 1)[1].split("<", 1)[0]
                replies.append((response.status_code, error))
            return replies

    assert answers(staff, "192.0.2.1") == answers("nobody", "192.0.2.2")


def test_a_copied_cookie_opens_nothing_after_sign_out(
    web_settings: Settings, clinic: Clinic, clock: Clock, admin: str
) -> None:
    with browser_at(web_settings, clock, "198.51.100.20") as client:
        sign_in(client, admin)
        copied = dict(client.cookies)
        assert client.get("/admin/users").status_code == 200
        response = client.post("/logout", data={"csrf_token": form_token(client, "/")})
        assert response.status_code == 303
    with browser_at(web_settings, clock, "203.0.113.9") as thief:
        thief.cookies.update(copied)
        assert thief.get("/admin/users").status_code == 303
        assert thief.get("/").headers["location"].startswith("/login")


def test_disabling_a_user_ends_their_session_at_once(
    as_staff: TestClient, web_settings: Settings, staff: str
) -> None:
    assert as_staff.get("/").status_code == 200

    set_disabled(web_settings, staff, True, NOW)

    assert as_staff.get("/").status_code == 303
    data = {"name": staff, "password": PASSWORD, "csrf_token": form_token(as_staff)}
    refused = as_staff.post("/login", data=data)
    assert refused.status_code == 401 and "this account is disabled" in refused.text


def admin_post(client: TestClient, path: str, **data: str) -> str:
    """Post an admin form; the notice it leaves on the users page."""
    response = client.post(path, data={"csrf_token": form_token(client, "/admin/users"), **data})
    assert response.status_code == 303, response.text
    page: str = client.get("/admin/users").text
    return page.split('role="status">', 1)[1].split("<", 1)[0]


def test_an_admin_disables_enables_and_resets_a_user_from_the_users_page(
    as_admin: TestClient, web_settings: Settings, clock: Clock, staff: str
) -> None:
    with browser_at(web_settings, clock, "198.51.100.20") as dana:
        sign_in(dana, staff)
        assert admin_post(as_admin, f"/admin/users/{staff}/disable").startswith("Disabled dana")
        assert dana.get("/").status_code == 303
        assert try_sign_in(dana, staff, PASSWORD) == 401

        assert admin_post(as_admin, f"/admin/users/{staff}/enable") == "Enabled dana."
        notice = admin_post(as_admin, f"/admin/users/{staff}/password", password="new password 1")
        assert notice.startswith("New password set for dana")
        assert try_sign_in(dana, staff, PASSWORD) == 401
        assert try_sign_in(dana, staff, "new password 1") == 303


def test_an_admin_cannot_disable_their_own_account(as_admin: TestClient, admin: str) -> None:
    notice = admin_post(as_admin, f"/admin/users/{admin}/disable")

    assert notice == "You cannot disable your own account."
    assert as_admin.get("/admin/users").status_code == 200


def test_an_admin_unlocks_a_name_a_guesser_was_refused_for(
    as_admin: TestClient, web_settings: Settings, clock: Clock, staff: str
) -> None:
    with browser_at(web_settings, clock, "203.0.113.9") as shared_desk:
        for n in range(BY_ADDRESS_AND_NAME.free + 1):
            try_sign_in(shared_desk, staff, f"typo {n}")
        assert try_sign_in(shared_desk, staff, PASSWORD) == 429
        assert "203.0.113.9" in as_admin.get("/admin/users").text

        notice = admin_post(as_admin, f"/admin/users/{staff}/unlock")

        assert notice.startswith("Unlocked dana")
        assert try_sign_in(shared_desk, staff, PASSWORD) == 303


def test_staff_cannot_use_the_account_controls(as_staff: TestClient, admin: str) -> None:
    token = form_token(as_staff, "/")
    response = as_staff.post(f"/admin/users/{admin}/disable", data={"csrf_token": token})

    assert response.status_code == 403
