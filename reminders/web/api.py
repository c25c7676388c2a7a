"""The REST API for the clinic's booking system: upsert sessions, read the message log, resend.

Every route needs a bearer token (`reminders tokens create NAME`). Writes go through the
same functions as the file import and the CLI: `validate_rows` + `import_schedule`, `resend`.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from difflib import get_close_matches
from typing import Annotated, Any

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPBearer
from sqlalchemy import Select, select
from starlette.concurrency import run_in_threadpool

from reminders import store
from reminders.config import Settings
from reminders.intake.importer import ImportSummary, import_schedule
from reminders.intake.schedule_file import COLUMNS, Problem, ScheduleError, validate_rows
from reminders.models import Message, Session
from reminders.sending.resend import ResendRefused, resend
from reminders.staff.drift import drifting
from reminders.staff.message_log import as_record, messages, with_patient
from reminders.web.deps import ApiClient, api_client, now_of, settings_of
from reminders.web.schemas import (
    MAX_BATCH,
    NO_NUL,
    Counts,
    DriftOut,
    ErrorOut,
    ImportOut,
    MessageFilters,
    MessageOut,
    ProblemsOut,
    ResendIn,
    SessionIn,
)

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
_bearer = HTTPBearer(auto_error=False)
# The null branch of an optional filter's union: the other branch's error says it all.
_NOT_NONE = "none_required"


class _ProblemRoute(APIRoute):
    """Request validation errors in the import's shape (row, field, problem), not FastAPI's.

    FastAPI reads the body before it checks the token; a caller without a valid one gets
    401 here too, not a description of what is wrong with their request.
    """

    def get_route_handler(self) -> Handler:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                await _authenticated(request)
                problems = [_shape_problem(e) for e in exc.errors() if e["type"] != _NOT_NONE]
                return JSONResponse({"detail": problems}, status_code=422)
            except HTTPException as exc:
                if exc.status_code == 400:  # a body that is not even UTF-8 JSON
                    await _authenticated(request)
                raise

        return route


async def _authenticated(request: Request) -> None:
    credentials = await _bearer(request)
    await run_in_threadpool(api_client, request, credentials)  # raises 401 for a stranger


def _shape_problem(error: Mapping[str, Any]) -> dict[str, object]:
    if error["type"] == "json_invalid":
        return {"row": None, "field": "body", "problem": f"is not valid JSON ({error['msg']})"}
    loc: tuple[int | str, ...] = error["loc"] or ("body",)
    where, *path = loc
    row = None
    if where == "body" and path and isinstance(path[0], int):
        row = path[0] + 1  # the object's place in the batch, counted from 1 like rows
        path = path[1:]
    # A query parameter is flat: what follows its name tags the branch of a union.
    parts = path[:1] if where in ("query", "path") else path
    field = ".".join(str(part) for part in parts)
    if not field and row is None:
        field = str(where)  # the whole body, say: not a list
    return {"row": row, "field": field, "problem": _say(error, field)}


def _say(error: Mapping[str, Any], field: str) -> str:
    if error["type"] == "extra_forbidden":
        close = get_close_matches(field, COLUMNS, n=1)
        return f"unknown field (did you mean {close[0]}?)" if close else "unknown field"
    if error["type"] == "string_pattern_mismatch":
        return "must not contain a NUL character"  # the only pattern the models use
    return str(error["msg"]).removeprefix("Value error, ")


_UNAUTHORIZED = {
    "model": ErrorOut,
    "description": "No bearer token, or one that is unknown or revoked.",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
}
_UNREADABLE = {"model": ErrorOut, "description": "The body cannot be read (not UTF-8 JSON)."}
_INVALID = {"model": ProblemsOut, "description": "The request is invalid: every problem, named."}

router = APIRouter(
    prefix="/api/v1",
    tags=["api"],
    route_class=_ProblemRoute,
    responses={401: _UNAUTHORIZED, 422: _INVALID},
)


# Sessions: the schedule's rows, with their patients and series.


@router.put("/sessions", response_model=ImportOut, responses={400: _UNREADABLE})
def upsert_sessions(
    request: Request,
    client: ApiClient,
    sessions: Annotated[list[SessionIn], Body(min_length=1, max_length=MAX_BATCH)],
    dry_run: Annotated[bool, Query(description="Validate and plan, then roll back.")] = False,
) -> ImportOut:
    """Create or update sessions (and their patients and series), then re-plan their messages.

    All or nothing, like a file import: one bad object and nothing is written. The same
    batch twice changes nothing the second time.
    """
    settings = settings_of(request)
    items = [session.model_dump(mode="json") for session in sessions]
    try:
        rows = validate_rows(items, settings.clinic.zone)
        summary = import_schedule(settings, rows, now_of(request), dry_run=dry_run)
    except ScheduleError as exc:
        raise _invalid(exc.problems) from None
    log.info("api client %s upserted %s%s", client, summary, " (dry run)" if dry_run else "")
    return _import_out(summary, dry_run)


def _invalid(problems: Sequence[Problem]) -> HTTPException:
    detail = [{"row": p.row, "field": p.column, "problem": p.problem} for p in problems]
    return HTTPException(422, detail)


def _import_out(summary: ImportSummary, dry_run: bool) -> ImportOut:
    return ImportOut(
        rows=summary.rows,
        created=Counts(**summary.created),
        updated=Counts(**summary.updated),
        messages_changed=summary.messages_changed,
        dry_run=dry_run,
    )


# The message log.


@router.get("/messages", response_model=list[MessageOut])
def list_messages(
    request: Request, client: ApiClient, filters: Annotated[MessageFilters, Query()]
) -> list[MessageOut]:
    """Messages in id order, planned and sent, with their recipient, text and state."""
    records = messages(settings_of(request), **filters.model_dump())
    return [MessageOut.model_validate(record) for record in records]


def _records(settings: Settings, query: Select[tuple[Message]]) -> list[MessageOut]:
    with store.transaction(settings.database_url) as db:
        return [MessageOut.model_validate(as_record(m)) for m in db.scalars(query)]


# Resend.

SessionId = Annotated[str, Path(min_length=1, max_length=100, pattern=NO_NUL)]


@router.post(
    "/sessions/{session_id}/resend",
    response_model=MessageOut,
    responses={
        400: _UNREADABLE,
        404: {"model": ErrorOut, "description": "No session with this id."},
        409: {
            "model": ErrorOut,
            "description": "Refused: the limit, an opt-out, a past session...",
        },
    },
)
def resend_session(
    request: Request, client: ApiClient, session_id: SessionId, asked: ResendIn
) -> MessageOut:
    """Send the session's reminder again now, by one channel, as staff do from the console.

    At most `resend_limit` (3) per session and channel in 24 hours. A repeat with the same
    `request_key` returns the first request's message and sends nothing.
    """
    settings = settings_of(request)
    if not _session_exists(settings, session_id):
        raise HTTPException(404, f"no session {session_id!r}")
    key = _request_key(client, session_id, asked.request_key)
    try:
        sent = resend(
            settings, session_id, asked.channel, asked.by, asked.reason, now_of(request), key
        )
    except ResendRefused as exc:
        raise HTTPException(409, str(exc)) from None
    log.info("api client %s: resend of session %s is message %s", client, session_id, sent.id)
    (record,) = _records(settings, with_patient(select(Message)).where(Message.id == sent.id))
    return record


def _session_exists(settings: Settings, session_id: str) -> bool:
    with store.transaction(settings.database_url) as db:
        found = db.scalar(select(Session.id).where(Session.external_id == session_id))
        return found is not None


def _request_key(client: str, session_id: str, key: str | None) -> str | None:
    """The client's key, scoped to it and the session, in the column's 64 characters.

    Keys share one column with the console's forms: unscoped, a key reused by another
    client (or for another session) would return that other request's message.
    """
    if key is None:
        return None
    digest = hashlib.sha256("\0".join((client, session_id, key)).encode()).hexdigest()
    return f"api:{digest[:60]}"


# The call list.


@router.get("/drift", response_model=list[DriftOut])
def list_drifting(request: Request, client: ApiClient) -> list[DriftOut]:
    """Series to call, most overdue first: overdue past the tolerance, or a no-show with
    nothing booked since (from the day after). The console's and the CLI's list."""
    records = drifting(settings_of(request), now_of(request))
    return [DriftOut.model_validate(record) for record in records]
