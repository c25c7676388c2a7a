"""The answers to patients' SMS (help, confirm, reschedule, ...), from templates.

They live in `templates/_replies/<what>.<language>.txt`, which a clinic's template folder
overrides; never suggest replying CANCEL or YES (Twilio takes them as opt-out and opt-in).
"""

from __future__ import annotations

import logging

from reminders.config import Settings
from reminders.models import Session
from reminders.wording.templating import (
    DEFAULT_LANGUAGE,
    LOCALES,
    TemplateProblem,
    clinic_view,
    render_part,
    session_view,
)

log = logging.getLogger(__name__)

REPLY_FOLDER = "_replies"
_AT = {"en": "{day} at {time}", "fr": "{day} à {time}"}


def reply_context(
    settings: Settings, session: Session | None, language: str = DEFAULT_LANGUAGE
) -> dict[str, object]:
    """What an auto-reply template gets: `clinic` (its phone formatted), `session` (or None)
    and `when`, the session's day and time in `language` and the clinic's zone, in the SMS
    alphabet ("Wednesday, September 30 at 11:45 a.m."; "" without a session)."""
    language = language if language in LOCALES else DEFAULT_LANGUAGE
    view = None if session is None else session_view(settings, session, language, sms=True)
    when = "" if view is None else _AT[language].format(day=view.day, time=view.time)
    return {"clinic": clinic_view(settings), "session": view, "when": when}


def reply_text(settings: Settings, language: str, what: str, session: Session | None) -> str | None:
    """The answer `what` in `language`; None when its template does not render.

    Raising would roll back what the patient asked for (an opt-out, a confirmation) along
    with the answer, and Twilio's retries would fail the same way: answer nothing instead.
    """
    language = _language(language)
    name = _reply_template(settings, language, what)
    try:
        return render_part(settings, name, reply_context(settings, session, language)).strip()
    except TemplateProblem as exc:
        log.warning("auto-reply not rendered: %s", exc)
        return None


def _language(language: str) -> str:
    """'fr-CA' -> 'fr'; a language we do not ship -> English."""
    short = (language or "").strip().lower()[:2]
    return short if short in LOCALES else DEFAULT_LANGUAGE


def _reply_template(settings: Settings, language: str, what: str) -> str:
    """`_replies/<what>.<language>.txt`, or the English one when no template folder has it."""
    name = f"{REPLY_FOLDER}/{what}.{language}.txt"
    if language in LOCALES and any((d / name).is_file() for d in settings.template_dirs):
        return name
    return f"{REPLY_FOLDER}/{what}.{DEFAULT_LANGUAGE}.txt"
