"""The wording outside message kinds: auto-replies (`_replies/`) and the .ics event
(`_calendar/`), shipped as templates a clinic can override, and checked like the others."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from reminders.config import SHIPPED_TEMPLATES, Settings
from reminders.models import Patient, Series, Session
from reminders.wording import sms_text
from reminders.wording.calendar import EVENT_FOLDER
from reminders.wording.replies import REPLY_FOLDER, reply_context
from reminders.wording.template_tools import check_templates, template_kinds
from reminders.wording.templating import render_part

# 09:30 in Calgary (MDT).
AUGUST = datetime(2026, 8, 4, 15, 30, tzinfo=UTC)


def a_session() -> Session:
    patient = Patient(external_id="p-1", first_name="Marie", last_name="Tremblay", language="en")
    series = Series(
        external_id="s-1", treatment="Prolotherapy", planned_sessions=6, patient=patient
    )
    return Session(
        external_id="x-1", number=2, starts_at=AUGUST, duration_minutes=30, series=series
    )


def check(settings: Settings) -> tuple[int, str]:
    out = io.StringIO()
    return check_templates(settings, out), out.getvalue()


def override(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def shipped(folder: str) -> list[str]:
    return sorted(path.name for path in (SHIPPED_TEMPLATES / folder).iterdir())


def test_the_wording_ships_in_both_languages_and_only_french_confirms_an_opt_out() -> None:
    assert shipped(REPLY_FOLDER) == [
        "confirm.en.txt",
        "confirm.fr.txt",
        "confirm_hint.en.txt",  # to a patient who "confirmed" with YES, Twilio's opt-in word
        "confirm_hint.fr.txt",
        "help.en.txt",
        "help.fr.txt",
        "no_session.en.txt",
        "no_session.fr.txt",
        "opt_out.fr.txt",  # Twilio answers STOP itself; ARRET is ours to confirm
        "other.en.txt",
        "other.fr.txt",
        "reschedule.en.txt",
        "reschedule.fr.txt",
    ]
    assert shipped(EVENT_FOLDER) == [
        "description.en.txt",
        "description.fr.txt",
        "summary.en.txt",
        "summary.fr.txt",
    ]


# The sample session is on Tuesday 4 August 2026 at 9:30 in Calgary.
@pytest.mark.parametrize(
    ("name", "text"),
    [
        (
            "help.en.txt",
            "Calgary Integrative Medicine: appointment reminders. Reply C to confirm,"
            " R to reschedule. To reach us, call (403) 202-7272. Reply STOP to opt out.",
        ),
        (
            "confirm.en.txt",
            "Calgary Integrative Medicine: thank you, your appointment on Tuesday, August 4"
            " at 9:30 a.m. is confirmed.",
        ),
        (
            "confirm_hint.en.txt",
            "Calgary Integrative Medicine: YES only renews your text messages. To confirm"
            " Tuesday, August 4 at 9:30 a.m., reply C; to reschedule, reply R.",
        ),
        (
            "no_session.en.txt",
            "Calgary Integrative Medicine: we found no upcoming appointment."
            " Please call (403) 202-7272.",
        ),
        (
            "reschedule.en.txt",
            "Calgary Integrative Medicine: thank you, we will call you to find a new time"
            " instead of Tuesday, August 4 at 9:30 a.m.",
        ),
        (
            "other.en.txt",
            "Calgary Integrative Medicine: this number is not monitored."
            " Please call (403) 202-7272.",
        ),
        (
            "help.fr.txt",
            "Calgary Integrative Medicine : rappels de rendez-vous. Répondez C pour confirmer,"
            " R pour reporter, STOP pour vous désabonner. Tél. : (403) 202-7272",
        ),
        (
            "confirm.fr.txt",
            "Calgary Integrative Medicine : merci, votre rendez-vous du mardi 4 aout à 9 h 30"
            " est confirmé.",
        ),
        (
            "confirm_hint.fr.txt",
            "Calgary Integrative Medicine : pour confirmer votre rendez-vous du mardi 4 aout"
            " à 9 h 30, répondez C (ou OUI). Pour le reporter, répondez R.",
        ),
        (
            "no_session.fr.txt",
            "Calgary Integrative Medicine : aucun rendez-vous à venir."
            " Appelez-nous au (403) 202-7272.",
        ),
        (
            "reschedule.fr.txt",
            "Calgary Integrative Medicine : merci, nous vous appellerons pour trouver une autre"
            " date que le mardi 4 aout à 9 h 30.",
        ),
        (
            "other.fr.txt",
            "Calgary Integrative Medicine : ce numéro n'est pas surveillé."
            " Appelez-nous au (403) 202-7272.",
        ),
        (
            "opt_out.fr.txt",
            "Calgary Integrative Medicine : vous ne recevrez plus de textos de notre part.",
        ),
    ],
)
def test_every_auto_reply_keeps_its_wording(name: str, text: str) -> None:
    """In the patient's language and the clinic's zone, the clinic's phone formatted, in the
    SMS alphabet, and in one segment."""
    config = Settings()
    context = reply_context(config, a_session(), name.split(".")[1])
    rendered = render_part(config, f"{REPLY_FOLDER}/{name}", context).strip()
    assert rendered == text
    assert sms_text.encoding(rendered) == "GSM-7" and sms_text.segments(rendered) == 1


def test_an_auto_reply_without_a_session_has_an_empty_when() -> None:
    assert reply_context(Settings(), None)["when"] == ""


def test_the_underscore_folders_are_not_message_kinds() -> None:
    kinds = template_kinds(Settings())
    assert REPLY_FOLDER not in kinds and EVENT_FOLDER not in kinds


def test_check_still_passes_on_the_shipped_templates() -> None:
    status, output = check(Settings())
    assert status == 0, output
    assert "PROBLEM" not in output
    assert output.splitlines()[-1].startswith("OK: 5 kinds, 2 languages, 10 SMS measured")


def test_check_passes_with_a_clinic_override_of_the_wording(tmp_path: Path) -> None:
    override(tmp_path, "_replies/help.fr.txt", "{{ clinic.name }} : appelez le {{ clinic.phone }}.")
    override(tmp_path, "_calendar/summary.en.txt", "{{ clinic.name }}: {{ session.time }}")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 0, output


def test_check_fails_on_an_undefined_variable_in_an_auto_reply_and_names_the_file(
    tmp_path: Path,
) -> None:
    path = override(tmp_path, "_replies/confirm.fr.txt", "{{ clinic.name }} : {{ session.date }}")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 1
    problem = "'None' has no attribute 'date' (in _replies/confirm.fr.txt, line 1)"
    assert f"PROBLEM {path}: {problem}" in output
    assert output.splitlines()[-1].startswith("FAILED: 1 problem(s)")


def test_check_fails_on_a_syntax_error_in_the_event_summary_and_names_the_file_and_line(
    tmp_path: Path,
) -> None:
    path = override(tmp_path, "_calendar/summary.en.txt", "{{ clinic.name }}\n{% if greet %}")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 1
    assert f"PROBLEM {path}: " in output
    assert "_calendar/summary.en.txt, line 2" in output
    assert output.splitlines()[-1].startswith("FAILED: 1 problem(s)")
