"""Staff pages: sessions with their reminder timelines, patients, the message log, what needs
attention, template previews, and the admin pages. Server-rendered; every form is CSRF-checked.

Pages only read and display: sending, planning and accounts go through the same functions as
the CLI (`resend`, `plan_session`, `add_user`, ...), so the rules live in one place; the
queries they read through live in `reminders.staff`.
"""

from __future__ import annotations

from fastapi import APIRouter

from reminders.web.pages import admin, attention, day, messages, patients, sessions, templates

router = APIRouter(include_in_schema=False)
for group in (sessions, day, patients, messages, attention, templates, admin):
    router.include_router(group.router)
