"""Finding a patient the way the front desk asks: by name, by phone in whatever format it
was typed, or by the clinic's own patient id; a page at a time."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session as DB

from reminders.models import Patient
from reminders.staff.phones import typed_digits


def _name_has(word: str) -> ColumnElement[bool]:
    # SQLite's lower() knows only ASCII: 'émilie' also tries 'Émilie' as typed at the desk.
    found = []
    for column in (Patient.first_name, Patient.last_name):
        found.append(func.lower(column).contains(word.lower(), autoescape=True))
        found.append(column.contains(word.capitalize(), autoescape=True))
    return or_(*found)


def _matches(text: str, region: str) -> ColumnElement[bool]:
    words = text.split()
    by_name = [_name_has(word) for word in words]
    found: list[ColumnElement[bool]] = [
        func.lower(Patient.external_id) == text.lower(),
        func.lower(Patient.external_id).startswith(text.lower(), autoescape=True),
    ]
    if by_name:
        from_words: ColumnElement[bool] = by_name[0]
        for more in by_name[1:]:
            from_words = from_words & more
        found.append(from_words)
    # Stored numbers are E.164 ('+14035550111'): the typed digits appear in them.
    found += [Patient.phone.contains(digits) for digits in typed_digits(text, region)]
    return or_(*found)


def find_patients(
    db: DB, text: str, region: str, *, offset: int = 0, limit: int = 50
) -> tuple[list[Patient], bool]:
    """Patients matching `text` in name order, from `offset`; and whether there are more.
    An empty text lists every patient."""
    text = text.strip()
    order = (Patient.last_name, Patient.first_name, Patient.id)
    if text and db.get_bind().dialect.name == "postgresql":
        return _found_by_trigrams(db, _matches(text, region), offset, limit)
    query = select(Patient).order_by(*order)
    if text:
        query = query.where(_matches(text, region))
    found = list(db.scalars(query.offset(offset).limit(limit + 1)))
    return found[:limit], len(found) > limit


def _found_by_trigrams(
    db: DB, matches: ColumnElement[bool], offset: int, limit: int
) -> tuple[list[Patient], bool]:
    # Every match first, by the trigram index (migration 0013), then sorted: a few ms for
    # 14,000 of 200,000. Left to choose, the planner walks the name index and filters it,
    # and a rare name, or a phone number, then reads every patient (a second at 1M sessions).
    found = (
        select(Patient.id, Patient.last_name, Patient.first_name)
        .where(matches)
        .cte("found")
        .prefix_with("MATERIALIZED")
    )
    page = select(found.c.id).order_by(found.c.last_name, found.c.first_name, found.c.id)
    ids = list(db.scalars(page.offset(offset).limit(limit + 1)))
    query = select(Patient).where(Patient.id.in_(ids[:limit]))
    patients = list(db.scalars(query.order_by(Patient.last_name, Patient.first_name, Patient.id)))
    return patients, len(ids) > limit
