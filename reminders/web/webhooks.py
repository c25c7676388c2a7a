"""Twilio's webhooks: message status callbacks and inbound SMS, each signed by Twilio.

Not behind staff login: the signature is the authentication. It is checked against the
public URL Twilio called (`REMINDERS_PUBLIC_URL` + path), not the one this process sees,
so it holds behind a reverse proxy. Replies go out through the SMS channel, never as
TwiML, so every answer is sent and logged the same way; Twilio gets an empty <Response/>.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from twilio.request_validator import RequestValidator

from reminders.feedback import delivery, replies
from reminders.web.deps import now_of, settings_of

log = logging.getLogger(__name__)
router = APIRouter(prefix="/webhooks/twilio", include_in_schema=False)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


def public_url(request: Request) -> str:
    """The URL Twilio signed: the configured public base, this path and query."""
    base = settings_of(request).public_url.rstrip("/")
    query = request.url.query
    return base + request.url.path + (f"?{query}" if query else "")


async def signed_form(request: Request) -> dict[str, str]:
    """The posted fields, if Twilio signed them; 403 otherwise (and when unconfigured)."""
    settings = settings_of(request)
    signature = request.headers.get("X-Twilio-Signature", "")
    if not settings.public_url or not settings.twilio_auth_token:
        log.warning("Twilio webhook refused: public URL or auth token not configured")
        raise HTTPException(403, "webhook not configured")
    form = await request.form()
    params = {key: value for key, value in form.items() if isinstance(value, str)}
    validator = RequestValidator(settings.twilio_auth_token)
    if not signature or not validator.validate(public_url(request), params, signature):
        log.warning("Twilio webhook refused: bad or missing signature on %s", request.url.path)
        raise HTTPException(403, "invalid signature")
    return params


TwilioForm = Annotated[dict[str, str], Depends(signed_form)]


@router.post("/status")
async def status_callback(request: Request, form: TwilioForm) -> Response:
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = form.get("MessageStatus") or form.get("SmsStatus") or ""
    code = form.get("ErrorCode", "")
    outcome = await run_in_threadpool(
        delivery.apply_status, settings_of(request), sid, status, code, now_of(request)
    )
    log.info("Twilio status %s for %s: %s", status, sid, outcome or "unknown message")
    return Response(status_code=204)


@router.post("/inbound")
async def inbound_sms(request: Request, form: TwilioForm) -> Response:
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if sid:
        intent = await run_in_threadpool(
            replies.receive,
            settings_of(request),
            sid,
            form.get("From", ""),
            form.get("Body", ""),
            now_of(request),
        )
        log.info("Twilio inbound %s: %s", sid, intent or "seen before")
    return Response(EMPTY_TWIML, media_type="text/xml")
