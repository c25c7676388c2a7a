"""The adherence page: staff only, the clinic's figures with SVG charts, no script."""

from __future__ import annotations

import time
from datetime import timedelta

from fastapi.testclient import TestClient

from tests.harness import Clinic, local, row
from tests.web.conftest import NOW, Clock


def history(clinic: Clinic) -> None:
    """P3 keeps a 21-day rhythm with Dr. Roy; P4 drifted after one session with Dr. Chen."""
    rows = [
        row(
            patient_id="P3",
            series_id="S3",
            session_id=f"S3-{n}",
            session_number=n,
            starts_at=day,
            practitioner="Dr. Roy",
            status="completed",
        )
        for n, day in enumerate(["2026-01-05T10:00", "2026-01-26T10:00", "2026-02-16T10:00"], 1)
    ]
    rows.append(
        row(
            patient_id="P4",
            first_name="Sam",
            series_id="S4",
            session_id="S4-1",
            starts_at="2026-01-06T10:00",
            practitioner="Dr. Chen",
            treatment="PRP",
            status="completed",
        )
    )
    clinic.import_rows(rows, local("2026-02-16 18:00"))


def test_the_adherence_page_needs_a_signed_in_user(client: TestClient) -> None:
    response = client.get("/adherence")

    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/adherence"


def test_the_adherence_page_shows_the_figures_with_charts_and_no_script(
    as_staff: TestClient, clinic: Clinic
) -> None:
    history(clinic)

    html = as_staff.get("/adherence").text

    assert '<a href="/adherence">Adherence</a>' in html
    assert "<script" not in html
    assert html.count('<svg class="months"') == 1
    # Three waits came due in February (after S3-1, S3-2 and S4-1; S3-3 not yet): S4-1 drifted.
    assert "2026-02: 33% (1 of 3 waits ran past target + tolerance)" in html
    assert 'data-group="PRP"' in html and 'data-group="Dr. Roy"' in html
    assert "median 21 days against 21 (on target; 2 intervals)" in html
    assert "100% (2 of 2)" in html  # Dr. Roy's sessions all in the window
    assert "as of " + NOW.astimezone(clinic.settings.clinic.zone).strftime("%a %d %b %Y") in html


def test_an_empty_clinic_says_there_is_nothing_to_count(as_staff: TestClient) -> None:
    html = as_staff.get("/adherence").text

    assert "No wait has come due yet." in html
    assert "nothing to count yet" in html


def test_the_page_shows_figures_counted_in_the_last_five_minutes_then_counts_again_behind_them(
    as_staff: TestClient, clinic: Clinic, clock: Clock
) -> None:
    zone = clinic.settings.clinic.zone
    history(clinic)
    counted_at = NOW.astimezone(zone).strftime("%H:%M")
    assert f"as of Thu 05 Mar 2026 {counted_at}" in as_staff.get("/adherence").text
    # P4 comes back: a second completed session, so a second interval counted for Dr. Chen.
    came_back = row(
        patient_id="P4",
        first_name="Sam",
        series_id="S4",
        session_id="S4-2",
        session_number=2,
        starts_at="2026-03-04T10:00",
        practitioner="Dr. Chen",
        treatment="PRP",
        status="completed",
    )
    clinic.import_rows([came_back], NOW)

    clock.now = NOW + timedelta(minutes=4)
    html = as_staff.get("/adherence").text
    assert f"as of Thu 05 Mar 2026 {counted_at}" in html
    assert "(on target; 2 intervals)" in html  # the figures counted at 09:00

    clock.now = NOW + timedelta(minutes=6)
    assert f"as of Thu 05 Mar 2026 {counted_at}" in as_staff.get("/adherence").text
    deadline = time.monotonic() + 30
    while f"{counted_at}</span>" in (html := as_staff.get("/adherence").text):
        assert time.monotonic() < deadline, "the figures were not counted again"
        time.sleep(0.1)
    assert "as of Thu 05 Mar 2026 " + clock.now.astimezone(zone).strftime("%H:%M") in html
    assert "3 intervals)" in html


def test_figures_hours_old_are_shown_with_their_time_while_counted_again(
    as_staff: TestClient, clinic: Clinic, clock: Clock
) -> None:
    zone = clinic.settings.clinic.zone
    history(clinic)
    counted_at = NOW.astimezone(zone).strftime("%a %d %b %Y %H:%M")
    assert f"as of {counted_at}" in as_staff.get("/adherence").text

    clock.now = NOW + timedelta(hours=3)  # a morning without a view
    assert f"as of {counted_at}" in as_staff.get("/adherence").text  # at once, not recounted
    recounted = clock.now.astimezone(zone).strftime("%a %d %b %Y %H:%M")
    deadline = time.monotonic() + 30
    while f"as of {recounted}" not in as_staff.get("/adherence").text:
        assert time.monotonic() < deadline, "the figures were not counted again"
        time.sleep(0.1)
