"""The REST API: bearer tokens, session upserts through the import's validation, the message
log with filters, and resends under the same limit as the console."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from reminders.config import Settings
from reminders.staff.accounts import create_token, revoke_token
from tests.harness import Clinic, local, row
from tests.web.conftest import NOW

ROUTES = [
    ("PUT", "/api/v1/sessions"),
    ("GET", "/api/v1/messages"),
    ("POST", "/api/v1/sessions/S1-1/resend"),
]
RESEND = {"channel": "sms", "by": "front desk", "reason": "patient lost the text"}


def session(**overrides: Any) -> dict[str, Any]:
    """One session object for the API: the schedule file's row, with JSON booleans."""
    base = row(patient_id="P3", series_id="S3", session_id="S3-1")
    return {**base, "sms_opt_out": False, "email_opt_out": False, **overrides}


def new_series() -> list[dict[str, Any]]:
    return [
        session(),
        session(session_id="S3-2", session_number=2, starts_at="2026-04-07T14:00:00-06:00"),
    ]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def api(client: TestClient, api_token: str) -> TestClient:
    client.headers.update(bearer(api_token))
    return client


def body_for(method: str, path: str) -> Any:
    if method == "PUT":
        return new_series()
    return RESEND if method == "POST" else None


# Tokens


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("credentials", ["none", "wrong", "revoked", "not bearer"])
def test_every_api_route_refuses_a_caller_without_a_valid_token(
    client: TestClient, web_settings: Settings, method: str, path: str, credentials: str
) -> None:
    revoked = create_token(web_settings, "old-booking-system", NOW)
    revoke_token(web_settings, "old-booking-system", NOW)
    headers = {
        "none": {},
        "wrong": bearer("rmd_not-a-token"),
        "revoked": bearer(revoked),
        "not bearer": {"Authorization": "Basic Ym9va2luZzpzZWNyZXQ="},
    }[credentials]

    response = client.request(method, path, json=body_for(method, path), headers=headers)

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "a valid bearer token is required"}


def test_a_caller_without_a_token_gets_401_even_for_a_broken_body(client: TestClient) -> None:
    response = client.put(
        "/api/v1/sessions", content=b"[{", headers={"content-type": "application/json"}
    )

    assert response.status_code == 401


def test_a_refused_upsert_writes_nothing(client: TestClient, clinic: Clinic) -> None:
    client.put("/api/v1/sessions", json=new_series())

    assert clinic.log(session_id="S3-1") == []


# Upserting sessions


def test_an_upsert_creates_sessions_and_plans_their_reminders(api: TestClient) -> None:
    response = api.put("/api/v1/sessions", json=new_series())

    assert response.status_code == 200
    assert response.json() == {
        "rows": 2,
        "created": {"patients": 1, "series": 1, "sessions": 2},
        "updated": {"patients": 0, "series": 0, "sessions": 0},
        "messages_changed": 4,
        "dry_run": False,
    }
    planned = api.get("/api/v1/messages", params={"patient_id": "P3"}).json()
    assert [(m["session_id"], m["rule"], m["status"]) for m in planned] == [
        ("S3-1", "email-72h", "planned"),
        ("S3-1", "sms-24h", "planned"),
        ("S3-2", "email-72h", "planned"),
        ("S3-2", "sms-24h", "planned"),
    ]
    # Three days before, at the same wall-clock time: 14:00 MST, before the clocks spring forward.
    assert planned[0]["due_at"] == "2026-03-07T21:00:00Z"


def test_the_same_batch_twice_changes_nothing(api: TestClient) -> None:
    api.put("/api/v1/sessions", json=new_series())
    before = api.get("/api/v1/messages").json()

    again = api.put("/api/v1/sessions", json=new_series()).json()

    assert again["created"] == again["updated"] == {"patients": 0, "series": 0, "sessions": 0}
    assert again["messages_changed"] == 0
    assert api.get("/api/v1/messages").json() == before


def test_a_moved_session_is_rescheduled_and_its_reminders_move(api: TestClient) -> None:
    moved = row(starts_at="2026-03-12T15:00", sms_opt_out=False, email_opt_out=False)

    summary = api.put("/api/v1/sessions", json=[moved]).json()

    assert summary["updated"]["sessions"] == 1
    planned = api.get("/api/v1/messages", params={"session_id": "S1-1", "status": "planned"})
    assert {m["due_at"] for m in planned.json()} == {"2026-03-09T21:00:00Z", "2026-03-11T21:00:00Z"}


def test_a_dry_run_reports_the_changes_and_writes_nothing(api: TestClient) -> None:
    response = api.put("/api/v1/sessions", params={"dry_run": "true"}, json=new_series())

    assert response.json()["created"]["sessions"] == 2
    assert response.json()["dry_run"] is True
    assert api.get("/api/v1/messages", params={"patient_id": "P3"}).json() == []


def test_an_invalid_batch_is_refused_naming_row_and_field_and_writes_nothing(
    api: TestClient,
) -> None:
    batch = new_series()
    batch[1]["phone"] = "+1 403 555"

    response = api.put("/api/v1/sessions", json=batch)

    assert response.status_code == 422
    assert response.json() == {
        "detail": [
            {"row": 2, "field": "phone", "problem": "'+1 403 555' is not a valid phone number"}
        ]
    }
    assert api.get("/api/v1/messages", params={"patient_id": "P3"}).json() == []


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"planned_sessions": "six"}, "planned_sessions", "Input should be a valid integer"),
        ({"sms_opt_out": "yes"}, "sms_opt_out", "Input should be a valid boolean"),
        ({"phon": "+14035550101"}, "phon", "unknown field (did you mean phone?)"),
        ({"session_id": None}, "session_id", "Input should be a valid string"),
        ({"first_name": "A\x00"}, "first_name", "must not contain a NUL character"),
        ({"status": "done"}, "status", "Input should be 'booked', 'confirmed', 'completed'"),
        ({"email": "avery@"}, "email", "'avery@' is not a valid email address"),
        ({"language": "de"}, "language", "'de' is not a supported language (use en or fr)"),
        ({"starts_at": "2026-03-10"}, "starts_at", "'2026-03-10' has no time of day"),
        ({"starts_at": "2026-03-08T02:30"}, "starts_at", "does not exist in America/Edmonton"),
        ({"starts_at": "9999-12-31T23:59Z"}, "starts_at", "is not between the years 2000"),
        ({"session_number": 7}, "session_number", "7 is more than planned_sessions (6)"),
        ({"first_name": "Ava"}, "first_name", "differs from row 1 for patient P3"),
        ({"series_id": "S1"}, "series_id", "series S1 belongs to patient P1, not P3"),
    ],
)
def test_each_problem_in_a_batch_names_its_row_and_field(
    api: TestClient, change: dict[str, Any], field: str, problem: str
) -> None:
    batch = new_series()
    batch[1].update(change)

    response = api.put("/api/v1/sessions", json=batch)

    assert response.status_code == 422
    (found,) = [p for p in response.json()["detail"] if p["field"] == field]
    assert found["row"] == 2
    assert problem in found["problem"]


def test_a_patient_needs_a_phone_or_an_email(api: TestClient) -> None:
    response = api.put("/api/v1/sessions", json=[session(phone=None, email=None)])

    assert response.json()["detail"] == [
        {
            "row": 1,
            "field": "phone",
            "problem": "patient P3 has neither phone nor email (one is needed)",
        }
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"patient_id": "P3"}, "Input should be a valid list"),
        ([], "List should have at least 1 item"),
    ],
)
def test_a_body_that_is_not_a_batch_is_refused(api: TestClient, body: Any, problem: str) -> None:
    response = api.put("/api/v1/sessions", json=body)

    assert response.status_code == 422
    (found,) = response.json()["detail"]
    assert found["row"] is None and found["field"] == "body" and problem in found["problem"]


def test_a_body_that_is_not_json_is_refused(api: TestClient) -> None:
    response = api.put(
        "/api/v1/sessions", content=b"[{", headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "body"


# The message log


@pytest.fixture
def log(api: TestClient, clinic: Clinic) -> list[dict[str, Any]]:
    """Every message after the first email reminders went out."""
    clinic.tick(local("2026-03-08 10:05"))
    return list(api.get("/api/v1/messages", params={"limit": 500}).json())


def test_the_log_lists_every_message_with_its_recipient(
    log: list[dict[str, Any]], clinic: Clinic
) -> None:
    assert [m["id"] for m in log] == [m["id"] for m in clinic.log()]
    sent = [m for m in log if m["status"] == "sent"]
    assert {(m["session_id"], m["channel"], m["recipient"]) for m in sent} == {
        ("S1-1", "email", "avery@example.com"),
        ("S2-1", "email", "emilie@example.com"),
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("status", "sent"),
        ("status", "planned"),
        ("channel", "sms"),
        ("kind", "session_reminder"),
        ("session_id", "S1-2"),
        ("patient_id", "P2"),
    ],
)
def test_the_log_filters_on_each_field(
    api: TestClient, log: list[dict[str, Any]], name: str, value: str
) -> None:
    response = api.get("/api/v1/messages", params={name: value})

    expected = [m for m in log if m[name] == value]
    assert expected and response.json() == expected


def test_the_log_filters_on_due_time(api: TestClient, log: list[dict[str, Any]]) -> None:
    since, until = "2026-03-08T00:00:00-07:00", "2026-03-10T00:00:00Z"

    response = api.get("/api/v1/messages", params={"since": since, "until": until})

    low, high = datetime.fromisoformat(since), datetime.fromisoformat(until)
    expected = [m for m in log if low <= datetime.fromisoformat(m["due_at"]) < high]
    assert expected and response.json() == expected


def test_the_log_pages_with_limit_and_offset(api: TestClient, log: list[dict[str, Any]]) -> None:
    first = api.get("/api/v1/messages", params={"limit": 2}).json()
    second = api.get("/api/v1/messages", params={"limit": 2, "offset": 2}).json()

    assert first + second == log[:4]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"status": "lost"}, "status"),
        ({"since": "2026-03-08T00:00:00"}, "since"),  # no offset: which 00:00?
        ({"until": "1772971200"}, "until"),
        ({"statuss": "sent"}, "statuss"),  # a misspelt filter must not widen the answer
    ],
)
def test_a_bad_filter_is_refused_by_name(
    api: TestClient, params: dict[str, Any], field: str
) -> None:
    response = api.get("/api/v1/messages", params=params)

    assert response.status_code == 422
    assert [p["field"] for p in response.json()["detail"]] == [field]


def test_a_since_far_outside_the_calendar_means_everything(
    api: TestClient, log: list[dict[str, Any]]
) -> None:
    response = api.get("/api/v1/messages", params={"since": "0001-01-01T00:00:00+05:00"})

    assert response.json() == log[:100]


# Resend


def test_a_resend_sends_now_and_is_in_the_log(api: TestClient, clinic: Clinic) -> None:
    response = api.post("/api/v1/sessions/S1-1/resend", json=RESEND)

    assert response.status_code == 200
    sent = response.json()
    assert (sent["channel"], sent["status"], sent["rule"]) == ("sms", "sent", None)
    assert sent["triggered_by"] == "front desk"
    assert sent["recipient"] == "+14035550101"
    assert sent["sent_at"] == NOW.astimezone(UTC).isoformat().replace("+00:00", "Z")
    assert [m["to"] for m in clinic.outbox()] == ["+14035550101"]
    logged = api.get("/api/v1/messages", params={"session_id": "S1-1", "status": "sent"})
    assert logged.json() == [sent]


def test_a_fourth_resend_in_a_day_is_refused(api: TestClient) -> None:
    for _ in range(3):
        assert api.post("/api/v1/sessions/S1-1/resend", json=RESEND).status_code == 200

    response = api.post("/api/v1/sessions/S1-1/resend", json=RESEND)

    assert response.status_code == 409
    assert response.json()["detail"].startswith("limit reached: at most 3 manual resends")


def test_a_resend_for_an_unknown_session_is_404(api: TestClient) -> None:
    response = api.post("/api/v1/sessions/NOPE/resend", json=RESEND)

    assert response.status_code == 404
    assert response.json() == {"detail": "no session 'NOPE'"}


def test_a_resend_to_an_opted_out_patient_is_refused(api: TestClient) -> None:
    api.put("/api/v1/sessions", json=[session(sms_opt_out=True)])

    response = api.post("/api/v1/sessions/S3-1/resend", json=RESEND)

    assert response.status_code == 409
    assert response.json() == {"detail": "the patient opted out of sms"}


def test_a_repeated_request_key_returns_the_same_message_and_sends_once(
    api: TestClient, clinic: Clinic
) -> None:
    asked = {**RESEND, "request_key": "booking-42"}

    first = api.post("/api/v1/sessions/S1-1/resend", json=asked).json()
    again = api.post("/api/v1/sessions/S1-1/resend", json=asked).json()

    assert again == first
    assert len(clinic.outbox()) == 1


def test_a_request_key_belongs_to_its_session(api: TestClient) -> None:
    asked = {**RESEND, "request_key": "booking-42"}

    first = api.post("/api/v1/sessions/S1-1/resend", json=asked).json()
    other = api.post("/api/v1/sessions/S2-1/resend", json=asked).json()

    assert (first["session_id"], other["session_id"]) == ("S1-1", "S2-1")


def test_a_resend_names_a_wrong_channel(api: TestClient) -> None:
    response = api.post("/api/v1/sessions/S1-1/resend", json={**RESEND, "channel": "fax"})

    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"row": None, "field": "channel", "problem": "Input should be 'sms' or 'email'"}
    ]


# The schema


def test_the_openapi_schema_describes_the_api_with_its_errors(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]

    upsert = paths["/api/v1/sessions"]["put"]["responses"]
    resend = paths["/api/v1/sessions/{session_id}/resend"]["post"]["responses"]
    assert set(upsert) == {"200", "400", "401", "422"}
    assert set(resend) == {"200", "400", "401", "404", "409", "422"}
    assert upsert["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ProblemsOut"
    }
