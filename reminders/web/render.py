"""Server-side pages: one Jinja2 environment, autoescaped, with the user and CSRF token; the
console's stylesheet, served from /static (no inline styles or scripts: the CSP forbids them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from reminders.staff.phones import clinic_region, display
from reminders.staff.reasons import explain
from reminders.web.deps import csrf_token, settings_of, signed_in

HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
# One mapping from status and reason to plain words, and one phone format, for every page.
templates.env.globals["plain"] = explain
templates.env.globals["phone_of"] = display
static_files = StaticFiles(directory=str(HERE / "static"))


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", signed_in(request))
    context["csrf_token"] = csrf_token(request)
    context.setdefault("region", clinic_region(settings_of(request)))
    return templates.TemplateResponse(request, name, context, status_code=status_code)
