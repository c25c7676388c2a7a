"""Two worker "hosts" (processes with their own hostnames and state folders) and one beat,
on PostgreSQL and Redis: every reminder goes out once, counted at the loopback Twilio and
SMTP servers, and both hosts do part of the work."""

from __future__ import annotations

import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import write_csv
from tests.scenarios.test_end_to_end import cli, patients_due_tomorrow, start, stop, wait_for
from tests.sending.test_exactly_once import provider_env

ROOT = Path(__file__).resolve().parents[2]
PATIENTS = 40
HOSTS = ("host-a", "host-b")
pytestmark = pytest.mark.e2e
# One line per batch from the worker (reminders.worker.batch_log): "sent 2 SMS, 2 emails".
_SENT = re.compile(r"\] sent (?:(\d+) SMS)?(?:, )?(?:(\d+) emails?)?")


@pytest.fixture
def broker(redis_url: str) -> Iterator[str]:
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    yield redis_url
    client.flushdb()


def sent_by(log: str) -> Counter[str]:
    counts: Counter[str] = Counter()
    for match in _SENT.finditer(log):
        counts["sms"] += int(match.group(1) or 0)
        counts["email"] += int(match.group(2) or 0)
    return counts


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
def test_two_worker_hosts_and_one_beat_send_each_reminder_once_and_share_the_work(
    database_url: str,
    broker: str,
    twilio_api: FakeTwilio,
    smtp_server: FakeSMTP,
    tmp_path: Path,
) -> None:
    env = {
        **os.environ,
        **provider_env(database_url, twilio_api, smtp_server, tmp_path),
        "REMINDERS_BROKER_URL": broker,
        "REMINDERS_DISPATCH_INTERVAL": "1",
        # Small batches, so that there are tasks enough for both hosts to take some.
        "REMINDERS_BATCH_SIZE": "4",
        "REMINDERS_QUIET_HOURS__START": "00:00",
        "REMINDERS_QUIET_HOURS__END": "00:00",
    }
    rows = patients_due_tomorrow(PATIENTS)
    imported = cli(env, ROOT, "import", str(write_csv(tmp_path / "schedule.csv", rows)))
    assert imported.returncode == 0, imported.stderr

    celery = [sys.executable, "-m", "celery", "-A", "worker"]
    processes = {
        host: start(
            [*celery, "worker", f"--hostname={host}@%h", "--concurrency=2", "--loglevel=INFO"],
            env | {"REMINDERS_STATE_DIR": str(tmp_path / host)},
            ROOT,
            tmp_path / f"{host}.log",
        )
        for host in HOSTS
    }
    time.sleep(3)  # both hosts are consuming before beat makes the first pass
    processes["beat"] = start(
        [*celery, "beat", "--loglevel=INFO"],
        env | {"REMINDERS_STATE_DIR": str(tmp_path / "beat")},
        ROOT,
        tmp_path / "beat.log",
    )
    try:
        wait_for(
            lambda: len(twilio_api.messages) >= PATIENTS and len(smtp_server.messages) >= PATIENTS,
            120,
            f"{PATIENTS} SMS and {PATIENTS} emails",
        )
        time.sleep(5)  # more beat passes: nothing may go out twice
    finally:
        for process in processes.values():
            stop(process)

    logs = {name: (tmp_path / f"{name}.log").read_text() for name in processes}
    per_host = {host: sent_by(logs[host]) for host in HOSTS}
    sms = Counter(sms.to for sms in twilio_api.messages)
    emails = Counter(str(message["To"]) for message in smtp_server.messages)
    print(
        f"\nsent at the loopback Twilio: {len(twilio_api.messages)} SMS to {len(sms)} numbers; "
        f"at the loopback SMTP: {len(smtp_server.messages)} emails to {len(emails)} addresses"
    )
    for host in HOSTS:
        print(f"{host}: {per_host[host]['sms']} SMS, {per_host[host]['email']} emails")
    assert sorted(sms) == [f"+1403555{i:04d}" for i in range(PATIENTS)]
    assert sorted(emails) == sorted(f"pat{i}@example.com" for i in range(PATIENTS))
    assert set(sms.values()) == {1} and set(emails.values()) == {1}, "a reminder went twice"
    assert all(sum(per_host[host].values()) > 0 for host in HOSTS), logs
    assert sum(sum(counts.values()) for counts in per_host.values()) == 2 * PATIENTS
