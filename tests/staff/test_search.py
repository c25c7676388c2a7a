"""Finding patients by name, clinic id or a phone number typed any way."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from reminders import store
from reminders.config import Settings
from reminders.staff.phones import display, typed_digits
from reminders.staff.search import find_patients
from tests.harness import Clinic, row

NOW = datetime(2026, 3, 1, 16, tzinfo=UTC)


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    clinic = Clinic(settings, tmp_path)
    clinic.import_rows(
        [
            row(),
            row(
                patient_id="P2",
                first_name="Jo",
                last_name="Nguyen-Smith",
                phone="+447911123456",
                series_id="S2",
                session_id="S2-1",
            ),
            row(
                patient_id="X_1",
                first_name="Pat",
                last_name="100% Real",
                phone="",
                series_id="S3",
                session_id="S3-1",
            ),
        ],
        NOW,
    )
    return clinic


def found(settings: Settings, text: str, region: str = "CA") -> list[str]:
    with store.transaction(settings.database_url) as db:
        patients, _ = find_patients(db, text, region)
        return [p.external_id for p in patients]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nguyen", ["P1", "P2"]),
        ("avery nguyen", ["P1"]),
        ("NGUYEN smith", ["P2"]),
        ("p1", ["P1"]),
        ("403-555-0101", ["P1"]),
        ("1 (403) 555 0101", ["P1"]),
        ("07911 123456", []),  # a UK national number, typed at a Canadian desk
        ("+44 7911 123456", ["P2"]),
        ("100%", ["X_1"]),  # LIKE wildcards are matched as typed
        ("x_", ["X_1"]),
        ("nobody", []),
    ],
)
def test_a_patient_is_found_by_what_the_desk_types(
    clinic: Clinic, settings: Settings, text: str, expected: list[str]
) -> None:
    assert found(settings, text) == expected


def test_a_national_number_is_found_in_the_clinics_own_region(
    clinic: Clinic, settings: Settings
) -> None:
    assert found(settings, "07911 123456", region="GB") == ["P2"]


def test_phones_show_nationally_at_home_and_internationally_from_abroad() -> None:
    home, abroad = display("+14035550101", "CA"), display("+447911123456", "CA")

    assert home is not None and (home.shown, home.tel) == ("(403) 555-0101", "tel:+14035550101")
    assert abroad is not None and abroad.shown == "+44 7911 123456"
    assert display(None, "CA") is None and display("", "CA") is None


def test_fewer_than_four_digits_are_not_a_phone_number() -> None:
    assert typed_digits("P12", "CA") == []


def test_matches_come_a_page_at_a_time_in_name_order(clinic: Clinic, settings: Settings) -> None:
    with store.transaction(settings.database_url) as db:
        first, more = find_patients(db, "nguyen", "CA", limit=1)
        second, after = find_patients(db, "nguyen", "CA", offset=1, limit=1)

    assert [p.external_id for p in first + second] == ["P1", "P2"]
    assert more and not after
