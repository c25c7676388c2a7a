"""The answers to patients' SMS (help, confirm, reschedule, ...), from templates.

They live in `templates/_replies/<what>.<language>.txt`, which a clinic's template folder
overrides; never suggest replying CANCEL (Twilio would take it as an opt-out).
"""

from __future__ import annotations

import logging

from reminders.config import Settings
from reminders.models import Session
from reminders.wording.templating import DEFAULT_LANGUAGE, LOCALES, TemplateProblem, render_part

log = logging.getLogger(__name__)

REPLY_FOLDER = "_replies"


def reply_context(settings: Settings, session: Session | None) -> dict[str, object]:
    """What an auto-reply template gets: `clinic.name`, `clinic.phone` (as configured, not
    formatted) and `when`, the session's local date and time ("" without a session)."""
    when = ""
    if session is not None:
        local = session.starts_at.astimezone(settings.clinic.zone)
        when = local.strftime("%Y-%m-%d %H:%M")
    return {"clinic": {"name": settings.clinic.name, "phone": settings.clinic.phone}, "when": when}


def reply_text(settings: Settings, language: str, what: str, session: Session | None) -> str | None:
    """The answer `what` in `language`; None when its template does not render.

    Raising would roll back what the patient asked for (an opt-out, a confirmation) along
    with the answer, and Twilio's retries would fail the same way: answer nothing instead.
    """
    name = _reply_template(settings, language, what)
    try:
        return render_part(settings, name, reply_context(settings, session)).strip()
    except TemplateProblem as exc:
        log.warning("auto-reply not rendered: %s", exc)
        return None


def _reply_template(settings: Settings, language: str, what: str) -> str:
    """`_replies/<what>.<language>.txt`, or the English one when no template folder has it."""
    name = f"{REPLY_FOLDER}/{what}.{language}.txt"
    if language in LOCALES and any((d / name).is_file() for d in settings.template_dirs):
        return name
    return f"{REPLY_FOLDER}/{what}.{DEFAULT_LANGUAGE}.txt"
