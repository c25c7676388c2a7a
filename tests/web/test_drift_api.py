"""The call list in the API: the console's list, same reasons and dates, behind the token."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.harness import Clinic, local, row


def test_the_api_lists_drifting_series_with_their_reason_and_since_when(
    client: TestClient, clinic: Clinic, api_token: str
) -> None:
    clinic.import_rows(
        [
            row(
                patient_id="P3",
                series_id="S3",
                session_id="S3-1",
                starts_at="2026-01-05T10:00",
                status="completed",
            )
        ],
        local("2026-01-05 18:00"),
    )

    response = client.get("/api/v1/drift", headers={"Authorization": f"Bearer {api_token}"})

    assert response.status_code == 200
    (entry,) = response.json()
    assert (entry["patient_id"], entry["reason"], entry["since"]) == ("P3", "overdue", "2026-02-02")
    assert entry["days_overdue"] == 37  # 26 Jan 10:00 to 5 Mar 09:00
    assert client.get("/api/v1/drift").status_code == 401
