from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from reminders.config import SHIPPED_TEMPLATES, Settings
from reminders.models import SessionStatus
from reminders.planning.standing import assess
from reminders.wording import sms_text
from reminders.wording.template_tools import (
    check_templates,
    preview_template,
    sample_label,
    sample_now,
    sample_sessions,
    template_file,
    template_kinds,
)
from reminders.wording.templating import TemplateProblem, render_for

SHIPPED_KINDS = [
    "aftercare",
    "missed_session",
    "rebook_nudge",
    "series_complete",
    "session_reminder",
]
SMS_LINE = re.compile(
    r"^(?P<kind>\w+) sms (?P<language>\w+)  (?P<encoding>GSM-7|UCS-2)\s+(?P<length>\d+) chars"
    r"  (?P<segments>\d+) segments?\b",
    re.MULTILINE,
)


def check(settings: Settings) -> tuple[int, str]:
    out = io.StringIO()
    return check_templates(settings, out), out.getvalue()


def override(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def sms_lines(output: str) -> dict[tuple[str, str], re.Match[str]]:
    return {(m["kind"], m["language"]): m for m in SMS_LINE.finditer(output)}


def test_check_passes_on_the_shipped_templates_and_lists_every_sms() -> None:
    status, output = check(Settings())
    assert status == 0, output
    lines = sms_lines(output)
    assert sorted(lines) == [(kind, lang) for kind in SHIPPED_KINDS for lang in ("en", "fr")]
    assert all(line["encoding"] == "GSM-7" for line in lines.values())
    assert all(int(line["segments"]) <= 2 for line in lines.values())
    assert output.splitlines()[-1].startswith("OK: 5 kinds, 2 languages, 10 SMS measured")
    assert "PROBLEM" not in output


def test_check_passes_with_a_booking_link_and_the_treatment_named() -> None:
    config = Settings.model_validate(
        {"clinic": {"booking_url": "https://cim.example/book", "name_treatment_in_sms": True}}
    )
    status, output = check(config)
    assert status == 0, output


def test_check_fails_on_an_undefined_variable_and_names_the_file(tmp_path: Path) -> None:
    path = override(tmp_path, "aftercare/sms.en.txt", "Hi {{ patient.nickname }}")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 1
    assert f"PROBLEM {path}: " in output
    assert "nickname" in output
    assert output.splitlines()[-1].startswith("FAILED: 1 problem(s)")


def test_check_fails_on_a_syntax_error_and_names_the_file_and_line(tmp_path: Path) -> None:
    path = override(tmp_path, "rebook_nudge/email.fr.html", "<p>\n{% if greet %}Bonjour</p>")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 1
    assert f"PROBLEM {path}: " in output
    assert "rebook_nudge/email.fr.html, line 2" in output


def test_check_fails_on_an_sms_over_the_segment_budget(tmp_path: Path) -> None:
    long_text = "{{ clinic.name }}: " + "x" * 300 + ". Reply STOP to opt out."
    path = override(tmp_path, "missed_session/sms.en.txt", long_text)
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 1
    assert sms_lines(output)["missed_session", "en"]["segments"] == "3"
    assert f"PROBLEM {path}: needs 3 segments, over the budget of 2" in output


def test_check_fails_on_a_missing_part_and_names_it(tmp_path: Path) -> None:
    override(tmp_path, "birthday/sms.en.txt", "{{ clinic.name }} wishes you well")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 1
    assert "PROBLEM birthday/sms.fr.txt: missing (looked in " in output
    assert "PROBLEM birthday/email.en.html: missing" in output
    assert ("birthday", "en") not in sms_lines(output)


def test_a_problem_in_a_shared_layout_names_the_layout(tmp_path: Path) -> None:
    path = override(tmp_path, "_layouts/footer.en.txt", "{{ clinic.fax }}")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 1
    assert f"PROBLEM {path}: " in output
    assert "_layouts" not in template_kinds(Settings(templates_dir=tmp_path))


def test_an_override_replaces_one_shipped_file_and_the_rest_come_from_the_package(
    tmp_path: Path,
) -> None:
    path = override(
        tmp_path, "aftercare/sms.en.txt", "{{ clinic.name }}: thanks. Reply STOP to opt out."
    )
    config = Settings(templates_dir=tmp_path)
    status, output = check(config)
    assert status == 0, output
    assert sms_lines(output)["aftercare", "en"]["length"] == str(
        len("Calgary Integrative Medicine: thanks. Reply STOP to opt out.")
    )
    assert template_file(config, "aftercare/sms.en.txt") == path
    assert (
        template_file(config, "aftercare/sms.fr.txt") == SHIPPED_TEMPLATES / "aftercare/sms.fr.txt"
    )
    assert "After your session" in preview_template(config, "aftercare", "email", "en").text


def test_a_new_kind_in_the_override_folder_is_checked(tmp_path: Path) -> None:
    for language in ("en", "fr"):
        for part in ("sms.{}.txt", "email.{}.subject.txt", "email.{}.txt", "email.{}.html"):
            override(tmp_path, f"birthday/{part.format(language)}", "{{ clinic.name }}")
    status, output = check(Settings(templates_dir=tmp_path))
    assert status == 0, output
    assert ("birthday", "fr") in sms_lines(output)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 160,
        "a" * 161,
        "€" * 80,  # an extension character takes two septets
        "€" * 81,
        # 306 septets, but an escape pair is never split between parts: 3 segments, not 2.
        "a" * 152 + "€" + "a" * 152,
        "a" * 306,
        "a" * 307,
        "ê" * 70,  # not in GSM 03.38: the whole text is UCS-2
        "ê" * 71,
        "Zoë " * 17 + "Zoë",  # ë is not in GSM 03.38 either
        ("Zoé Müller " * 15).strip(),  # é and ü are in GSM-7, ë is not
        "😀" * 35,  # a surrogate pair counts two UCS-2 units
        "😀" * 36,
    ],
)
def test_the_printed_counts_equal_the_sms_rules(tmp_path: Path, text: str) -> None:
    override(tmp_path, "aftercare/sms.en.txt", text)
    _, output = check(Settings(templates_dir=tmp_path, sms_segment_budget=10))
    line = sms_lines(output)["aftercare", "en"]
    assert line["encoding"] == sms_text.encoding(text)
    assert int(line["length"]) == sms_text.length(text)
    assert int(line["segments"]) == sms_text.segments(text)


def test_the_worst_case_over_the_samples_is_the_one_measured(tmp_path: Path) -> None:
    override(tmp_path, "aftercare/sms.en.txt", "{% if greet %}{{ patient.first_name }}{% endif %}")
    _, output = check(Settings(templates_dir=tmp_path))
    assert sms_lines(output)["aftercare", "en"]["length"] == str(len("Alexandrina-Maximiliana"))


def test_an_email_preview_has_the_subject_the_text_and_the_html() -> None:
    preview = preview_template(Settings(), "aftercare", "email", "en")
    assert (preview.kind, preview.channel, preview.language) == ("aftercare", "email", "en")
    assert preview.subject is not None
    assert preview.subject.startswith("Calgary Integrative Medicine: after your session")
    assert "Dear Marie," in preview.text and "3 of 6" in preview.text
    assert "Unsubscribe from these follow-up emails" in preview.text
    assert preview.html is not None and preview.html.lstrip().startswith("<!DOCTYPE html>")
    assert preview.sms is None


def test_an_sms_preview_has_the_text_with_its_encoding_length_and_segments() -> None:
    preview = preview_template(Settings(), "missed_session", "sms", "fr")
    assert "STOP pour vous désabonner" in preview.text
    assert preview.subject is None and preview.html is None
    assert preview.sms is not None and preview.sms.text == preview.text
    assert (preview.sms.encoding, preview.sms.length, preview.sms.segments) == (
        "GSM-7",
        sms_text.length(preview.text),
        sms_text.segments(preview.text),
    )
    assert preview.sms.segments > 1  # the plural in the CLI's line is tested in test_cli.py


@pytest.mark.parametrize(
    ("kind", "channel", "language", "message"),
    [
        ("birthday", "sms", "en", "unknown kind 'birthday'; known kinds: aftercare, "),
        ("aftercare", "fax", "en", "unknown channel 'fax'; use one of email, sms"),
        ("aftercare", "sms", "de", "unknown language 'de'; use one of en, fr"),
    ],
)
def test_preview_refuses_what_does_not_exist(
    kind: str, channel: str, language: str, message: str
) -> None:
    with pytest.raises(TemplateProblem, match=re.escape(message)):
        preview_template(Settings(), kind, channel, language)


def test_the_samples_cover_the_cases_templates_must_handle() -> None:
    config = Settings()
    samples = sample_sessions()
    standings = {sample_label(s): assess(config, s.series, sample_now(s)) for s in samples}
    anchors = {sample_label(s): s for s in samples}
    for language in ("en", "fr"):
        assert standings[f"{language}-booked"].next_booked is not None
        assert standings[f"{language}-unbooked"].next_booked is None
        assert anchors[f"{language}-long-name"].series.patient.first_name.isascii()
        assert (anchors[f"{language}-booked"].number, standings[f"{language}-booked"].done) == (
            3,
            3,
        )
        assert (
            anchors[f"{language}-final"].number
            == anchors[f"{language}-final"].series.planned_sessions
            == 6
        )
        assert standings[f"{language}-final"].final is anchors[f"{language}-final"]
        assert anchors[f"{language}-no-show"].status == SessionStatus.NO_SHOW
    assert all(s.id is None for s in samples)  # never touched a database


def test_the_samples_render_as_they_would_be_sent() -> None:
    sample = next(s for s in sample_sessions() if sample_label(s) == "fr-booked")
    text = render_for(Settings(), "aftercare", "sms", sample, now=sample_now(sample)).text
    assert "le mercredi 30 septembre à 11 h 45" in text
