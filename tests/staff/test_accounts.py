"""Staff accounts on a real store: throttles that slow the guesser, not the account; disabling,
password resets, unlocking; sessions that end when they should."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reminders.config import Settings
from reminders.staff.accounts import (
    BY_ADDRESS,
    BY_ADDRESS_AND_NAME,
    BY_NAME,
    FORGET_AFTER,
    SESSION_LENGTH,
    WRONG,
    AccountError,
    Limit,
    Throttled,
    add_user,
    answer_delay,
    authenticate,
    ensure_user,
    reset_password,
    session_user,
    set_disabled,
    start_session,
    throttles,
    unlock,
)
from tests.harness import local

NOW = local("2026-03-05 09:00")
PASSWORD = "correct horse battery"
ATTACKER, DESK = "203.0.113.9", "198.51.100.20"


@pytest.fixture
def dana(settings: Settings) -> str:
    add_user(settings, "dana", "staff", PASSWORD, NOW)
    return "dana"


def guess(settings: Settings, name: str, address: str = ATTACKER, times: int = 1) -> list[str]:
    """`times` wrong passwords; what each was answered."""
    answers = []
    for n in range(times):
        try:
            authenticate(settings, name, f"guess number {n}", address, NOW)
        except AccountError as exc:
            answers.append(str(exc))
    return answers


@pytest.mark.parametrize(
    ("limit", "failures", "wait"),
    [
        (Limit(3, timedelta(seconds=1), timedelta(minutes=1)), 2, timedelta()),
        (Limit(3, timedelta(seconds=1), timedelta(minutes=1)), 3, timedelta(seconds=1)),
        (Limit(3, timedelta(seconds=1), timedelta(minutes=1)), 5, timedelta(seconds=4)),
        (Limit(3, timedelta(seconds=1), timedelta(minutes=1)), 500, timedelta(minutes=1)),
    ],
)
def test_each_failure_past_the_free_ones_doubles_the_wait_up_to_a_ceiling(
    limit: Limit, failures: int, wait: timedelta
) -> None:
    assert limit.wait_after(failures) == wait


def test_the_per_name_slowdown_is_at_most_a_couple_of_seconds() -> None:
    assert BY_NAME.wait_after(10_000) <= timedelta(seconds=2)


def test_an_address_guessing_at_a_name_is_refused_after_a_few_tries_without_a_check(
    settings: Settings, dana: str
) -> None:
    answers = guess(settings, dana, times=BY_ADDRESS_AND_NAME.free + 1)

    assert answers[: BY_ADDRESS_AND_NAME.free] == [WRONG] * BY_ADDRESS_AND_NAME.free
    assert answers[-1].startswith("too many failed sign-ins from here")
    # Even the right password is refused from there while it waits: no check, no hint.
    with pytest.raises(Throttled):
        authenticate(settings, dana, PASSWORD, ATTACKER, NOW)


def test_hundreds_of_guesses_from_one_address_never_stop_the_user_from_another(
    settings: Settings, dana: str
) -> None:
    guess(settings, dana, times=300)

    assert authenticate(settings, dana, PASSWORD, DESK, NOW).name == dana
    assert answer_delay(settings, dana, NOW) <= BY_NAME.longest.total_seconds()


def test_guesses_from_many_addresses_slow_the_answers_but_never_refuse_the_user(
    settings: Settings, dana: str
) -> None:
    for n in range(BY_NAME.free + 5):  # past the free ones, then enough to reach the ceiling
        guess(settings, dana, address=f"192.0.2.{n}")

    assert answer_delay(settings, dana, NOW) == BY_NAME.longest.total_seconds()
    assert authenticate(settings, dana, PASSWORD, DESK, NOW).name == dana
    assert answer_delay(settings, dana, NOW) == 0  # the user's own sign-in clears it


def test_one_address_trying_many_names_is_refused_for_every_name(
    settings: Settings, dana: str
) -> None:
    for n in range(BY_ADDRESS.free):
        guess(settings, f"name{n}")

    with pytest.raises(Throttled):
        authenticate(settings, dana, PASSWORD, ATTACKER, NOW)
    assert authenticate(settings, dana, PASSWORD, DESK, NOW).name == dana


def test_unknown_and_known_names_get_the_same_answers_in_the_same_order(
    settings: Settings, dana: str
) -> None:
    times = BY_ADDRESS_AND_NAME.free + 3
    known = guess(settings, dana, address="192.0.2.1", times=times)
    unknown = guess(settings, "nobody-here", address="192.0.2.2", times=times)

    assert known == unknown


def test_failures_are_forgotten_after_an_hour_without_one(settings: Settings, dana: str) -> None:
    guess(settings, dana, times=BY_ADDRESS_AND_NAME.free + 1)
    later = NOW + FORGET_AFTER + timedelta(minutes=16)

    assert authenticate(settings, dana, PASSWORD, ATTACKER, later).name == dana


def test_unlock_forgets_the_failures_counted_against_a_name(settings: Settings, dana: str) -> None:
    guess(settings, dana, times=BY_ADDRESS_AND_NAME.free + 1)
    assert {t.user_name for t in throttles(settings, NOW)} == {"", dana}

    assert unlock(settings, "Dana") == 2  # the address-and-name count and the name's own
    assert authenticate(settings, dana, PASSWORD, ATTACKER, NOW).name == dana


def test_a_disabled_user_is_refused_and_their_sessions_end(settings: Settings, dana: str) -> None:
    user = authenticate(settings, dana, PASSWORD, DESK, NOW)
    token = start_session(settings, user, NOW)

    set_disabled(settings, dana, True, NOW)

    assert session_user(settings, token, NOW) is None
    with pytest.raises(AccountError, match="disabled"):
        authenticate(settings, dana, PASSWORD, DESK, NOW)
    set_disabled(settings, dana, False, NOW)
    assert authenticate(settings, dana, PASSWORD, DESK, NOW).name == dana
    assert session_user(settings, token, NOW) is None  # enabling starts nothing old again


def test_a_disabled_user_with_a_wrong_password_hears_only_wrong_name_or_password(
    settings: Settings, dana: str
) -> None:
    set_disabled(settings, dana, True, NOW)

    assert guess(settings, dana) == [WRONG]


def test_the_only_enabled_administrator_cannot_be_disabled(settings: Settings) -> None:
    add_user(settings, "ada", "admin", PASSWORD, NOW)
    with pytest.raises(AccountError, match="only administrator"):
        set_disabled(settings, "ada", True, NOW)

    add_user(settings, "bea", "admin", PASSWORD, NOW)
    assert set_disabled(settings, "ada", True, NOW).disabled


def test_a_password_reset_ends_the_sessions_and_only_the_new_password_works(
    settings: Settings, dana: str
) -> None:
    token = start_session(settings, authenticate(settings, dana, PASSWORD, DESK, NOW), NOW)

    reset_password(settings, dana, "a brand new password", NOW)

    assert session_user(settings, token, NOW) is None
    assert guess(settings, dana, address=DESK) == [WRONG]
    assert authenticate(settings, dana, "a brand new password", DESK, NOW).name == dana


def test_a_short_new_password_is_refused(settings: Settings, dana: str) -> None:
    with pytest.raises(AccountError, match="at least 10 characters"):
        reset_password(settings, dana, "short", NOW)


def test_a_session_ends_after_its_length(settings: Settings, dana: str) -> None:
    token = start_session(settings, authenticate(settings, dana, PASSWORD, DESK, NOW), NOW)

    assert session_user(settings, token, NOW + SESSION_LENGTH - timedelta(seconds=1)) is not None
    assert session_user(settings, token, NOW + SESSION_LENGTH) is None


def test_ensure_user_adds_once_and_then_resets_and_enables(settings: Settings) -> None:
    ensure_user(settings, "demo", "admin", "first password!", NOW)
    add_user(settings, "ada", "admin", PASSWORD, NOW)
    set_disabled(settings, "demo", True, NOW)

    again = ensure_user(settings, "demo", "admin", "second password", NOW)

    assert not again.disabled
    assert authenticate(settings, "demo", "second password", DESK, NOW).name == "demo"
