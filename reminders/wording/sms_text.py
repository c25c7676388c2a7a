"""How an SMS will travel: its encoding, its length in that encoding, and its segment count.

One character outside the GSM 03.38 alphabet turns the whole message into UCS-2, which
carries 70 characters per segment instead of 160: the same text then costs two or three
times as much. `gsm_safe()` rewrites our own fixed wording so that does not happen by accident.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Literal

import gsm0338  # noqa: F401  (importing it registers the "gsm03.38" codec)
import regex

Encoding = Literal["GSM-7", "UCS-2"]

_GSM = "gsm03.38"
_ESCAPE = "\x1b"
# (single-segment capacity, capacity of each part of a concatenated message)
_LIMITS: dict[Encoding, tuple[int, int]] = {"GSM-7": (160, 153), "UCS-2": (70, 67)}
# An extended grapheme cluster: what a reader sees as one character (a flag, a ZWJ family,
# a letter and its combining accents). Twilio's segment calculator splits a message between
# clusters only; a CR LF pair counts as two, as it does there.
_CLUSTER = regex.compile(r"\r\n|\X")

_QUOTES = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u2033": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2026": "...",
        "\u0153": "oe",
        "\u0152": "OE",
        "\u200b": "",
        "\u2060": "",
        "\ufeff": "",
    }
)


@lru_cache(maxsize=1024)
def _septets(char: str) -> int | None:
    """Septets `char` takes in GSM-7, or None when it is not in the alphabet."""
    # The codec maps ESC itself, but a lone escape is not a character anyone can send.
    if char == _ESCAPE:
        return None
    try:
        return len(char.encode(_GSM))
    except UnicodeEncodeError:
        return None


def encoding(text: str) -> Encoding:
    return "GSM-7" if _gsm_septets(text) is not None else "UCS-2"


def _gsm_septets(text: str) -> int | None:
    """Septets the whole text takes in GSM-7, or None when a character is not in it. It
    runs for every message sent: each distinct character is looked up once (the codec is
    pure Python, `_septets` caches it), an escaped one counted twice."""
    distinct = set(text)
    septets = {char: _septets(char) for char in distinct}
    if None in septets.values():
        return None
    return len(text) + sum(text.count(char) for char, n in septets.items() if n == 2)


def _units(text: str, kind: Encoding) -> list[int]:
    """What can't be split, and its cost: each character in septets in GSM-7; each grapheme
    cluster in UTF-16 code units in UCS-2 ("🇨🇦" is 4, "👨‍👩‍👧" 8, "é" as e + accent 2)."""
    if kind == "GSM-7":
        return [_septets(char) or 0 for char in text]
    return [_utf16(cluster) for cluster in graphemes(text)]


def graphemes(text: str) -> list[str]:
    """The text as a reader sees it, one grapheme cluster at a time; CR LF is two."""
    return [c for match in _CLUSTER.findall(text) for c in (match if match == "\r\n" else [match])]


def _utf16(cluster: str) -> int:
    return sum(2 if ord(char) > 0xFFFF else 1 for char in cluster)


def length(text: str) -> int:
    return sum(_units(text, encoding(text)))


def segments(text: str) -> int:
    """Segments the message is sent as; an empty message still costs one."""
    septets = _gsm_septets(text)
    if septets is not None and septets <= _LIMITS["GSM-7"][0]:
        return 1
    kind: Encoding = "GSM-7" if septets is not None else "UCS-2"
    units = _units(text, kind)
    single, per_part = _LIMITS[kind]
    if sum(units) <= single:
        return 1
    # An escape pair or a grapheme cluster is never split between two parts, so a part
    # can end a few units short: count by packing, not by dividing.
    parts, used = 1, 0
    for unit in units:
        if used + unit > per_part:
            parts, used = parts + 1, 0
        used += unit
    return parts


def gsm_safe(text: str) -> str:
    """Our fixed wording (and Babel's dates) rewritten into the GSM-7 alphabet where possible.

    Only for text we wrote: a patient's name is never passed through this.
    """
    return "".join(_gsm_char(char) for char in text.translate(_QUOTES))


@lru_cache(maxsize=1024)
def _gsm_char(char: str) -> str:
    if _septets(char) is not None:
        return char
    category = unicodedata.category(char)
    if category == "Zs":
        return " "
    if category == "Pd" or char == "\u2212":
        return "-"
    # "û" -> "u", "À" -> "A"; letters the alphabet has (é, è, Ç, ü) never get here.
    base = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c))
    return base if base and all(_septets(c) is not None for c in base) else char
