"""A slow provider: 300 SMS due at once, Twilio taking 3.5 s over every one.

Two workers (prefork, two children each) and two beats share one PostgreSQL store and a
Redis of the test's own; the lease (300 s) and Twilio's client timeout (10 s) are the
defaults. Every SMS must reach Twilio exactly once, and every row must end `sent`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.chaos.service import (
    OwnRedis,
    Processes,
    Service,
    chaos_env,
    patients,
    phone,
    reminders_due,
    retried,
    sms_tally,
    statuses,
    wait_until,
)
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio, RandomFaults

PATIENTS = 300
LATENCY = 3.5
# Enough for a send path whose calls overlap (300 x 3.5 s over 4 processes is 17 s at 16
# in flight each); one send at a time per task needs 300 x 3.5 s / 4 = 263 s at the very
# least. Raise it (REMINDERS_TEST_CHAOS_SLOW_DEADLINE=1500) to watch the lease run out.
DEADLINE = float(os.environ.get("REMINDERS_TEST_CHAOS_SLOW_DEADLINE", "100"))
# Once all are in: more beat passes, and time for any second copy still in flight to land.
LINGER = 2 * LATENCY + 2


@pytest.mark.chaos
def test_a_slow_provider_gets_every_sms_exactly_once(
    chaos_database: str,
    own_redis: OwnRedis,
    chaos_twilio: FakeTwilio,
    chaos_smtp: FakeSMTP,
    processes: Processes,
    tmp_path: Path,
) -> None:
    env = chaos_env(chaos_database, own_redis.url, chaos_twilio, chaos_smtp, tmp_path)
    service = Service(env, tmp_path / "service", processes)
    service.import_patients(patients(0, PATIENTS, email=False), "schedule")
    chaos_twilio.inject(RandomFaults(latency=LATENCY))
    expected = {phone(i) for i in range(PATIENTS)}

    started = time.monotonic()
    service.start_worker("w1")
    service.start_worker("w2")
    service.start_beat("beat1")
    service.start_beat("beat2")
    try:
        everything = wait_until(
            lambda: expected <= {sms.to for sms in chaos_twilio.messages}, DEADLINE, step=0.5
        )
        seen_after = time.monotonic() - started
        if everything:
            time.sleep(LINGER)
    finally:
        service.stop()

    tally = sms_tally(chaos_twilio, expected)
    rows = [r for r in reminders_due(service.messages()) if r["channel"] == "sms"]
    by_status = statuses(rows, "sms")
    print(
        f"\n[chaos slow provider] {PATIENTS} SMS due, Twilio {LATENCY} s per create, "
        f"deadline {DEADLINE:g} s; {'all' if everything else 'not all'} seen after "
        f"{seen_after:.0f} s\n"
        f"  sms: {tally.line()}\n"
        f"  rows: {dict(sorted(by_status.items()))}; unknown {by_status['unknown']}; "
        f"retried {dict(retried(rows))}; Twilio requests {chaos_twilio.requests}"
    )
    assert tally.duplicates == 0, f"{tally.duplicates} SMS accepted twice or more"
    assert len(tally.lost) == 0, f"{len(tally.lost)} SMS never reached Twilio by the deadline"
    assert by_status == {"sent": PATIENTS}, service.logs()
