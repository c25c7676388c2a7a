"""Phone numbers as the front desk reads and types them: the national format of the clinic's
region for display, E.164 for `tel:` links, and what a typed number could be stored as."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

from reminders.config import Settings


@dataclass(frozen=True)
class Phone:
    shown: str  # "(403) 555-0111" at home, "+44 20 7946 0958" from abroad
    tel: str  # "tel:+14035550111"


@cache
def _region_of(clinic_phone: str) -> str:
    """The clinic's region, from its own number ('+14032027272' -> 'CA'); US if unknown."""
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(clinic_phone)) or "US"
    except NumberParseException:
        return "US"


def clinic_region(settings: Settings) -> str:
    return _region_of(settings.clinic.phone)


def display(number: str | None, region: str) -> Phone | None:
    """How to show a stored number; None for none. A number that does not parse is shown
    as stored, so staff still see what the booking system sent."""
    if not number:
        return None
    try:
        parsed = phonenumbers.parse(number, region)
    except NumberParseException:
        return Phone(number, "tel:" + re.sub(r"[^\d+]", "", number))
    home = phonenumbers.region_code_for_number(parsed) == region
    style = PhoneNumberFormat.NATIONAL if home else PhoneNumberFormat.INTERNATIONAL
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
    return Phone(phonenumbers.format_number(parsed, style), f"tel:{e164}")


def typed_digits(text: str, region: str) -> list[str]:
    """The digits a typed number could be stored with ('(403) 555-0111' -> '14035550111' and
    '4035550111'); empty when the text has fewer than four digits (it is not a phone)."""
    digits = re.sub(r"\D", "", text)
    if len(digits) < 4:
        return []
    found = [digits]
    try:
        parsed = phonenumbers.parse(text, region)
        found.append(phonenumbers.format_number(parsed, PhoneNumberFormat.E164).lstrip("+"))
    except NumberParseException:
        pass
    return sorted(set(found), key=len, reverse=True)
