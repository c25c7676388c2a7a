"""Server-side pages: one Jinja2 environment, autoescaped, with the user and CSRF token."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from reminders.web.deps import csrf_token, signed_in

templates = Jinja2Templates(directory=str(Path(__file__).resolve().parent / "templates"))


def page(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    context.setdefault("user", signed_in(request))
    context["csrf_token"] = csrf_token(request)
    return templates.TemplateResponse(request, name, context, status_code=status_code)
