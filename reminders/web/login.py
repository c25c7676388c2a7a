"""Signing in and out: argon2 passwords, a growing delay after failures, CSRF on both forms."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from reminders.staff.accounts import AccountError, authenticate, failed_logins, login_delay
from reminders.web.deps import CsrfChecked, now_of, settings_of
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
    settings = settings_of(request)
    # Each failure in a row makes the next answer slower; many lock the account for a while.
    await asyncio.sleep(login_delay(await run_in_threadpool(failed_logins, settings, name)))
    try:
        user = await run_in_threadpool(authenticate, settings, name, password, now_of(request))
    except AccountError as exc:
        return page(request, "login.html", 401, next=_safe_next(next), error=str(exc))
    request.session.clear()
    request.session["user_id"] = user.id
    return RedirectResponse(_safe_next(next), status_code=303)


@router.post("/logout", include_in_schema=False, dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def _safe_next(target: str) -> str:
    """Only paths on this site: never redirect a login to somewhere else."""
    return target if target.startswith("/") and not target.startswith("//") else "/"
