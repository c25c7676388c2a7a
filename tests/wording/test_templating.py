from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from markupsafe import escape

from reminders.config import SHIPPED_TEMPLATES, Clinic, Settings
from reminders.models import Patient, Series, Session, SessionStatus
from reminders.wording import sms_text
from reminders.wording.templating import (
    LOCALES,
    ClinicView,
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
                "Tuesday, March 3 at 2:00 p.m.",
                "1 of 6",
                "Reply C to confirm, R to reschedule, STOP to opt out.",
                "Hi Marie,",
            ],
        ),
        (
            "fr",
            [
                "Calgary Integrative Medicine",
                "le mardi 3 mars à 14 h.",
                "1 sur 6",
                "Répondez C (confirmer), R (reporter) ou STOP",
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
    assert (when.date, when.time, when.weekday) == ("mardi 4 août 2026", "9 h 30", "mardi")
    assert when.day == "mardi 4 août"


@pytest.mark.parametrize(
    ("local", "date", "time"),
    [
        ("2026-12-01T08:00", "mardi 1er décembre 2026", "8 h"),
        ("2026-12-02T08:30", "mercredi 2 décembre 2026", "8 h 30"),
        ("2026-12-01T14:05", "mardi 1er décembre 2026", "14 h 05"),
        ("2026-12-11T00:00", "vendredi 11 décembre 2026", "0 h"),
    ],
)
def test_french_writes_the_first_of_the_month_as_1er_and_hours_without_a_zero(
    local: str, date: str, time: str
) -> None:
    starts_at = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo("America/Edmonton"))
    context = session_context(settings(), make_session(language="fr", starts_at=starts_at))
    when = context["session"]
    assert isinstance(when, SessionView)
    assert (when.date, when.time) == (date, time)
    assert when.day == date.removesuffix(" 2026")
    assert when.datetime.startswith(date) and when.datetime.endswith(time)


@pytest.mark.parametrize(
    ("language", "practitioner", "named", "phrase"),
    [
        ("fr", "Dr. Chen", "Dr Chen", "avec le Dr Chen"),
        ("fr", "Dre Roy", "Dre Roy", "avec la Dre Roy"),
        ("fr", "Docteure Roy", "Dre Roy", "avec la Dre Roy"),
        ("fr", "Marie Roy", "Marie Roy", "avec Marie Roy"),
        ("fr", "Drew Barry", "Drew Barry", "avec Drew Barry"),
        ("en", "Dr. Chen", "Dr. Chen", "with Dr. Chen"),
        ("fr", "", "", ""),
    ],
)
def test_the_practitioner_is_named_with_the_french_title_and_article(
    language: str, practitioner: str, named: str, phrase: str
) -> None:
    session = make_session(language=language, practitioner=practitioner)
    when = session_context(settings(), session)["session"]
    assert isinstance(when, SessionView)
    assert (when.practitioner, when.with_practitioner) == (named, phrase)


def test_it_spells_sms_dates_in_gsm_7_but_email_dates_correctly() -> None:
    session = make_session(language="fr", starts_at=AUGUST)
    assert "4 aout" in sms(session)
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
    assert sms_text.segments(text) == 1, text
    # One French date ("mercredi 30 septembre à 17 h 45") leaves no room for a 9-letter name.
    long_french = clinic_name == "Calgary Integrative Medicine" and language == "fr"
    assert "Alexandra" in text or long_french


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
    assert (" C " if language == "en" else "C (confirmer)") in text
    assert sms_text.encoding(text) == "GSM-7"
    # A 61-character clinic name costs a second segment; `templates check` says so.
    assert sms_text.segments(text) <= config.sms_segment_budget


@pytest.mark.parametrize("first_name", ["Zoë", "Дмитрий"])
def test_a_name_forcing_ucs_2_is_never_rewritten(first_name: str) -> None:
    text = sms(make_session(first_name=first_name))
    assert "Zoe" not in text and first_name not in text
    assert text.startswith("Calgary Integrative Medicine: session")


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
    assert "Wednesday, September 30 at 5:45 p.m." in text


def test_a_patient_without_a_first_name_gets_no_empty_greeting() -> None:
    assert sms(make_session(first_name="  ")).startswith("Calgary Integrative Medicine:")
    email = render_for(settings(), KIND, "email", make_session(first_name=""))
    assert email.text.startswith("Hello,")


@pytest.mark.parametrize("first_name", ["{{ 7*7 }}", "<i>Bo</i>", "{% raw %}"])
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
        ("fr", ["Bonjour Marie,", "mardi 4 août 2026", "9 h 30", "1 sur 6", "Dr Chen", "Room 4"]),
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
    assert rendered.text.startswith("Calgary Integrative Medicine : séance")


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


# Follow-ups: the anchor is the completed, missed or final session the message is about.
FOLLOW_UPS = ["aftercare", "rebook_nudge", "missed_session", "series_complete"]
# The day after the anchor session (WINTER, 2026-03-03); 21 days later is March 24.
DAY_AFTER = WINTER + timedelta(days=1)
# Thursday, March 26, 2026, 14:00 in Calgary.
NEXT = datetime(2026, 3, 26, 21, 0, tzinfo=UTC)
# Without the year, as the SMS say it (the emails' full dates begin the same way).
NEXT_DATE = {"en": "Thursday, March 26", "fr": "jeudi 26 mars"}
RECOMMENDED = {"en": "Tuesday, March 24", "fr": "mardi 24 mars"}
STOP = {"en": "Reply STOP to opt out", "fr": "STOP pour vous désabonner"}
DONE = SessionStatus.COMPLETED
ANCHORS = {
    "aftercare": [DONE, DONE, DONE],
    "rebook_nudge": [DONE, DONE, DONE],
    "missed_session": [DONE, DONE, SessionStatus.NO_SHOW],
    "series_complete": [DONE] * 6,
}
BOOKING_URL = "https://cim.example/book"
UNSUBSCRIBE_URL = "https://cim.example/unsubscribe/t0k3n"


def anchor_session(
    statuses: list[SessionStatus],
    *,
    language: str = "en",
    first_name: str = "Marie",
    booked_next: bool = False,
) -> Session:
    """Sessions 1..n of a 6-session series, 21 days apart, the last (the anchor) on WINTER."""
    anchor = make_session(language=language, first_name=first_name, number=len(statuses))
    anchor.status = statuses[-1]
    for number, status in enumerate(statuses[:-1], 1):
        starts_at = WINTER - timedelta(days=21 * (len(statuses) - number))
        earlier = Session(external_id=f"e-{number}", number=number, starts_at=starts_at)
        earlier.status, earlier.series = status, anchor.series
    if booked_next:
        following = Session(external_id="n-1", number=len(statuses) + 1, starts_at=NEXT)
        following.status, following.series = SessionStatus.BOOKED, anchor.series
    return anchor


def follow_up(
    kind: str, channel: str, anchor: Session, config: Settings | None = None, **options: Any
) -> Rendered:
    return render_for(config or settings(), kind, channel, anchor, now=DAY_AFTER, **options)


@pytest.mark.parametrize("kind", FOLLOW_UPS)
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize(
    "part", ["sms.{}.txt", "email.{}.subject.txt", "email.{}.txt", "email.{}.html"]
)
def test_every_follow_up_kind_ships_every_part(kind: str, language: str, part: str) -> None:
    assert (SHIPPED_TEMPLATES / kind / part.format(language)).is_file()


@pytest.mark.parametrize("kind", FOLLOW_UPS)
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("booked_next", [True, False])
def test_every_follow_up_renders_in_both_languages_and_channels(
    kind: str, language: str, booked_next: bool
) -> None:
    anchor = anchor_session(ANCHORS[kind], language=language, booked_next=booked_next)
    sms = follow_up(kind, "sms", anchor).text
    email = follow_up(kind, "email", anchor)
    assert email.subject and email.html is not None
    for text in (sms, email.subject, email.text, email.html):
        assert "Calgary Integrative Medicine" in text
    assert STOP[language] in sms
    assert "CANCEL" not in _all_parts(email).upper() + sms.upper()
    assert sms_text.encoding(sms) == "GSM-7", sms


@pytest.mark.parametrize("kind", FOLLOW_UPS)
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("booked_next", [True, False])
def test_every_follow_up_sms_keeps_the_greeting_within_the_budget(
    kind: str, language: str, booked_next: bool
) -> None:
    config = settings(booking_url=BOOKING_URL)
    anchor = anchor_session(ANCHORS[kind], language=language, booked_next=booked_next)
    sms = follow_up(kind, "sms", anchor, config).text
    assert "Marie" in sms
    assert sms_text.segments(sms) <= config.sms_segment_budget, sms


@pytest.mark.parametrize(("language", "done"), [("en", "3 of 6"), ("fr", "3 sur 6")])
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_aftercare_gives_the_progress_and_the_booked_next_session(
    language: str, done: str, channel: str
) -> None:
    anchor = anchor_session([DONE] * 3, language=language, booked_next=True)
    rendered = follow_up("aftercare", channel, anchor)
    assert done in rendered.text
    assert NEXT_DATE[language] in rendered.text
    assert RECOMMENDED[language] not in _all_parts(rendered)


@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_aftercare_without_a_booking_suggests_the_recommended_date(
    language: str, channel: str
) -> None:
    rendered = follow_up("aftercare", channel, anchor_session([DONE] * 3, language=language))
    assert RECOMMENDED[language] in rendered.text
    if rendered.html is not None:
        assert RECOMMENDED[language] in rendered.html


def test_aftercare_after_the_recommended_date_asks_to_book_without_a_stale_date() -> None:
    anchor = anchor_session([DONE] * 3)
    late = render_for(settings(), "aftercare", "sms", anchor, now=WINTER + timedelta(days=30))
    assert "Tuesday, March 24" not in late.text
    assert "book the next one when you can" in late.text


@pytest.mark.parametrize("kind", ["aftercare", "rebook_nudge", "missed_session", "series_complete"])
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_a_booking_link_is_offered_when_the_clinic_has_one(
    kind: str, language: str, channel: str
) -> None:
    anchor = anchor_session(ANCHORS[kind], language=language)
    with_link = follow_up(kind, channel, anchor, settings(booking_url=BOOKING_URL))
    without = follow_up(kind, channel, anchor)
    assert BOOKING_URL in with_link.text
    assert BOOKING_URL not in _all_parts(without)
    assert "(403) 202-7272" in without.text
    if with_link.html is not None:
        assert f'href="{BOOKING_URL}"' in with_link.html


@pytest.mark.parametrize("kind", FOLLOW_UPS)
@pytest.mark.parametrize("language", ["en", "fr"])
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_follow_ups_name_the_treatment_only_when_the_clinic_opts_in(
    kind: str, language: str, channel: str
) -> None:
    anchor = anchor_session(ANCHORS[kind], language=language)
    assert "Prolotherapy" not in _all_parts(follow_up(kind, channel, anchor))
    opted_in = follow_up(kind, channel, anchor, settings(name_treatment_in_sms=True))
    assert "Prolotherapy" in opted_in.text


@pytest.mark.parametrize("kind", FOLLOW_UPS)
@pytest.mark.parametrize(
    ("language", "label", "line"),
    [
        ("en", "Unsubscribe from these follow-up emails", "{label}: {url}"),
        ("fr", "Se désabonner de ces courriels de suivi", "{label} : {url}"),
    ],
)
def test_follow_up_emails_show_the_unsubscribe_link_when_given(
    kind: str, language: str, label: str, line: str
) -> None:
    anchor = anchor_session(ANCHORS[kind], language=language)
    email = follow_up(kind, "email", anchor, unsubscribe_url=UNSUBSCRIBE_URL)
    assert email.html is not None
    assert line.format(label=label, url=UNSUBSCRIBE_URL) in email.text
    assert f'<a href="{UNSUBSCRIBE_URL}"' in email.html and label in email.html
    assert label not in _all_parts(follow_up(kind, "email", anchor))


def test_the_unsubscribe_link_is_escaped_in_html() -> None:
    email = follow_up(
        "rebook_nudge",
        "email",
        anchor_session([DONE] * 3),
        unsubscribe_url="https://x.example/u?a=1&b=2",
    )
    assert email.html is not None and 'href="https://x.example/u?a=1&amp;b=2"' in email.html


@pytest.mark.parametrize("language", ["en", "fr"])
def test_the_missed_session_note_names_the_missed_date_and_asks_to_rebook(language: str) -> None:
    anchor = anchor_session(ANCHORS["missed_session"], language=language)
    sms = follow_up("missed_session", "sms", anchor).text
    assert ("Tuesday, March 3" if language == "en" else "mardi 3 mars") in sms
    assert ("book a new time" if language == "en" else "nouvelle date") in sms


@pytest.mark.parametrize(
    ("language", "all_done"), [("en", "all 6 sessions"), ("fr", "les 6 séances")]
)
@pytest.mark.parametrize("channel", ["sms", "email"])
def test_series_complete_congratulates_and_suggests_a_check_in(
    language: str, all_done: str, channel: str
) -> None:
    text = follow_up("series_complete", channel, anchor_session([DONE] * 6, language=language)).text
    assert all_done in text
    assert ("check-in visit" if language == "en" else "visite de suivi") in text


def test_the_context_gives_the_standing_of_the_series() -> None:
    anchor = anchor_session([DONE] * 3, booked_next=True)
    context = session_context(settings(booking_url=BOOKING_URL), anchor, now=DAY_AFTER)
    series, following, clinic = context["series"], context["next_session"], context["clinic"]
    assert isinstance(series, SeriesView) and isinstance(following, SessionView)
    assert (series.done, series.left, series.planned) == (3, 3, 6)
    assert (series.progress, series.done_text) == ("3 of 6", "3 of 6")
    assert (series.recommended_next, series.recommended_passed) == (
        "Tuesday, March 24, 2026",
        False,
    )
    assert series.recommended_day == RECOMMENDED["en"]
    assert (following.day, following.number) == (NEXT_DATE["en"], 4)
    assert isinstance(clinic, ClinicView) and clinic.booking_url == BOOKING_URL
    assert context["unsubscribe_url"] == ""


def test_the_context_has_no_next_session_or_recommended_date_when_unknown() -> None:
    context = session_context(settings(), make_session(), now=DAY_AFTER)
    series = context["series"]
    assert context["next_session"] is None
    assert isinstance(series, SeriesView)
    assert (series.recommended_next, series.done_text) == ("", "0 of 6")


def test_the_context_counts_done_sessions_apart_from_the_session_number() -> None:
    anchor = anchor_session([DONE, SessionStatus.NO_SHOW, DONE])
    series = session_context(settings(), anchor, now=DAY_AFTER)["series"]
    assert isinstance(series, SeriesView)
    assert (series.progress, series.done_text) == ("3 of 6", "2 of 6")


def test_sms_dates_in_the_context_are_gsm_7() -> None:
    anchor = anchor_session([DONE] * 3, language="fr", booked_next=True)
    anchor.starts_at = AUGUST - timedelta(days=21)
    context = session_context(settings(), anchor, channel="sms", now=anchor.starts_at)
    series = context["series"]
    assert isinstance(series, SeriesView)
    assert series.recommended_next == "mardi 4 aout 2026"


def test_an_undefined_variable_in_a_layout_names_the_layout_and_line(tmp_path: Path) -> None:
    (tmp_path / "_layouts").mkdir()
    (tmp_path / "_layouts" / "footer.en.txt").write_text("--\n{{ clinic.fax }}\n")
    with pytest.raises(TemplateProblem, match=r"in _layouts/footer\.en\.txt, line 2") as caught:
        render_for(Settings(templates_dir=tmp_path), KIND, "email", make_session())
    assert caught.value.template == "session_reminder/email.en.txt"
    assert caught.value.where == "_layouts/footer.en.txt"
