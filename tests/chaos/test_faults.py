"""Faults everywhere at once, then the reconciler: every reminder reaches its provider once.

Twilio answers 10% 429 and 10% 500 and takes 1% past the client's timeout after accepting
them; SMTP drops 5% of connections; a pool child and a worker's main process are killed
with SIGKILL (the main one restarted, as a supervisor would); the test's own Redis is
restarted; one send task is published twice. Reminders arrive in three imports spread
over the storm. Then the processes stop and `reminders tick` runs as if half an hour, and
then an hour, had passed, to settle what was left unknown or stuck.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.chaos.service import (
    OwnRedis,
    Processes,
    Service,
    chaos_env,
    email_address,
    email_tally,
    patients,
    phone,
    reminders_due,
    retried,
    sms_tally,
    statuses,
    unknown_rows,
    wait_until,
)
from tests.fakes.smtp import FakeSMTP, RandomDrops
from tests.fakes.twilio_api import FakeTwilio, RandomFaults

WAVES, PER_WAVE, WAVE_GAP = 3, 40, 10.0
TWILIO_TIMEOUT = 2.0
# The storm: chaos events fall at random moments in this window (seconds after start).
STORM = (3.0, 30.0)
# After the storm, stop waiting once nothing new has arrived for this long.
QUIET, DEADLINE = 15.0, 90.0
SETTLE_AFTER = (timedelta(minutes=30), timedelta(minutes=45), timedelta(minutes=60))


def twilio_faults(seed: int) -> RandomFaults:
    return RandomFaults(
        rate_limited=0.10,
        server_error=0.10,
        slow=0.01,
        slow_seconds=TWILIO_TIMEOUT + 1.5,
        # A little latency keeps sends in flight long enough for a kill to land on one.
        latency=0.2,
        seed=seed,
    )


def smtp_drops(seed: int) -> RandomDrops:
    # 5% of connections: before the greeting, at MAIL FROM, or after the message was kept.
    return RandomDrops(connect=0.02, mail=0.01, data=0.02, seed=seed)


@pytest.mark.chaos
def test_under_faults_and_kills_every_reminder_reaches_its_provider_once(
    chaos_database: str,
    own_redis: OwnRedis,
    chaos_twilio: FakeTwilio,
    chaos_smtp: FakeSMTP,
    processes: Processes,
    tmp_path: Path,
) -> None:
    seed = int(os.environ.get("REMINDERS_TEST_CHAOS_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    env = chaos_env(
        chaos_database,
        own_redis.url,
        chaos_twilio,
        chaos_smtp,
        tmp_path,
        twilio_timeout=str(TWILIO_TIMEOUT),
        smtp_timeout="5",
        batch_size="10",
        # Retries come back within seconds, and a run of bad luck does not end in `failed`.
        retry_base_seconds="1",
        max_attempts="10",
    )
    service = Service(env, tmp_path / "service", processes)
    everyone = range(WAVES * PER_WAVE)
    sms_due, email_due = {phone(i) for i in everyone}, {email_address(i) for i in everyone}
    chaos_twilio.inject(twilio_faults(seed))
    chaos_smtp.drop_randomly(smtp_drops(seed))

    service.import_patients(patients(0, PER_WAVE), "wave-0")
    started = time.monotonic()
    for name in ("w1", "w2"):
        service.start_worker(name)
    service.start_beat("beat1")
    service.start_beat("beat2")
    try:
        ports = [urlsplit(chaos_twilio.url).port or 0, chaos_smtp.port]
        events = storm(service, own_redis, rng, ports)
        run_events(events, started)
        wait_for_quiet(lambda: len(chaos_twilio.messages) + len(chaos_smtp.messages), started)
    finally:
        service.stop()

    chaos_twilio.inject(None)
    chaos_smtp.drop_randomly(None)
    now = datetime.now(UTC)
    settled = [service.tick(now + after) for after in SETTLE_AFTER]

    sms, mail = sms_tally(chaos_twilio, sms_due), email_tally(chaos_smtp, email_due)
    rows = reminders_due(service.messages())
    explained, unexplained = unknown_rows(rows, {"sms": sms, "email": mail})
    print(
        f"\n[chaos faults] seed {seed} (REMINDERS_TEST_CHAOS_SEED to replay); "
        f"{len(everyone)} patients, one SMS and one email each\n"
        f"  injected: twilio {chaos_twilio.injected}, smtp drops {chaos_smtp.dropped}, "
        f"{dict(service.chaos)}, redis restarts {own_redis.restarts}\n"
        f"  settle: " + " | ".join(settled) + "\n"
        f"  sms:   {sms.line()}\n"
        f"  email: {mail.line()}\n"
        f"  rows: sms {dict(statuses(rows, 'sms'))}, email {dict(statuses(rows, 'email'))}; "
        f"retried {dict(retried(rows))}\n"
        f"  unknown left: {len(explained) + len(unexplained)} "
        f"({len(explained)} explained: the provider has it once; {len(unexplained)} not)"
    )
    assert sms.duplicates == 0, "an SMS accepted twice or more"
    # An unknown email goes again once with its Message-ID (docs/guarantees.md): a repeat
    # with the same Message-ID is that documented retry; a second message never is.
    assert mail.new_id_repeats == 0, "an email sent twice as two messages"
    # Each such repeat is a second attempt of one row (after a drop past DATA, or a kill
    # mid-send): never more repeats than emails attempted again.
    assert mail.same_id_repeats <= retried(rows)["email"], "repeats beyond the retries"
    assert (len(sms.lost), len(mail.lost)) == (0, 0), "never reached the provider"
    assert unexplained == [], "left unknown, and not at the provider"
    stuck = [(r["id"], r["status"], r["reason"]) for r in rows if r["status"] != "sent"]
    assert [s for s in stuck if s[1] != "unknown"] == [], "not settled"


Event = tuple[float, str, Callable[[], None]]


def storm(
    service: Service, redis_server: OwnRedis, rng: random.Random, provider_ports: list[int]
) -> list[Event]:
    """The chaos and the later imports, each at its moment (seconds after the start)."""

    def at() -> float:
        return rng.uniform(*STORM)

    def kill_child() -> None:
        service.kill_pool_child(rng, provider_ports)

    def kill_main() -> None:
        service.kill_main(rng.choice(sorted(service.workers)))

    def publish() -> None:
        ids = in_flight(service.messages(), rng)
        if ids:
            service.publish_twice(ids)

    events: list[Event] = [
        (at(), "kill a pool child", kill_child),
        (at(), "kill a pool child", kill_child),
        (at(), "kill a worker's main process", kill_main),
        (at(), "restart Redis", lambda: redis_server.restart(down_seconds=2)),
        (at(), "publish a send task twice", publish),
    ]
    for wave in range(1, WAVES):
        rows = patients(wave * PER_WAVE, PER_WAVE)
        events.append((wave * WAVE_GAP, f"import wave {wave}", _importer(service, rows, wave)))
    return sorted(events, key=lambda event: event[0])


def _importer(service: Service, rows: list[dict[str, Any]], wave: int) -> Callable[[], None]:
    return lambda: service.import_patients(rows, f"wave-{wave}")


def in_flight(records: list[dict[str, Any]], rng: random.Random) -> list[int]:
    """Up to ten ids, those still queued or sending first, else some already sent."""
    busy = [r["id"] for r in records if r["status"] in ("queued", "sending")]
    done = [r["id"] for r in records if r["status"] == "sent"]
    return sorted(busy[:10] or rng.sample(done, min(10, len(done))))


def run_events(events: list[Event], started: float) -> None:
    for moment, what, action in events:
        time.sleep(max(0.0, started + moment - time.monotonic()))
        print(f"[chaos faults] t={time.monotonic() - started:5.1f} s: {what}")
        action()


def wait_for_quiet(arrivals: Callable[[], int], started: float) -> None:
    """Until nothing new reaches the providers for QUIET seconds, or the DEADLINE."""
    last_count, last_change = arrivals(), time.monotonic()

    def quiet() -> bool:
        nonlocal last_count, last_change
        count = arrivals()
        if count != last_count:
            last_count, last_change = count, time.monotonic()
        return time.monotonic() - last_change >= QUIET

    wait_until(quiet, max(0.0, started + DEADLINE - time.monotonic()), step=0.5)
