"""What a request depends on: the settings and clock, the CSRF check on every form, and the
signed-in user or API client that guards pages and the API."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reminders.config import Settings
from reminders.staff.accounts import StaffUser, find_user, token_name

_bearer = HTTPBearer(auto_error=False)


class LoginRequired(Exception):
    """A page was asked for without a signed-in user: the app redirects to /login."""


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def now_of(request: Request) -> datetime:
    moment: datetime = request.app.state.clock()
    return moment


def csrf_token(request: Request) -> str:
    """The session's form token, made on first use (the login form has one too)."""
    token = request.session.get("csrf")
    if not isinstance(token, str):
        token = request.session["csrf"] = secrets.token_urlsafe(32)
    return token


async def check_csrf(request: Request) -> None:
    """Every POST form carries the session's token; anything else is refused."""
    form = await request.form()
    sent = form.get("csrf_token")
    expected = request.session.get("csrf")
    if not isinstance(sent, str) or not isinstance(expected, str):
        raise HTTPException(403, "missing form token: reload the page and try again")
    if not secrets.compare_digest(sent, expected):
        raise HTTPException(403, "invalid form token: reload the page and try again")


def signed_in(request: Request) -> StaffUser | None:
    user_id = request.session.get("user_id")
    if not isinstance(user_id, int):
        return None
    return find_user(settings_of(request), user_id)


def staff_user(request: Request) -> StaffUser:
    """Pages: the signed-in user, or a redirect to the login page."""
    user = signed_in(request)
    if user is None:
        raise LoginRequired()
    return user


def admin_user(user: Annotated[StaffUser, Depends(staff_user)]) -> StaffUser:
    if not user.is_admin:
        raise HTTPException(403, "this page is for administrators")
    return user


def api_client(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> str:
    """API: the name of a valid bearer token, or 401."""
    if credentials is not None:
        name = token_name(settings_of(request), credentials.credentials)
        if name is not None:
            return name
    raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})


Staff = Annotated[StaffUser, Depends(staff_user)]
Admin = Annotated[StaffUser, Depends(admin_user)]
ApiClient = Annotated[str, Depends(api_client)]
CsrfChecked = Depends(check_csrf)
