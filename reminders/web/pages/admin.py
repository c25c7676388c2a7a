"""The admin pages: staff accounts (add, disable, reset, unlock), a patient's opt-outs, and
the reminder policy in force."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from reminders import store
from reminders.config import format_offset
from reminders.planning.consent import patient_by_id
from reminders.staff.accounts import (
    ROLES,
    AccountError,
    StaffUser,
    add_user,
    clear_throttle,
    list_users,
    reset_password,
    set_disabled,
    throttles,
    unlock,
)
from reminders.staff.patients import set_opt_outs
from reminders.web.deps import Admin, CsrfChecked, now_of, settings_of
from reminders.web.pages.shared import back, flash, full_name, local, no_patient, show

router = APIRouter(include_in_schema=False)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: Admin) -> HTMLResponse:
    return _users(request, user)


def _users(request: Request, user: StaffUser, status_code: int = 200, **form: str) -> HTMLResponse:
    settings, now = settings_of(request), now_of(request)
    zone = settings.clinic.zone
    return show(
        request,
        "users.html",
        status_code,
        user=user,
        users=list_users(settings),
        throttles=[
            {"view": t, "until": local(t.blocked_until, zone, "%H:%M")}
            for t in throttles(settings, now)
        ],
        roles=ROLES,
        form=form,
    )


@router.post("/admin/users", response_class=HTMLResponse, dependencies=[CsrfChecked])
def add_user_form(
    request: Request,
    user: Admin,
    name: Annotated[str, Form()],
    role: Annotated[str, Form()],
    password: Annotated[str, Form()],
) -> Response:
    name = name.strip()
    try:
        if not name:
            raise AccountError("a name is required")
        add_user(settings_of(request), name, role, password, now_of(request))
    except AccountError as exc:
        return _users(request, user, 400, error=str(exc), name=name, role=role)
    flash(request, "notice", f"Added {role} {name}.")
    return back("/admin/users")


@router.post("/admin/users/{name:path}/disable", dependencies=[CsrfChecked])
def disable_user(request: Request, user: Admin, name: str) -> Response:
    if name == user.name:
        flash(request, "error", "You cannot disable your own account.")
        return back("/admin/users")
    return _account_change(
        request,
        lambda: set_disabled(settings_of(request), name, True, now_of(request)),
        f"Disabled {name}: their sessions have ended.",
    )


@router.post("/admin/users/{name:path}/enable", dependencies=[CsrfChecked])
def enable_user(request: Request, user: Admin, name: str) -> Response:
    return _account_change(
        request,
        lambda: set_disabled(settings_of(request), name, False, now_of(request)),
        f"Enabled {name}.",
    )


@router.post("/admin/users/{name:path}/password", dependencies=[CsrfChecked])
def reset_user_password(
    request: Request, user: Admin, name: str, password: Annotated[str, Form()]
) -> Response:
    return _account_change(
        request,
        lambda: reset_password(settings_of(request), name, password, now_of(request)),
        f"New password set for {name}: their sessions have ended.",
    )


@router.post("/admin/users/{name:path}/unlock", dependencies=[CsrfChecked])
def unlock_user(request: Request, user: Admin, name: str) -> Response:
    cleared = unlock(settings_of(request), name)
    flash(request, "notice", f"Unlocked {name}: {cleared} failed sign-in count(s) cleared.")
    return back("/admin/users")


@router.post("/admin/throttles/{throttle_id}/clear", dependencies=[CsrfChecked])
def clear_a_throttle(request: Request, user: Admin, throttle_id: int) -> Response:
    clear_throttle(settings_of(request), throttle_id)
    flash(request, "notice", "Cleared: that client may sign in again at once.")
    return back("/admin/users")


def _account_change(request: Request, change: Callable[[], StaffUser], done: str) -> Response:
    try:
        change()
    except AccountError as exc:
        flash(request, "error", f"Refused: {exc}.")
    else:
        flash(request, "notice", done)
    return back("/admin/users")


@router.get("/admin/patients/{patient_id:path}/opt-out", response_class=HTMLResponse)
def opt_out_page(request: Request, user: Admin, patient_id: str) -> HTMLResponse:
    with store.transaction(settings_of(request).database_url) as db:
        patient = patient_by_id(db, patient_id)
    if patient is None:
        return no_patient(request, user, patient_id)
    return show(
        request, "opt_out.html", user=user, patient=patient, patient_name=full_name(patient)
    )


@router.post("/admin/patients/{patient_id:path}/opt-out", dependencies=[CsrfChecked])
def change_opt_out(
    request: Request,
    user: Admin,
    patient_id: str,
    sms_opt_out: Annotated[bool, Form()] = False,
    email_opt_out: Annotated[bool, Form()] = False,
) -> Response:
    """An unchecked box is absent from the form: absent means 'not opted out'."""
    settings, now = settings_of(request), now_of(request)
    changed = set_opt_outs(settings, patient_id, sms=sms_opt_out, email=email_opt_out, now=now)
    if changed is None:
        return no_patient(request, user, patient_id)
    states = f"SMS {'off' if sms_opt_out else 'on'}, email {'off' if email_opt_out else 'on'}"
    flash(request, "notice", f"Saved: {states}; {changed} planned message(s) changed.")
    return back(f"/patients/{patient_id}")


@router.get("/admin/policy", response_class=HTMLResponse)
def policy_page(request: Request, user: Admin) -> HTMLResponse:
    settings = settings_of(request)
    rules = [
        {
            "name": rule.name,
            "kind": rule.kind,
            "channel": rule.channel,
            "offset": format_offset(rule.offset),
            "when": format_offset(abs(rule.offset)).lstrip("+")
            + (" before" if rule.before_session else " after"),
            "template": rule.template,
        }
        for rule in settings.rules
    ]
    return show(
        request,
        "policy.html",
        user=user,
        rules=rules,
        quiet=settings.quiet_hours,
        followups=settings.followups,
        # Named values only: the settings object also holds the secrets.
        timezone=settings.clinic.timezone,
        resend_limit=settings.resend_limit,
        sms_segment_budget=settings.sms_segment_budget,
        name_treatment_in_sms=settings.clinic.name_treatment_in_sms,
    )
