from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from markupsafe import escape

from reminders import sms_text
from reminders.config import SHIPPED_TEMPLATES, Clinic, Settings
from reminders.models import Patient, Series, Session, SessionStatus
from reminders.templating import (
    LOCALES,
    Rendered,
    SeriesView,
    SessionView,
    TemplateProblem,
    render,
    render_for,
    session_context,
)

KIND = "session_reminder"
# 14:00 in Calgary (MST, UTC-7).
WINTER = datetime(2026, 3, 3, 21, 0, tzinfo=UTC)
# 09:30 in Calgary (MDT, UTC-6), in "août".
AUGUST = datetime(2026, 8, 4, 15, 30, tzinfo=UTC)
# The first Monday after the spring-forward change of 2026-03-08: 08:00 MDT.
AFTER_SPRING_FORWARD = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
# The longest month names, late in the day.
SEPTEMBER = datetime(2026, 9, 30, 23, 45, tzinfo=UTC)
LONG_CLINIC = "Southern Alberta Regenerative and Integrative Medicine Centre"


def make_session(
    *,
    language: str = "en",
    first_name: str = "Marie",
    starts_at: datetime = WINTER,
    number: int = 1,
    planned: int = 6,
    practitioner: str = "",
    location: str = "",
) -> Session:
    patient = Patient(
        external_id="p-1",
        first_name=first_name,
        last_name="Tremblay",
        phone="+14035550100",
        email="marie@example.org",
        language=language,
    )
    series = Series(
        external_id="s-1", treatment="Prolotherapy", planned_sessions=planned, patient=patient
    )
    return Session(
        external_id="x-1",
        number=number,
        starts_at=starts_at,
        duration_minutes=30,
        practitioner=practitioner,
        location=location,
        status=SessionStatus.BOOKED,
        series=series,
    )


def settings(**clinic: Any) -> Settings:
    return Settings(clinic=Clinic(**clinic))


def sms(session: Session, config: Settings | None = None) -> str:
    return render_for(config or settings(), KIND, "sms", session).text


def shipped_sms_languages() -> list[str]:
    return sorted(path.name.split(".")[1] for path in (SHIPPED_TEMPLATES / KIND).glob("sms.*.txt"))


@pytest.mark.parametrize("language", sorted(LOCALES))
@pytest.mark.parametrize(
    "part", ["sms.{}.txt", "email.{}.subject.txt", "email.{}.txt", "email.{}.html"]
)
def test_every_supported_language_ships_every_part(language: str, part: str) -> None:
    assert (SHIPPED_TEMPLATES / KIND / part.format(language)).is_file()


@pytest.mark.parametrize(
    ("language", "facts"),
    [
        (
            "en",
            [
                "Calgary Integrative Medicine",
                "Tuesday, March 3, 2026",
                "2:00 p.m.",
                "1 of 6",
                "(403) 202-7272",
                "Reply STOP to opt out",
                "Hi Marie,",
            ],
        ),
        (
            "fr",
            [
                "Calgary Integrative Medicine",
                "mardi 3 mars 2026",
                "14 h 00",
                "1 sur 6",
                "(403) 202-7272",
                "Répondez STOP",
                "Bonjour Marie,",
            ],
        ),
    ],
)
def test_it_renders_the_sms_facts_in_the_clinic_zone(language: str, facts: list[str]) -> None:
    text = sms(make_session(language=language))
    for fact in facts:
        assert fact in text
    assert "CANCEL" not in text.upper()


def test_it_renders_french_dates_in_the_clinic_zone() -> None:
    context = session_context(settings(), make_session(language="fr", starts_at=AUGUST))
    when = context["session"]
    assert isinstance(when, SessionView)
    assert (when.date, when.time, when.weekday) == ("mardi 4 août 2026", "09 h 30", "mardi")


def test_it_spells_sms_dates_in_gsm_7_but_email_dates_correctly() -> None:
    session = make_session(language="fr", starts_at=AUGUST)
    assert "4 aout 2026" in sms(session)
    email = render_for(settings(), KIND, "email", session)
    assert "4 août 2026" in email.text
    assert email.subject is not None and "4 août 2026" in email.subject


@pytest.mark.parametrize("language", shipped_sms_languages())
@pytest.mark.parametrize("starts_at", [WINTER, AUGUST, AFTER_SPRING_FORWARD, SEPTEMBER])
@pytest.mark.parametrize("clinic_name", ["Calgary Integrative Medicine", "Bow Valley Clinic"])
def test_every_shipped_sms_is_gsm_7_within_the_budget(
    language: str, starts_at: datetime, clinic_name: str
) -> None:
    config = settings(name=clinic_name)
    text = sms(make_session(language=language, starts_at=starts_at, first_name="Alexandra"), config)
    assert sms_text.encoding(text) == "GSM-7", text
    assert sms_text.segments(text) <= config.sms_segment_budget, text
    assert "Alexandra" in text


def test_the_sms_shows_local_time_after_the_dst_change() -> None:
    assert "8:00 a.m." in sms(make_session(starts_at=AFTER_SPRING_FORWARD))


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("first_name", ["Zoë", "Дмитрий", "Marie-Ève", "Siobhán", "美玲"])
def test_a_name_forcing_ucs_2_is_dropped_but_the_facts_stay(language: str, first_name: str) -> None:
    config = settings(name=LONG_CLINIC)
    session = make_session(language=language, first_name=first_name)
    text = sms(session, config)
    assert first_name not in text
    assert LONG_CLINIC in text
    assert ("1 of 6" if language == "en" else "1 sur 6") in text
    assert "(403) 202-7272" in text
    assert sms_text.encoding(text) == "GSM-7"
    assert sms_text.segments(text) <= config.sms_segment_budget


@pytest.mark.parametrize("first_name", ["Zoë", "Дмитрий"])
def test_a_name_forcing_ucs_2_is_never_rewritten(first_name: str) -> None:
    text = sms(make_session(first_name=first_name))
    assert "Zoe" not in text and first_name not in text
    assert text.startswith("Reminder from")


@pytest.mark.parametrize("first_name", ["Zoé", "Chloé", "Ñoño", "O'Brien"])
def test_a_short_message_keeps_the_name_unaltered(first_name: str) -> None:
    assert sms(make_session(first_name=first_name)).startswith(f"Hi {first_name}, ")


def test_a_name_that_pushes_past_the_budget_is_dropped() -> None:
    first_name = "Alexandrina-Maximiliana " * 6
    config = settings(name=LONG_CLINIC)
    session = make_session(first_name=first_name, starts_at=SEPTEMBER)
    text = sms(session, config)
    assert first_name.strip() not in text
    assert sms_text.segments(text) <= config.sms_segment_budget
    assert "Wednesday, September 30, 2026" in text


def test_a_patient_without_a_first_name_gets_no_empty_greeting() -> None:
    assert sms(make_session(first_name="  ")).startswith("Reminder from")
    email = render_for(settings(), KIND, "email", make_session(first_name=""))
    assert email.text.startswith("Hello,")


@pytest.mark.parametrize("first_name", ["{{ 7*7 }}", "<script>alert(1)</script>", "{% raw %}"])
def test_a_name_is_data_never_template_code(first_name: str) -> None:
    session = make_session(first_name=first_name)
    assert first_name in sms(session)
    email = render_for(settings(), KIND, "email", session)
    assert f"Dear {first_name}," in email.text
    assert email.html is not None
    assert f"Dear {escape(first_name)}," in email.html


def test_a_name_is_escaped_in_html_but_not_in_text() -> None:
    email = render_for(settings(), KIND, "email", make_session(first_name="<b>Bo</b> & Co"))
    assert email.html is not None
    assert "&lt;b&gt;Bo&lt;/b&gt; &amp; Co" in email.html
    assert "<b>Bo</b>" not in email.html
    assert "Dear <b>Bo</b> & Co," in email.text


@pytest.mark.parametrize(
    ("language", "facts"),
    [
        ("en", ["Dear Marie,", "Tuesday, August 4, 2026", "9:30", "1 of 6", "Dr. Chen", "Room 4"]),
        ("fr", ["Bonjour Marie,", "mardi 4 août 2026", "09 h 30", "1 sur 6", "Dr. Chen", "Room 4"]),
    ],
)
def test_the_email_carries_the_facts_and_the_clinic_footer(language: str, facts: list[str]) -> None:
    config = settings(address="123 4 St SW, Calgary", website="https://clinic.example")
    session = make_session(
        language=language, starts_at=AUGUST, practitioner="Dr. Chen", location="Room 4"
    )
    email = render_for(config, KIND, "email", session)
    assert email.subject is not None and email.html is not None
    assert "\n" not in email.subject
    assert "Calgary Integrative Medicine" in email.subject
    for part in (email.text, email.html):
        for fact in [*facts, "123 4 St SW, Calgary", "(403) 202-7272", "https://clinic.example"]:
            assert fact in part


def test_the_email_leaves_out_practitioner_and_location_when_unset() -> None:
    email = render_for(settings(), KIND, "email", make_session())
    assert "With:" not in email.text
    assert email.html is not None and ">With<" not in email.html


@pytest.mark.parametrize("channel", ["sms", "email"])
@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_treatment_is_named_only_when_the_clinic_opts_in(channel: str, language: str) -> None:
    session = make_session(language=language)
    default = render_for(settings(), KIND, channel, session)
    opted_in = render_for(settings(name_treatment_in_sms=True), KIND, channel, session)
    assert "Prolotherapy" not in _all_parts(default)
    assert "Prolotherapy" in opted_in.text


def test_an_undefined_variable_raises_a_template_problem(tmp_path: Path) -> None:
    (tmp_path / KIND).mkdir()
    (tmp_path / KIND / "sms.en.txt").write_text("Hi {{ patient.nickname }}")
    with pytest.raises(TemplateProblem, match=r"session_reminder/sms\.en\.txt"):
        render_for(Settings(templates_dir=tmp_path), KIND, "sms", make_session())


def test_a_syntax_error_raises_a_template_problem(tmp_path: Path) -> None:
    (tmp_path / KIND).mkdir()
    (tmp_path / KIND / "sms.en.txt").write_text("Hi {% if greet %}")
    with pytest.raises(TemplateProblem, match=r"sms\.en\.txt, line 1"):
        render_for(Settings(templates_dir=tmp_path), KIND, "sms", make_session())


def test_a_missing_template_raises_a_template_problem() -> None:
    with pytest.raises(TemplateProblem, match=r"no_such_kind/sms\.en\.txt"):
        render_for(settings(), "no_such_kind", "sms", make_session())


def test_a_clinic_override_replaces_a_shipped_template(tmp_path: Path) -> None:
    (tmp_path / KIND).mkdir()
    (tmp_path / KIND / "sms.en.txt").write_text(
        "{{ clinic.name }} sees you {{ session.weekday }} at {{ session.time }}\n"
    )
    config = Settings(templates_dir=tmp_path)
    assert (
        sms(make_session(), config) == "Calgary Integrative Medicine sees you Tuesday at 2:00 p.m."
    )
    # Parts the clinic did not override still come from the shipped folder.
    assert "Dear Marie," in render_for(config, KIND, "email", make_session()).text


def test_render_takes_an_explicit_language_and_context() -> None:
    session = make_session(language="en")
    context = session_context(settings(), session, greet=False, channel="sms")
    rendered = render(settings(), KIND, "sms", "fr", context)
    assert rendered == Rendered(subject=None, text=rendered.text, html=None)
    assert rendered.text.startswith("Calgary Integrative Medicine : rappel")


def test_an_unknown_language_falls_back_to_english() -> None:
    assert sms(make_session(language="de")).startswith("Hi Marie,")


def test_the_context_counts_the_series() -> None:
    session = make_session(number=3, planned=6)
    for number in (1, 2):
        done = Session(external_id=f"d-{number}", number=number, starts_at=WINTER)
        done.status = SessionStatus.COMPLETED
        done.series = session.series
    series = session_context(settings(), session)["series"]
    assert isinstance(series, SeriesView)
    assert (series.done, series.left, series.progress) == (2, 4, "3 of 6")


def _all_parts(rendered: Rendered) -> str:
    return "\n".join(part for part in (rendered.subject, rendered.text, rendered.html) if part)
