"""Signed unsubscribe links: the token, the headers, and the footer of follow-up emails."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select

from reminders import store
from reminders.config import Settings
from reminders.models import Patient
from reminders.wording.unsubscribe_links import (
    make_token,
    patient_of,
    unsubscribe_headers,
    unsubscribe_url,
)
from tests.harness import Clinic, local, row

PUBLIC = "https://reminders.clinic.example"


@pytest.fixture
def linked(settings: Settings) -> Settings:
    """A clinic that can sign links: a public address and a secret key."""
    return settings.model_copy(
        update={
            "public_url": PUBLIC + "/",
            "secret_key": "k" * 40,
            "email_from": "rem@clinic.example",
        }
    )


def patient(external_id: str = "P1") -> Patient:
    return Patient(external_id=external_id, first_name="Avery", last_name="Nguyen")


def test_a_token_names_its_patient(linked: Settings) -> None:
    assert patient_of(linked, make_token(linked, patient("P-42/é"))) == "P-42/é"


@pytest.mark.parametrize("case", ["other patient", "flipped signature", "other key", "cut"])
def test_it_refuses_a_tampered_token(linked: Settings, case: str) -> None:
    token = make_token(linked, patient("P1"))
    name, _, signature = token.partition(".")
    forged = {
        "other patient": make_token(linked, patient("P2")).split(".")[0] + "." + signature,
        "flipped signature": name + "." + ("A" if signature[0] != "A" else "B") + signature[1:],
        "other key": make_token(linked.model_copy(update={"secret_key": "z" * 40}), patient()),
        "cut": name,
    }[case]
    assert patient_of(linked, forged) is None


@pytest.mark.parametrize("token", ["", ".", "abc", "!!!.???", "UDE.", ".UDE"])
def test_it_refuses_garbage(linked: Settings, token: str) -> None:
    assert patient_of(linked, token) is None


def test_without_a_secret_key_no_token_verifies(linked: Settings) -> None:
    token = make_token(linked, patient())
    assert patient_of(linked.model_copy(update={"secret_key": ""}), token) is None


def test_the_header_offers_the_https_link_with_one_click_and_the_mailto(linked: Settings) -> None:
    headers = unsubscribe_headers(linked, patient())
    url = f"{PUBLIC}/unsubscribe/{make_token(linked, patient())}"
    assert unsubscribe_url(linked, patient()) == url
    assert headers == {
        "List-Unsubscribe": f"<{url}>, <mailto:rem@clinic.example?subject=unsubscribe>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_without_a_public_url_it_falls_back_to_mailto(linked: Settings) -> None:
    plain = linked.model_copy(update={"public_url": ""})
    assert unsubscribe_url(plain, patient()) == "mailto:rem@clinic.example?subject=unsubscribe"
    assert unsubscribe_headers(plain, patient()) == {
        "List-Unsubscribe": "<mailto:rem@clinic.example?subject=unsubscribe>"
    }


def emails(folder: Path) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(folder.glob("*.eml"))
    ]


def test_follow_up_emails_carry_the_https_link_in_header_and_footer(
    linked: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(linked, tmp_path)
    done = row(phone="", status="completed", starts_at="2026-03-04T14:00-07:00")
    booked = row(phone="", session_id="S1-2", session_number=2, starts_at="2026-03-25T14:00-06:00")
    clinic.import_rows([done, booked], local("2026-03-04 16:00"))
    clinic.tick(local("2026-03-05 10:30"))

    (aftercare,) = emails(linked.outbox_dir)
    url = f"{PUBLIC}/unsubscribe/{make_token(linked, patient())}"
    assert str(aftercare["List-Unsubscribe"]).startswith(f"<{url}>, <mailto:")
    # RFC 8058 receivers read the raw field: the links as written, not RFC 2047 words.
    (raw,) = [path.read_bytes() for path in linked.outbox_dir.glob("*.eml")]
    header = f"\r\nList-Unsubscribe: <{url}>, <mailto:rem@clinic.example?subject=unsubscribe>\r\n"
    assert header.encode() in raw
    assert b"\r\nList-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n" in raw
    assert aftercare["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = aftercare.get_body(preferencelist=("plain",))
    html = aftercare.get_body(preferencelist=("html",))
    assert text is not None and url in text.get_content()
    assert html is not None and f'href="{url}"' in html.get_content()


def test_session_reminder_emails_carry_no_unsubscribe(linked: Settings, tmp_path: Path) -> None:
    clinic = Clinic(linked, tmp_path)
    clinic.import_rows([row(phone="")], local("2026-03-01 09:00"))
    clinic.tick(local("2026-03-07 14:00"))

    (reminder,) = emails(linked.outbox_dir)
    assert reminder["List-Unsubscribe"] is None


def test_a_follow_up_email_is_rechecked_against_the_opt_out_at_send_time(
    linked: Settings, tmp_path: Path
) -> None:
    clinic = Clinic(linked, tmp_path)
    done = row(status="completed", starts_at="2026-03-04T14:00-07:00")
    booked = row(session_id="S1-2", session_number=2, starts_at="2026-03-25T14:00-06:00")
    clinic.import_rows([done, booked], local("2026-03-04 16:00"))
    with store.transaction(linked.database_url) as db:  # recorded, but nothing re-planned
        db.scalars(select(Patient)).one().followup_email_opt_out = True
    clinic.tick(local("2026-03-05 10:30"))

    (aftercare,) = clinic.log(kind="aftercare")
    assert (aftercare["channel"], aftercare["status"]) == ("email", "suppressed")
    assert aftercare["reason"] == "patient unsubscribed from follow-up emails"
    assert emails(linked.outbox_dir) == []
