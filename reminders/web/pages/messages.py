"""The message log: every message, filtered by status, channel, kind and days, latest
activity first, a page at a time."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from reminders import store
from reminders.config import CHANNELS
from reminders.models import MessageStatus
from reminders.staff.log_search import COUNT_CAP, Cursor, LogFilters, search_log
from reminders.web.deps import Staff, now_of, settings_of
from reminders.web.pages.rows import log_row
from reminders.web.pages.shared import day_start, here, parse_day, show
from reminders.wording.template_tools import template_kinds

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50


@router.get("/messages", response_class=HTMLResponse)
def messages_page(
    request: Request,
    user: Staff,
    status: str = "",
    channel: str = "",
    kind: str = "",
    since: Annotated[str, Query(alias="from")] = "",
    to: str = "",
    after: str = "",
) -> HTMLResponse:
    """`after`: the cursor of the page above (the "Older" link); absent, the newest page."""
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    first, last = parse_day(since), parse_day(to)
    filters = LogFilters(
        status=status,
        channel=channel,
        kind=kind,
        start=day_start(first, zone) if first else None,
        end=day_start(last + timedelta(days=1), zone) if last else None,
    )
    cursor = Cursor.parse(after)
    with store.transaction(settings.database_url) as db:
        found, total, older = search_log(db, filters, PAGE_SIZE, cursor)
        rows = [log_row(m, zone, now) for m in found]
    chosen = {"status": status, "channel": channel, "kind": kind, "from": since, "to": to}
    return show(
        request,
        "messages.html",
        user=user,
        rows=rows,
        total=total,
        count_cap=COUNT_CAP,
        deeper=cursor is not None,
        older=str(older) if older else "",
        chosen=chosen,
        query=urlencode({k: v for k, v in chosen.items() if v}),
        bad_dates=[d for d, parsed in ((since, first), (to, last)) if d and parsed is None],
        statuses=[s.value for s in MessageStatus],
        channels=CHANNELS,
        kinds=template_kinds(settings),
        here=here(request),
    )
