"""Signing in and out: argon2 passwords, throttled guessers, server-side sessions, CSRF on
both forms."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from reminders.staff.accounts import (
    AccountError,
    Throttled,
    answer_delay,
    authenticate,
    end_session,
    start_session,
)
from reminders.web.deps import SESSION_ID, CsrfChecked, client_address, now_of, settings_of
from reminders.web.render import page

router = APIRouter()


@router.get("/login", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, next: str = "/") -> Response:
    return page(request, "login.html", next=_safe_next(next), error=None)


@router.post(
    "/login", response_class=HTMLResponse, include_in_schema=False, dependencies=[CsrfChecked]
)
async def login(
    request: Request,
    name: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/",
) -> Response:
    settings, now = settings_of(request), now_of(request)
    # Many failures at one name, from anywhere, slow each answer a little (never a refusal).
    await asyncio.sleep(await run_in_threadpool(answer_delay, settings, name, now))
    try:
        user = await run_in_threadpool(
            authenticate, settings, name, password, client_address(request), now
        )
    except Throttled as exc:
        response = page(request, "login.html", 429, next=_safe_next(next), error=str(exc))
        response.headers["Retry-After"] = str(max(1, int(exc.wait.total_seconds())))
        return response
    except AccountError as exc:
        return page(request, "login.html", 401, next=_safe_next(next), error=str(exc))
    token = await run_in_threadpool(start_session, settings, user, now)
    request.session.clear()  # a fresh form token too: nothing carries over from before
    request.session[SESSION_ID] = token
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False, dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    token = request.session.get(SESSION_ID)
    if isinstance(token, str):
        end_session(settings_of(request), token)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _safe_next(target: str) -> str:
    """Only paths on this site: never redirect a login to somewhere else."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
