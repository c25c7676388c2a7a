"""/healthz checks the real database and broker; /metrics speaks Prometheus and names no one."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from reminders.config import Settings
from reminders.ops import heartbeat
from reminders.web.app import create_app
from tests.harness import Clinic, local
from tests.web.conftest import Clock

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z]+="[^"\\]*",?)+\})? [0-9.e+-]+$')
PERSONAL = ["Avery", "Nguyen", "Émilie", "Tremblay", "4035550101", "4035550102", "example.com"]


@pytest.fixture
def broker_folder(web_settings: Settings) -> None:
    """The embedded broker's folder, as the worker makes it on start."""
    (web_settings.state_dir / "broker").mkdir(parents=True)


@pytest.fixture
def alive(web_settings: Settings, clock: Clock) -> None:
    """A worker's timer and a dispatch pass have just written their heartbeats."""
    heartbeat.record(web_settings, "worker:celery@host-a", clock.now)
    heartbeat.record(web_settings, heartbeat.BEAT, clock.now)


@contextmanager
def console(settings: Settings, clock: Clock) -> Iterator[TestClient]:
    with TestClient(create_app(settings, clock=clock)) as client:
        yield client


# Health


def test_health_is_ok_with_the_database_the_embedded_broker_a_worker_and_beat(
    client: TestClient, broker_folder: None, alive: None
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "database": "ok",
        "broker": "ok",
        "worker": "ok",
        "beat": "ok",
    }


def test_health_fails_when_no_worker_was_ever_seen(
    client: TestClient, broker_folder: None, web_settings: Settings, clock: Clock
) -> None:
    heartbeat.record(web_settings, heartbeat.BEAT, clock.now)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["worker"] == "no worker has been seen yet"
    assert response.json()["beat"] == "ok"


def test_health_fails_when_the_workers_heartbeat_is_old(
    client: TestClient, broker_folder: None, alive: None, clock: Clock
) -> None:
    clock.now += timedelta(minutes=5)

    health = client.get("/healthz").json()

    assert health["status"] == "failing"
    assert health["worker"] == "no worker seen for 300 s (limit 60 s)"


def test_health_fails_when_beat_stopped_while_the_worker_lives_on(
    client: TestClient, broker_folder: None, alive: None, web_settings: Settings, clock: Clock
) -> None:
    clock.now += timedelta(minutes=10)
    heartbeat.record(web_settings, "worker:celery@host-a", clock.now)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["worker"] == "ok"
    assert response.json()["beat"] == "no dispatch pass for 600 s (limit 120 s): beat stopped?"


def test_health_fails_until_the_worker_has_made_the_embedded_brokers_folder(
    client: TestClient,
) -> None:
    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"] == "ok"
    assert "embedded broker's folder" in response.json()["broker"]


def test_health_is_ok_with_redis_as_the_broker(
    web_settings: Settings, clock: Clock, redis_url: str, alive: None
) -> None:
    with_redis = web_settings.model_copy(update={"broker_url": redis_url})

    with console(with_redis, clock) as client:
        response = client.get("/healthz")

    assert response.status_code == 200
    assert response.json()["broker"] == "ok"


def test_health_names_an_unreachable_broker_without_its_password(
    web_settings: Settings, clock: Clock
) -> None:
    closed = web_settings.model_copy(update={"broker_url": "redis://:s3cret-pw@127.0.0.1:1/0"})

    with console(closed, clock) as client:
        response = client.get("/healthz")

    assert response.status_code == 503
    health = response.json()
    assert (health["status"], health["database"]) == ("failing", "ok")
    assert health["broker"].startswith("unreachable: ConnectionError")
    assert "s3cret" not in response.text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_health_names_an_unreachable_database_without_its_password(
    web_settings: Settings, clock: Clock, broker_folder: None
) -> None:
    url = "postgresql+psycopg://clinic:s3cret-pw@127.0.0.1:1/reminders?connect_timeout=2"
    down = web_settings.model_copy(update={"database_url": url})

    with console(down, clock) as client:
        response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["database"].startswith("unreachable: OperationalError")
    assert response.json()["broker"] == "ok"
    assert "s3cret" not in response.text


# Metrics


def samples(text: str) -> dict[str, float]:
    """Every sample line as {'name{labels}': value}; each line must be well formed."""
    found = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        assert SAMPLE.match(line), line
        key, value = line.rsplit(" ", 1)
        found[key] = float(value)
    return found


@pytest.fixture
def after_a_tick(clinic: Clinic, clock: Clock) -> None:
    """The email reminders of S1-1 and S2-1 have gone out; the SMS are still planned."""
    clock.now = local("2026-03-08 10:05")
    clinic.tick(clock.now)


def test_metrics_count_messages_by_channel_kind_and_status(
    client: TestClient, after_a_tick: None
) -> None:
    response = client.get("/metrics")

    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    found = samples(response.text)
    kind = 'kind="session_reminder"'
    assert found[f'reminders_messages{{channel="email",{kind},status="sent"}}'] == 2
    assert found[f'reminders_messages{{channel="sms",{kind},status="planned"}}'] == 3
    assert "# TYPE reminders_messages gauge" in response.text


def test_metrics_show_provider_latency_by_channel(client: TestClient, after_a_tick: None) -> None:
    found = samples(client.get("/metrics").text)

    email = 'channel="email"'
    assert found[f'reminders_provider_latency_seconds_bucket{{{email},le="+Inf"}}'] == 2
    assert found[f"reminders_provider_latency_seconds_count{{{email}}}"] == 2
    assert found['reminders_provider_latency_seconds_count{channel="sms"}'] == 0
    prefix = f"reminders_provider_latency_seconds_bucket{{{email}"
    buckets = [value for key, value in found.items() if key.startswith(prefix)]
    assert len(buckets) == 9 and buckets == sorted(buckets)  # cumulative, up to +Inf


def test_metrics_count_due_unsent_messages_and_the_oldest_lag(
    client: TestClient, clock: Clock
) -> None:
    clock.now = local("2026-03-08 11:00")  # nothing dispatched since the email reminders fell due

    found = samples(client.get("/metrics").text)

    assert found["reminders_due_unsent"] == 2
    # S1-1's email fell due on 7 March at 14:00 MST; it is now 11:00 MDT on the 8th.
    assert found["reminders_oldest_due_lag_seconds"] == 20 * 3600


def test_metrics_are_zero_when_nothing_is_due(client: TestClient) -> None:
    found = samples(client.get("/metrics").text)

    assert found["reminders_due_unsent"] == 0
    assert found["reminders_oldest_due_lag_seconds"] == 0


def test_metrics_never_carry_names_phone_numbers_or_emails(
    client: TestClient, after_a_tick: None
) -> None:
    text = client.get("/metrics").text

    assert not [word for word in PERSONAL if word in text]


def test_health_and_metrics_need_no_token(
    client: TestClient, broker_folder: None, alive: None
) -> None:
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200


def test_metrics_report_the_heartbeats_unknown_outcomes_and_the_failure_ratio(
    client: TestClient, after_a_tick: None, web_settings: Settings, clock: Clock
) -> None:
    heartbeat.record(web_settings, heartbeat.BEAT, clock.now - timedelta(seconds=30))
    heartbeat.record(web_settings, "worker:celery@host-a", clock.now - timedelta(seconds=10))
    heartbeat.record(web_settings, "worker:celery@host-b", clock.now - timedelta(hours=1))

    found = samples(client.get("/metrics").text)

    assert found["reminders_beat_last_pass_age_seconds"] == 30
    assert found["reminders_worker_last_seen_age_seconds"] == 10
    assert found["reminders_workers_seen"] == 1
    assert found["reminders_unknown_outcomes"] == 0
    assert found["reminders_permanent_failure_ratio"] == 0


def test_metrics_say_minus_one_for_parts_never_seen(client: TestClient) -> None:
    found = samples(client.get("/metrics").text)

    assert found["reminders_beat_last_pass_age_seconds"] == -1
    assert found["reminders_worker_last_seen_age_seconds"] == -1
    assert found["reminders_workers_seen"] == 0
