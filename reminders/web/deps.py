"""What a request depends on: the settings and clock, the CSRF check on every form, and the
signed-in user or API client that guards pages and the API.

The session cookie (signed) carries the form token, the last notice and a random session
id; who is signed in is looked up by that id in the store on every request, so signing
out, a password reset or disabling the user ends the session at once, cookie copies too.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from reminders.config import Settings
from reminders.staff.accounts import StaffUser, session_user, token_name

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


SESSION_ID = "sid"


def signed_in(request: Request) -> StaffUser | None:
    """The user of this request's live session, looked up once per request."""
    if hasattr(request.state, "staff_user"):
        known: StaffUser | None = request.state.staff_user
        return known
    token = request.session.get(SESSION_ID)
    user = None
    if isinstance(token, str):
        user = session_user(settings_of(request), token, now_of(request))
    request.state.staff_user = user
    return user


def client_address(request: Request) -> str:
    """The address throttles count: the peer, or the client a trusted proxy names.

    uvicorn replaces the peer with X-Forwarded-For only from addresses in its
    --forwarded-allow-ips (127.0.0.1 by default): a proxy on the same machine.
    """
    return request.client.host if request.client else "unknown"


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
