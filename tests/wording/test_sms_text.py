from __future__ import annotations

import pytest

from reminders.wording import sms_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello", "GSM-7"),
        ("", "GSM-7"),
        ("Séance à 14 h, où? Ñoño Ça Ü", "GSM-7"),
        ("price in € {curly} [square] ~^|\\", "GSM-7"),
        ("tête", "UCS-2"),
        ("Zoë", "UCS-2"),
        ("François", "UCS-2"),
        ("Дмитрий", "UCS-2"),
        ("see you 🙂", "UCS-2"),
        ("14\u00a0h", "UCS-2"),
        ("2:00\u202fp.m.", "UCS-2"),
        ("it\u2019s", "UCS-2"),
        ("escape \x1b alone", "UCS-2"),
    ],
)
def test_it_detects_the_encoding(text: str, expected: str) -> None:
    assert sms_text.encoding(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a" * 10, 10),
        ("é" * 10, 10),
        ("€", 2),
        ("{}", 4),
        ("a\x0cb", 4),
        ("Zoë", 3),
        ("🙂", 2),
        ("Дмитрий 🙂", 10),
    ],
)
def test_it_measures_length_in_the_messages_own_encoding(text: str, expected: int) -> None:
    assert sms_text.length(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 1),
        ("a" * 160, 1),
        ("a" * 161, 2),
        ("a" * 306, 2),
        ("a" * 307, 3),
        ("a" * 159 + "€", 2),
        ("a" * 158 + "{", 1),
        ("ê" * 70, 1),
        ("ê" * 71, 2),
        ("ê" * 134, 2),
        ("ê" * 135, 3),
        ("Д" * 69 + "\u00a0", 1),
        ("🙂" * 35, 1),
        ("🙂" * 36, 2),
    ],
)
def test_it_counts_segments(text: str, expected: int) -> None:
    assert sms_text.segments(text) == expected


def test_it_never_splits_an_escape_pair_between_two_parts() -> None:
    # 306 septets would fit two parts, but the euro sign cannot straddle the 153rd septet.
    text = "a" * 152 + "€" + "a" * 152
    assert sms_text.length(text) == 306
    assert sms_text.segments(text) == 3


def test_it_never_splits_a_surrogate_pair_between_two_parts() -> None:
    text = "ê" * 66 + "🙂" + "ê" * 66
    assert sms_text.length(text) == 134
    assert sms_text.segments(text) == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14\u00a0h\u202f00\u2009!", "14 h 00 !"),
        ("\u201cit\u2019s\u201d \u00abici\u00bb", '"it\'s" "ici"'),
        ("9\u201310 \u2014 done", "9-10 - done"),
        ("mardi 4 août", "mardi 4 aout"),
        ("â ê î ô û ç ë ï œ", "a e i o u c e i oe"),
        ("Â Ê Î Ô Û À È Œ", "A E I O U A E OE"),
        ("é è à ù ü Ç É", "é è à ù ü Ç É"),
        ("wait\u2026", "wait..."),
    ],
)
def test_gsm_safe_rewrites_fixed_wording_into_gsm_7(text: str, expected: str) -> None:
    safe = sms_text.gsm_safe(text)
    assert safe == expected
    assert sms_text.encoding(safe) == "GSM-7"


def test_a_non_breaking_space_forces_ucs_2_until_gsm_safe_removes_it() -> None:
    text = "a" * 100 + "\u00a0" + "a" * 50
    assert sms_text.segments(text) == 3
    assert sms_text.encoding(sms_text.gsm_safe(text)) == "GSM-7"
    assert sms_text.segments(sms_text.gsm_safe(text)) == 1


def test_gsm_safe_leaves_what_it_cannot_spell_in_gsm_7() -> None:
    assert sms_text.gsm_safe("Дмитрий 🙂") == "Дмитрий 🙂"
