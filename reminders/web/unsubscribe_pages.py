"""The public unsubscribe pages behind the links and headers in follow-up emails.

No staff login and no CSRF token: the signed token in the path is the authority. Only
the patient's mailbox holds it, a forged cross-site POST cannot know it, and RFC 8058
one-click unsubscribes are POSTed by mail providers without cookies or a form to load
first. A token that does not verify changes nothing and gets a 404 page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from reminders.feedback.unsubscribe import Subscription, subscription, unsubscribe
from reminders.web.deps import now_of, settings_of
from reminders.web.render import templates
from reminders.wording.unsubscribe_links import patient_of

router = APIRouter(include_in_schema=False)


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_page(request: Request, token: str) -> HTMLResponse:
    settings = settings_of(request)
    external_id = patient_of(settings, token)
    found = (
        None
        if external_id is None
        else await run_in_threadpool(subscription, settings, external_id)
    )
    if found is None:
        return _invalid(request)
    return _show(request, "unsubscribe.html", found, done=False)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
async def unsubscribe_post(request: Request, token: str) -> HTMLResponse:
    """Our form sends `scope`; a one-click POST sends `List-Unsubscribe=One-Click` or nothing."""
    settings = settings_of(request)
    external_id = patient_of(settings, token)
    if external_id is None:
        return _invalid(request)
    form = await request.form()
    scope = "all" if form.get("scope") == "all" else "followups"
    found = await run_in_threadpool(unsubscribe, settings, external_id, scope, now_of(request))
    if found is None:
        return _invalid(request)
    return _show(request, "unsubscribe_done.html", found, done=True, scope=scope)


def _show(
    request: Request, name: str, found: Subscription, status_code: int = 200, **context: Any
) -> HTMLResponse:
    settings = settings_of(request)
    context |= {"user": None, "flash": None, "clinic": settings.clinic, "state": found}
    context["fr"] = found.language.startswith("fr")
    return templates.TemplateResponse(request, name, context, status_code=status_code)


def _invalid(request: Request) -> HTMLResponse:
    context = {"user": None, "flash": None, "clinic": settings_of(request).clinic}
    return templates.TemplateResponse(request, "unsubscribe_invalid.html", context, status_code=404)
