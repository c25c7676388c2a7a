"""The application: pages, API and health checks behind one session middleware."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response
from starlette.middleware.sessions import SessionMiddleware

from reminders.config import ConfigError, Settings
from reminders.web import (
    api,
    health,
    login,
    pages,
    self_service_pages,
    unsubscribe_pages,
    webhooks,
)
from reminders.web.deps import LoginRequired
from reminders.web.pages import adherence as adherence_page
from reminders.web.render import static_files
from reminders.web.security_headers import SecurityHeaders, security_headers

Clock = Callable[[], datetime]


def _real_clock() -> datetime:
    return datetime.now(UTC)


def create_app(settings: Settings, *, clock: Clock = _real_clock, demo: bool = False) -> FastAPI:
    """The console for this configuration; `clock` lets tests run it on a virtual time."""
    secret = settings.secret_key
    if not secret:
        if not demo:
            raise ConfigError("the web console needs REMINDERS_SECRET_KEY (a long random string)")
        secret = secrets.token_urlsafe(32)  # demo only: sessions end when the process does
    app = FastAPI(title="Clinic reminders", version="1", docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.clock = clock
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="reminders_session",
        max_age=12 * 3600,
        same_site="lax",
        https_only=settings.public_url.startswith("https://"),
    )
    # Added last, so it wraps the session middleware: every response gets the headers; a
    # crash's 500 is answered outside all middleware, so its handler adds them itself.
    app.add_middleware(SecurityHeaders, https=_https(settings))
    app.add_exception_handler(LoginRequired, _to_login)
    app.add_exception_handler(Exception, _server_error)
    # Pages need a signed-in user, the API a token; webhooks, unsubscribe links and health
    # checks are public and authenticate what they carry (a signature, a signed token).
    routers = (
        login,
        pages,
        adherence_page,
        api,
        health,
        webhooks,
        unsubscribe_pages,
        self_service_pages,
    )
    for module in routers:
        app.include_router(module.router)
    app.mount("/static", static_files, name="static")  # the console's stylesheet
    return app


def _https(settings: Settings) -> bool:
    return settings.public_url.startswith("https://")


async def _server_error(request: Request, exc: Exception) -> Response:
    https = _https(request.app.state.settings)
    headers = security_headers(request.url.path, https=https)
    return PlainTextResponse("Internal Server Error", 500, headers=headers)


async def _to_login(request: Request, exc: Exception) -> Response:
    return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
