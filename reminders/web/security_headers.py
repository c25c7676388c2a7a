"""The headers every response carries: what the browser may load, frame and send on.

Pages hold patients' names and phone numbers, and some URLs hold tokens (unsubscribe and
self-service links): nothing is cached, nothing leaks in a Referer, nothing frames a page.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Scripts and styles only from our own files, never inline (the pages carry no <style> and
# no style= attribute). One constant, so a test and a reader see the whole policy at once.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    # no-referrer rather than same-origin: token URLs would otherwise travel in Referer.
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}
NO_STORE = "no-store"
# Files that are the same for everyone (the stylesheet) may be cached; nothing else.
CACHEABLE_PREFIX = "/static/"
HSTS = "max-age=31536000"


def security_headers(path: str, *, https: bool) -> dict[str, str]:
    """The headers for a response to `path`; Cache-Control only where none was set."""
    headers = dict(HEADERS)
    if not path.startswith(CACHEABLE_PREFIX):
        headers["Cache-Control"] = NO_STORE
    if https:
        headers["Strict-Transport-Security"] = HSTS
    return headers


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers to every HTTP response passing through it."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        wanted = security_headers(scope["path"], https=self.https)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = with_headers(list(message.get("headers", [])), wanted)
            await send(message)

        await self.app(scope, receive, send_with_headers)


def with_headers(
    raw: list[tuple[bytes, bytes]], wanted: dict[str, str]
) -> list[tuple[bytes, bytes]]:
    """`raw` plus each wanted header the response did not set itself."""
    present = {name.lower() for name, _ in raw}
    for name, value in wanted.items():
        if name.lower().encode() not in present:
            raw.append((name.lower().encode(), value.encode()))
    return raw
