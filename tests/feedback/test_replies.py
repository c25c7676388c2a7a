"""Patient replies and status callbacks as plain functions, on a real store and the outbox."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from reminders import store
from reminders.config import SHIPPED_TEMPLATES, Settings
from reminders.feedback.delivery import apply_status
from reminders.feedback.replies import (
    CONFIRM_WORDS,
    RESCHEDULE_WORDS,
    TWILIO_WORDS,
    classify,
    normalise,
    receive,
)
from reminders.models import InboundMessage, Patient, SessionStatus
from tests.harness import Clinic, local, reminders_only, row

AVERY = "+14035550101"


@pytest.mark.parametrize(
    ("body", "opted_out", "intent"),
    [
        ("STOP", False, "opt_out"),
        ("stop", False, "opt_out"),
        (" Stop! ", False, "opt_out"),
        ("StopAll", False, "opt_out"),
        ("unsubscribe.", False, "opt_out"),
        ("CANCEL", False, "opt_out"),
        ("end", False, "opt_out"),
        ("Quit", False, "opt_out"),
        ("revoke", False, "opt_out"),
        ("OPTOUT", False, "opt_out"),
        ("ARRET", False, "opt_out"),
        ("Arrêt", False, "opt_out"),
        ("« arrêt »", False, "opt_out"),
        ("START", True, "opt_in"),
        ("unstop", True, "opt_in"),
        ("Yes!", True, "opt_in"),
        ("oui", True, "opt_in"),
        ("OUI", False, "confirm"),
        ("Oui.", False, "confirm"),
        ("C", False, "confirm"),
        ("c", False, "confirm"),
        ("1", False, "confirm"),
        ("Confirm", False, "confirm"),
        ("CONFIRMER", False, "confirm"),
        ("R", False, "reschedule"),
        (" r ", False, "reschedule"),
        ("2", False, "reschedule"),
        ("reschedule.", False, "reschedule"),
        ("Déplacer", False, "reschedule"),
        ("REPORTER", False, "reschedule"),
        # Twilio's opt-in word: the number is resubscribed, nothing is confirmed.
        ("YES", False, "opt_in"),
        ("stop all", False, "opt_out"),
        ("HELP", False, "help"),
        ("info", False, "help"),
        ("aide?", False, "help"),
        ("Aide", True, "help"),
        ("Can I come later?", False, "other"),
        ("stop it please", False, "other"),
        ("", False, "other"),
    ],
)
def test_it_classifies_replies_in_both_languages(body: str, opted_out: bool, intent: str) -> None:
    assert classify(body, opted_out) == intent


def test_no_confirm_or_reschedule_word_is_one_of_twilios_keywords() -> None:
    """Twilio acts on its own keywords (opt-out, opt-in, help) before the reply reaches us."""
    twilio = {"start", "yes", "unstop", "stop", "stopall", "unsubscribe", "cancel", "end"}
    twilio |= {"quit", "stop all", "revoke", "optout", "help", "info"}
    assert twilio <= TWILIO_WORDS
    assert not (CONFIRM_WORDS | RESCHEDULE_WORDS) & TWILIO_WORDS
    assert {"c", "1", "confirm", "oui", "confirmer"} <= CONFIRM_WORDS
    assert {"r", "2", "reschedule", "deplacer", "reporter"} <= RESCHEDULE_WORDS


def test_the_words_the_shipped_reminders_offer_do_what_they_say() -> None:
    for language, confirm, reschedule in (
        ("en", "Reply C to confirm", "R to reschedule"),
        ("fr", "C (confirmer)", "R (reporter)"),
    ):
        text = (SHIPPED_TEMPLATES / "session_reminder" / f"sms.{language}.txt").read_text()
        assert confirm in text and reschedule in text
    assert classify("C", False) == "confirm" and classify("R", False) == "reschedule"


def test_a_patient_who_confirms_with_yes_is_told_how_to_confirm(clinic: Clinic) -> None:
    settings = clinic.settings
    assert receive(settings, "SM-yes", AVERY, "Yes", local("2026-03-05 09:00")) == "opt_in"
    [reply] = _sms_to_avery(clinic)
    assert "YES only renews" in str(reply["body"]) and "reply C" in str(reply["body"])
    assert "Tuesday, March 10 at 2:00 p.m." in str(reply["body"])
    assert receive(settings, "SM-c", AVERY, "c", local("2026-03-05 09:01")) == "confirm"
    with store.transaction(settings.database_url) as db:
        statuses = [i.session.status for i in db.scalars(select(InboundMessage)) if i.session]
    assert statuses == [SessionStatus.CONFIRMED]


def test_it_normalises_case_accents_spaces_and_punctuation() -> None:
    assert normalise("  ARRÊT!!  ") == "arret"


@pytest.fixture
def clinic(settings: Settings, tmp_path: Path) -> Clinic:
    """Avery: two sessions, email and SMS reminders, no follow-ups to count around."""
    clinic = Clinic(reminders_only(settings), tmp_path)
    clinic.import_rows(
        [row(), row(session_id="S1-2", session_number=2, starts_at="2026-03-31T14:00-06:00")],
        local("2026-03-01 09:00"),
    )
    return clinic


def _sms_to_avery(clinic: Clinic) -> list[dict[str, object]]:
    return [m for m in clinic.outbox() if m["channel"] == "sms" and m["to"] == AVERY]


def _emails(clinic: Clinic) -> list[dict[str, object]]:
    return [m for m in clinic.outbox() if m["channel"] == "email"]


def _opted_out(settings: Settings) -> bool:
    with store.transaction(settings.database_url) as db:
        patient = db.scalars(select(Patient).where(Patient.external_id == "P1")).one()
        return patient.sms_opt_out


def test_it_stops_sms_after_stop_and_resumes_from_the_next_reminder_after_start(
    clinic: Clinic,
) -> None:
    settings = clinic.settings
    assert receive(settings, "SM-stop", AVERY, "Stop", local("2026-03-05 09:00")) == "opt_out"
    assert _opted_out(settings)
    assert ("sms-24h", "sms", "planned") not in clinic.statuses()

    clinic.tick(local("2026-03-07 15:00"))  # email-72h for S1-1
    clinic.tick(local("2026-03-09 15:00"))  # sms-24h for S1-1 would have been due
    assert len(_emails(clinic)) == 1
    assert _sms_to_avery(clinic) == []  # Twilio answers STOP itself: no reply of ours either

    assert receive(settings, "SM-start", AVERY, "START", local("2026-03-10 15:00")) == "opt_in"
    assert not _opted_out(settings)
    clinic.tick(local("2026-03-28 15:00"))  # email-72h for S1-2
    assert _sms_to_avery(clinic) == []
    clinic.tick(local("2026-03-30 15:00"))  # sms-24h for S1-2: SMS are back
    assert len(_sms_to_avery(clinic)) == 1
    sent_sms = [m["session_id"] for m in clinic.log(channel="sms") if m["status"] == "sent"]
    assert sent_sms == ["S1-2"]
    assert len(_emails(clinic)) == 2


def test_it_takes_a_repeated_webhook_once(clinic: Clinic) -> None:
    settings = clinic.settings
    now = local("2026-03-05 09:00")
    assert receive(settings, "SM-help", AVERY, "HELP", now) == "help"
    assert receive(settings, "SM-help", AVERY, "HELP", now) is None
    with store.transaction(settings.database_url) as db:
        assert len(db.scalars(select(InboundMessage)).all()) == 1
    assert len(_sms_to_avery(clinic)) == 1


def test_it_ignores_a_status_callback_for_an_unknown_message(clinic: Clinic) -> None:
    before = clinic.statuses()
    assert apply_status(clinic.settings, "SMnope", "delivered", "", local("2026-03-05")) is None
    assert clinic.statuses() == before


def _set_language(settings: Settings, language: str) -> None:
    with store.transaction(settings.database_url) as db:
        patient = db.scalars(select(Patient).where(Patient.external_id == "P1")).one()
        patient.language = language


@pytest.mark.parametrize(
    ("language", "start"),
    [
        ("en", "Calgary Integrative Medicine: appointment reminders."),
        ("fr", "Calgary Integrative Medicine : rappels de rendez-vous."),
        ("de", "Calgary Integrative Medicine: appointment reminders."),  # none shipped: English
    ],
)
def test_it_answers_help_in_the_patients_language_or_else_in_english(
    clinic: Clinic, language: str, start: str
) -> None:
    _set_language(clinic.settings, language)
    receive(clinic.settings, "SM-help", AVERY, "HELP", local("2026-03-05 09:00"))
    [reply] = _sms_to_avery(clinic)
    assert str(reply["body"]).startswith(start)


def test_a_clinic_template_folder_overrides_an_auto_reply(clinic: Clinic, tmp_path: Path) -> None:
    folder = tmp_path / "clinic-templates"
    (folder / "_replies").mkdir(parents=True)
    (folder / "_replies" / "help.en.txt").write_text(
        "{{ clinic.name }}: reminders only. Call {{ clinic.phone }} any weekday.\n"
    )
    settings = clinic.settings.model_copy(update={"templates_dir": folder})
    assert receive(settings, "SM-help", AVERY, "HELP", local("2026-03-05 09:00")) == "help"
    assert receive(settings, "SM-r", AVERY, "R", local("2026-03-05 09:05")) == "reschedule"
    helped, answered = [str(m["body"]) for m in _sms_to_avery(clinic)]
    assert (
        helped == "Calgary Integrative Medicine: reminders only. Call (403) 202-7272 any weekday."
    )
    # Replies the clinic did not override still come from the shipped folder.
    assert answered.startswith(
        "Calgary Integrative Medicine: thank you, we will call you to find a new time instead of"
    )


def test_an_auto_reply_that_does_not_render_still_keeps_what_the_patient_asked(
    clinic: Clinic, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "broken" / "_replies").mkdir(parents=True)
    (tmp_path / "broken" / "_replies" / "confirm.en.txt").write_text("{{ clinic.fax }}")
    settings = clinic.settings.model_copy(update={"templates_dir": tmp_path / "broken"})
    assert receive(settings, "SM-c", AVERY, "C", local("2026-03-05 09:00")) == "confirm"
    assert _sms_to_avery(clinic) == []
    with store.transaction(settings.database_url) as db:
        [inbound] = db.scalars(select(InboundMessage)).all()
        assert inbound.session is not None and inbound.session.status == SessionStatus.CONFIRMED
        assert inbound.auto_reply is None
    assert "_replies/confirm.en.txt" in caplog.text
