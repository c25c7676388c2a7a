"""The admin pages: staff accounts, a patient's opt-outs, and the reminder policy in force."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from reminders import store
from reminders.config import format_offset
from reminders.planning.consent import patient_by_id
from reminders.staff.accounts import ROLES, AccountError, StaffUser, add_user, list_users
from reminders.staff.patients import set_opt_outs
from reminders.web.deps import Admin, CsrfChecked, now_of, settings_of
from reminders.web.pages.shared import back, flash, full_name, no_patient, show

router = APIRouter(include_in_schema=False)


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, user: Admin) -> HTMLResponse:
    return _users(request, user)


def _users(request: Request, user: StaffUser, status_code: int = 200, **form: str) -> HTMLResponse:
    return show(
        request,
        "users.html",
        status_code,
        user=user,
        users=list_users(settings_of(request)),
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
