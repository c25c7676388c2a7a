"""The template preview page: one kind, channel and language rendered with sample data."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from reminders.config import CHANNELS
from reminders.web.deps import Staff, settings_of
from reminders.web.pages.shared import show
from reminders.wording.template_tools import Preview, preview_template, template_kinds
from reminders.wording.templating import LOCALES, TemplateProblem

router = APIRouter(include_in_schema=False)


@router.get("/templates", response_class=HTMLResponse)
def templates_page(
    request: Request,
    user: Staff,
    kind: str = "session_reminder",
    channel: str = "sms",
    language: str = "en",
) -> HTMLResponse:
    """The same preview as `reminders templates preview`, its parts shown apart."""
    settings = settings_of(request)
    preview: Preview | None = None
    error: str | None = None
    try:
        preview = preview_template(settings, kind, channel, language)
    except TemplateProblem as exc:
        error = str(exc)
    return show(
        request,
        "templates.html",
        400 if error else 200,
        user=user,
        kinds=template_kinds(settings),
        channels=CHANNELS,
        languages=sorted(LOCALES),
        chosen={"kind": kind, "channel": channel, "language": language},
        preview=preview,
        error=error,
    )
