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


# The segment counts of Twilio's own calculator (npm sms-segments-calculator 1.x, run on
# these strings): in UCS-2 a part ends between grapheme clusters, never inside one.
CYRILLIC = "ё"  # one UTF-16 unit, not in GSM-7
FLAG = "\U0001f1e8\U0001f1e6"  # Canada: two regional indicators, 4 units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # ZWJ, 11 units
SCOTLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
ACCENTED = "e\u0301"  # e and a combining acute accent


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 65 + 4 + 65 = 134 units: by code units two full parts of 67, but the flag does not
        # fit after 65 in the first part, and then 69 do not fit in the second.
        (CYRILLIC * 65 + FLAG + CYRILLIC * 65, 3),
        (CYRILLIC * 60 + FAMILY + CYRILLIC * 70, 3),
        (CYRILLIC * 66 + ACCENTED + CYRILLIC * 66, 3),
        (CYRILLIC * 62 + SCOTLAND + CYRILLIC * 10, 2),
        (CYRILLIC * 66 + FLAG, 1),  # 70 units: one segment holds them
        (FLAG * 17 + "a", 1),  # 69 units
    ],
    ids=["flag", "zwj-family", "combining-mark", "subdivision-flag", "flag-fits", "flags-fit"],
)
def test_it_never_splits_a_grapheme_cluster_between_two_ucs_2_parts(
    text: str, expected: int
) -> None:
    assert sms_text.encoding(text) == "UCS-2"
    assert sms_text.segments(text) == expected


def test_it_sees_a_flag_a_family_and_an_accented_letter_as_one_character_each() -> None:
    assert sms_text.graphemes(f"{FLAG}{FAMILY}{ACCENTED}a") == [FLAG, FAMILY, ACCENTED, "a"]
    assert sms_text.graphemes("a\r\nb") == ["a", "\r", "\n", "b"]


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
