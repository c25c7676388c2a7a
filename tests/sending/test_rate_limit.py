"""A sender's rate holds across threads, processes and hosts: no second ever sees more."""

from __future__ import annotations

import itertools
import math
import os
import random
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from multiprocessing import get_context
from pathlib import Path
from typing import cast

import pytest
import redis

from reminders.config import ConfigError, Settings
from reminders.sending.rate_limit import (
    ARRIVAL_MARGIN_US,
    SECOND_US,
    Decision,
    Pace,
    RateLimitUnavailable,
    SenderRate,
    SenderState,
    sender_of,
    sender_rate,
)
from reminders.wording.sms_text import segments
from tests.fakes.smtp import FakeSMTP
from tests.fakes.twilio_api import FakeTwilio
from tests.harness import local, row
from tests.sending.test_exactly_once import ROOT, provider_clinic

HAMMER_SECONDS = 3.0
# SMS segments: half the threads send short messages only, the others some long ones too.
SHORT, MIXED = (1,), (1, 1, 3, 2)

Admission = tuple[int, int]  # (limiter clock in microseconds, units)
# The span the limit holds over at 1/s and above: 1 s and the margin for arrival jitter.
SPAN_US = SECOND_US + ARRIVAL_MARGIN_US


def busiest_second(admissions: list[Admission], span_us: int = SECOND_US) -> int:
    """The most units in any half-open window of `span_us` (1 s): each one ending at an
    admission."""
    ordered = sorted(admissions)
    most = units = first = 0
    for clock, cost in ordered:
        units += cost
        while ordered[first][0] <= clock - span_us:
            units -= ordered[first][1]
            first += 1
        most = max(most, units)
    return most


def steady_stream(rate: float, cost: int, seconds: int) -> float:
    """The share of `rate` that one queue of `cost`-unit messages reaches on a simulated
    clock: each message asks as soon as the last one's slot came, or when told to.

    Counted over `seconds` after a 5 s warm-up, so the start does not count.
    """
    pace, state = Pace.of(rate), SenderState()
    now, start, end, units = 0, 5 * SECOND_US, (5 + seconds) * SECOND_US, 0
    while now < end:
        delays, wait = pace.book(state, now, [cost])
        if delays and now + delays[0] >= start:
            units += cost
        now += delays[0] if delays else wait
    return units / (rate * seconds)


def limiter(broker_url: str | None, rate: float, sender: str = "") -> SenderRate:
    settings = Settings(
        broker_url=broker_url,
        sms_rate_per_second=rate,
        twilio_messaging_service_sid=sender or f"MG{uuid.uuid4().hex}",
    )
    rate_limit = sender_rate(settings, "sms")
    assert rate_limit is not None
    return rate_limit


def hammer(
    rate_limit: SenderRate, costs: tuple[int, ...], start_at: float, seconds: float
) -> tuple[list[Admission], int]:
    """One thread sending as fast as it is let: `acquire()`'s loop, noting each admission.

    The admission's time is the limiter's own clock: a clock read after `acquire()` returns
    would add the thread's wake-up delay, which no limiter controls.
    """
    time.sleep(max(0.0, start_at - time.time()))
    admissions: list[Admission] = []
    refusals = 0
    deadline = start_at + seconds
    while (now := time.time()) < deadline:
        cost = costs[len(admissions) % len(costs)]
        decision = rate_limit.try_acquire(cost)
        if decision.taken:
            admissions.append((decision.clock_us, cost))
        else:
            refusals += 1
            time.sleep(min(decision.wait, deadline - now))
    return admissions, refusals


def hammer_with_threads(
    broker_url: str | None, rate: float, sender: str, threads: int, start_at: float
) -> tuple[list[Admission], int]:
    """One worker process: `threads` sending threads on one sender (runs in a child process)."""
    rate_limit = limiter(broker_url, rate, sender)
    results: list[tuple[list[Admission], int]] = []

    def send(costs: tuple[int, ...]) -> None:
        results.append(hammer(rate_limit, costs, start_at, HAMMER_SECONDS))

    workers = [
        threading.Thread(target=send, args=(SHORT if k % 2 == 0 else MIXED,))
        for k in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return [a for admissions, _ in results for a in admissions], sum(r for _, r in results)


def acquire_then_read_the_clock(redis_url: str, sender: str) -> tuple[Decision, int]:
    """One sender, here or in another process: its first answer, and the time it may send."""
    rate_limit = limiter(redis_url, 20, sender)
    first = rate_limit.try_acquire()
    rate_limit.acquire()
    return first, server_clock_us(redis_url)


def server_clock_us(redis_url: str) -> int:
    seconds, micros = cast(tuple[int, int], redis.Redis.from_url(redis_url).time())
    return seconds * SECOND_US + micros


def ready() -> bool:
    return True


@pytest.fixture(scope="module")
def worker_processes() -> Iterator[ProcessPoolExecutor]:
    """Three other worker processes, started fresh (spawn) once for the module."""
    with ProcessPoolExecutor(max_workers=3, mp_context=get_context("spawn")) as pool:
        for started in [pool.submit(ready) for _ in range(3)]:
            started.result()
        yield pool


@pytest.fixture(params=["redis", "in-process"])
def broker_url(request: pytest.FixtureRequest) -> str | None:
    """Each rule holds on Redis and on the per-process fallback alike."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return url
    return None


@pytest.mark.parametrize(
    ("rate", "interval_us", "limit", "span_us"),
    [
        (0.3, 3_333_334 + ARRIVAL_MARGIN_US, 1, 3_333_334 + ARRIVAL_MARGIN_US),
        (0.5, 2 * SECOND_US + ARRIVAL_MARGIN_US, 1, 2 * SECOND_US + ARRIVAL_MARGIN_US),
        (1, 1_070_000, 1, SPAN_US),
        (2.5, 535_000, 2, SPAN_US),
        (20, 53_500, 20, SPAN_US),
        (100, 10_700, 100, SPAN_US),
    ],
)
def test_a_rate_is_a_whole_number_of_units_per_second_and_a_margin_one_interval_apart(
    rate: float, interval_us: int, limit: int, span_us: int
) -> None:
    assert Pace.of(rate) == Pace(interval_us=interval_us, limit=limit, span_us=span_us)


@pytest.mark.parametrize("rate", [0.5, 1, 2.5, 3, 5, 7.5, 20, 33.3, 100])
def test_the_schedule_never_lets_more_than_the_rate_into_a_second(rate: float) -> None:
    """The algorithm alone, on a simulated clock: many clients booking runs of random costs
    with random leads and horizons, waits, pauses. Counted at the booked slots, over the
    whole span (1 s and the margin), which is stronger than over 1 s."""
    pace = Pace.of(rate)
    dice = random.Random(rate)
    state = SenderState()
    clients = [0] * 32  # the time each client next asks, in microseconds
    queues: list[list[int]] = [[] for _ in clients]  # the costs each still has to send
    admissions: list[Admission] = []
    refusals = 0
    while min(clients) < 60 * SECOND_US:
        asker = min(range(len(clients)), key=clients.__getitem__)
        now, costs = clients[asker], queues[asker]
        if dice.random() < 0.002:
            state.pause_until_us = max(state.pause_until_us, now + dice.randrange(3 * SECOND_US))
        if not costs:
            choices = [1, 1, 1, 2, 3, pace.limit + 1]
            costs += [dice.choice(choices) for _ in range(dice.randint(1, 8))]
        lead = dice.choice([0, 0, 50_000])
        horizon = lead + dice.choice([0, 0, 10_000, 250_000, SECOND_US])
        delays, wait = pace.book(state, now, costs, lead_us=lead, horizon_us=horizon)
        admissions += [(now + delay, cost) for delay, cost in zip(delays, costs, strict=False)]
        del costs[: len(delays)]
        if wait > 0:
            refusals += 1
            clients[asker] = now + wait + dice.choice([0, 0, 1, 1000])
            continue
        clients[asker] = now + dice.choice([0, 0, 0, 10_000, SECOND_US, 3 * SECOND_US])

    assert refusals > len(admissions) / 10  # the clients wanted more than the rate
    fitting = [a for a in admissions if a[1] <= pace.limit]
    assert busiest_second(fitting, span_us=pace.span_us) <= pace.limit
    assert busiest_second(fitting) <= max(math.floor(rate), 1)
    too_long = [a for a in admissions if a[1] > pace.limit]  # fit no second: each goes alone
    assert too_long
    for at, _ in too_long:
        assert len([a for a in admissions if abs(a[0] - at) < pace.span_us]) == 1
    if rate < 1:  # and no two messages within 1/rate seconds
        slots = sorted(at for at, _ in admissions)
        assert min(b - a for a, b in itertools.pairwise(slots)) >= SECOND_US / rate


@pytest.mark.parametrize(
    ("rate", "cost", "share"),
    [
        (1, 1, 0.93),
        (20, 1, 0.93),
        (100, 1, 0.93),
        (100, 2, 0.93),  # the room in each interval: 2-segment SMS go one slot after another
        (100, 3, 0.89),
        (20, 2, 0.71),  # an interval (53.5 ms) is longer than the room: each waits a little
        (5, 2, 0.64),
        (1, 2, 0.93),  # does not fit a second: goes alone, paced as 2 units
    ],
)
def test_a_steady_stream_reaches_its_share_of_the_rate_and_never_more(
    rate: int, cost: int, share: float
) -> None:
    reached = steady_stream(rate, cost, seconds=60)

    assert share <= reached <= 1


@pytest.mark.parametrize("rate", [5, 20])
def test_it_never_admits_more_than_the_rate_in_any_second_across_processes_and_threads(
    redis_url: str, rate: int, worker_processes: ProcessPoolExecutor
) -> None:
    sender = f"MG{uuid.uuid4().hex}"
    start_at = time.time() + 0.2
    runs = [
        worker_processes.submit(hammer_with_threads, redis_url, rate, sender, 3, start_at)
        for _ in range(3)
    ]
    results = [run.result() for run in runs]
    admissions = [a for run, _ in results for a in run]

    assert all(refusals > 0 for _, refusals in results)  # every process had to wait
    assert busiest_second(admissions) <= rate


def test_the_in_process_fallback_never_admits_more_than_the_rate_in_any_second() -> None:
    admissions, refusals = hammer_with_threads(None, 20, f"MG{uuid.uuid4().hex}", 6, time.time())

    assert refusals > 0
    assert busiest_second(admissions) <= 20


def test_the_sustained_rate_never_exceeds_the_configured_one(redis_url: str) -> None:
    # How close it comes is a figure for bench/latency.py, not a test on a busy machine.
    rate_limit = limiter(redis_url, 20)
    sent: list[float] = []
    deadline = time.monotonic() + HAMMER_SECONDS

    def send_until_the_deadline() -> None:
        while time.monotonic() < deadline:
            rate_limit.acquire()
            sent.append(time.monotonic())

    workers = [threading.Thread(target=send_until_the_deadline) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    achieved = (len(sent) - 1) / (max(sent) - min(sent))
    assert len(sent) > 1 and achieved <= 20 * 1.05


def test_a_three_segment_sms_takes_three_units(broker_url: str | None) -> None:
    pace = Pace.of(5)  # a unit every 214 ms, and one may come 20 ms early
    after_one = limiter(broker_url, 5).book([1, 1], horizon=10)
    after_three = limiter(broker_url, 5).book([3, 1], horizon=10)
    behind_one = limiter(broker_url, 5)
    short = behind_one.try_acquire(1)
    long_sms = behind_one.try_acquire(3)  # waits until its 3 units fit behind the short one

    assert after_one.delays_us == (0, pace.interval_us - pace.tolerance_us(1))
    assert after_three.delays_us == (0, 3 * pace.interval_us - pace.tolerance_us(1))
    assert short.taken and not long_sms.taken
    assert long_sms.clock_us + long_sms.wait_us == (
        short.clock_us + pace.interval_us - pace.tolerance_us(3)
    )


def test_a_message_longer_than_a_seconds_budget_goes_alone_and_pays_its_whole_cost(
    broker_url: str | None,
) -> None:
    pace = Pace.of(2)  # 2 units in any 1.05 s, a unit every 535 ms
    after_a_short_one = limiter(broker_url, 2)
    short = after_a_short_one.try_acquire(1)
    waiting = after_a_short_one.try_acquire(5)
    fresh = limiter(broker_url, 2)
    long_sms = fresh.try_acquire(5)
    next_sms = fresh.try_acquire(1)
    next_long = fresh.try_acquire(5)

    assert waiting.clock_us + waiting.wait_us == short.clock_us + SPAN_US
    assert long_sms.taken
    assert next_sms.clock_us + next_sms.wait_us == (
        long_sms.clock_us + 5 * pace.interval_us - pace.tolerance_us(1)
    )
    assert next_long.clock_us + next_long.wait_us == (
        long_sms.clock_us + 5 * pace.interval_us - pace.tolerance_us(5)
    )
    assert pace.tolerance_us(5) == pace.interval_us - SPAN_US  # nothing in the span before


def test_a_rate_below_one_a_second_sends_one_unit_per_window_of_its_inverse(
    broker_url: str | None,
) -> None:
    rate_limit = limiter(broker_url, 0.5)  # 1 unit in any 2.05 s
    two_units = limiter(broker_url, 0.5)

    first = rate_limit.try_acquire(1)
    second = rate_limit.try_acquire(1)
    long_sms = two_units.try_acquire(2)
    after_it = two_units.try_acquire(1)

    assert first.taken and long_sms.taken
    assert second.clock_us + second.wait_us == first.clock_us + 2 * SECOND_US + ARRIVAL_MARGIN_US
    assert after_it.clock_us + after_it.wait_us == long_sms.clock_us + 2 * (
        2 * SECOND_US + ARRIVAL_MARGIN_US
    )


def test_two_senders_do_not_share_a_budget(broker_url: str | None) -> None:
    first, second = limiter(broker_url, 5), limiter(broker_url, 5)

    assert first.try_acquire(5).taken
    assert second.try_acquire(5).taken
    assert not first.try_acquire(1).taken


def test_two_limiters_of_one_sender_share_its_budget(broker_url: str | None) -> None:
    sender = f"MG{uuid.uuid4().hex}"

    assert limiter(broker_url, 5, sender).try_acquire(5).taken
    assert not limiter(broker_url, 5, sender).try_acquire(1).taken


def test_slow_down_blocks_every_process_and_thread_of_that_sender(
    redis_url: str, worker_processes: ProcessPoolExecutor
) -> None:
    sender = f"MG{uuid.uuid4().hex}"
    told_at = server_clock_us(redis_url)
    limiter(redis_url, 20, sender).slow_down(1.5)
    other_process = worker_processes.submit(acquire_then_read_the_clock, redis_url, sender)
    here: list[tuple[Decision, int]] = []
    threads = [
        threading.Thread(target=lambda: here.append(acquire_then_read_the_clock(redis_url, sender)))
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    answers = [other_process.result(), *here]

    for first, sent_at in answers:
        assert not first.taken
        assert first.clock_us + first.wait_us >= told_at + 1_500_000
        assert sent_at >= told_at + 1_500_000


def test_slow_down_holds_the_in_process_fallback_too() -> None:
    sender = f"MG{uuid.uuid4().hex}"
    limiter(None, 20, sender).slow_down(30)

    decision = limiter(None, 20, sender).try_acquire()

    assert not decision.taken
    assert decision.wait > 29


def test_an_idle_senders_schedule_expires_from_redis_after_its_span_and_pause(
    redis_url: str,
) -> None:
    client = redis.Redis.from_url(redis_url)
    rate_limit = limiter(redis_url, 1)

    rate_limit.try_acquire(3)  # its schedule runs 3 intervals on, and counts a span more
    after_a_long_sms = cast(int, client.pttl(rate_limit.key))
    rate_limit.slow_down(30)
    after_a_pause = cast(int, client.pttl(rate_limit.key))

    ends_ms = (3 * rate_limit.pace.interval_us + SPAN_US) // 1000
    assert ends_ms < after_a_long_sms <= ends_ms + 1000
    assert 29_000 < after_a_pause <= 31_000


def test_an_unreachable_redis_is_a_transient_error_not_a_crash() -> None:
    with socket.socket() as bound_not_listening:  # refuses connections, and nobody takes it
        bound_not_listening.bind(("127.0.0.1", 0))
        port = bound_not_listening.getsockname()[1]
        rate_limit = limiter(f"redis://127.0.0.1:{port}/0", 5)

        with pytest.raises(RateLimitUnavailable):
            rate_limit.acquire()
        with pytest.raises(RateLimitUnavailable):
            rate_limit.slow_down(1)


def test_there_is_no_limiter_when_the_rate_is_zero() -> None:
    assert sender_rate(Settings(), "sms") is None
    assert sender_rate(Settings(), "email") is None


def test_a_broker_that_is_not_redis_cannot_share_a_rate() -> None:
    settings = Settings(broker_url="amqp://guest@localhost//", email_rate_per_second=5)

    with pytest.raises(ConfigError, match="REMINDERS_BROKER_URL"):
        sender_rate(settings, "email")


def test_a_send_costs_at_least_one_unit() -> None:
    with pytest.raises(ValueError):
        limiter(None, 5).try_acquire(0)


@pytest.mark.parametrize(
    ("channel", "given", "sender"),
    [
        ("sms", {"twilio_messaging_service_sid": "MG1", "twilio_from": "+1403"}, "MG1"),
        ("sms", {"twilio_from": "+14035550100"}, "+14035550100"),
        ("sms", {}, "outbox"),
        ("email", {"smtp_username": "u", "email_from": "c@x.ca", "smtp_host": "h"}, "u"),
        ("email", {"email_from": "clinic@example.com", "smtp_host": "h"}, "clinic@example.com"),
        ("email", {"smtp_host": "smtp.example.com"}, "smtp.example.com"),
    ],
)
def test_the_sender_is_the_account_that_spends_the_budget(
    channel: str, given: dict[str, str], sender: str
) -> None:
    assert sender_of(Settings(**given), channel) == sender  # type: ignore[arg-type]


def test_the_key_names_the_channel_and_the_sender() -> None:
    settings = Settings(email_rate_per_second=2, smtp_username="reminders@clinic.ca")
    rate_limit = sender_rate(settings, "email")

    assert rate_limit is not None
    assert rate_limit.key == "reminders:rate:email:reminders@clinic.ca"


class TimedTwilio(FakeTwilio):
    """The loopback Twilio, also noting when (to the microsecond) each message arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrivals: list[float] = []

    def _created(self) -> datetime:
        self.arrivals.append(time.time())  # under the fake's lock, in step with `messages`
        return super()._created()


@pytest.fixture
def timed_twilio() -> Iterator[TimedTwilio]:
    twilio = TimedTwilio()
    twilio.start()
    yield twilio
    twilio.stop()


def test_the_provider_never_sees_more_than_the_rate_in_any_second(
    database_url: str,
    redis_url: str,
    timed_twilio: TimedTwilio,
    smtp_server: FakeSMTP,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three `reminders tick` processes at once, sharing one sender's rate through Redis, in
    small batches so that each sends a share; counted where the calls arrive."""
    rate, count = 10, 45
    monkeypatch.setenv("REMINDERS_BROKER_URL", redis_url)
    monkeypatch.setenv("REMINDERS_SMS_RATE_PER_SECOND", str(rate))
    monkeypatch.setenv("REMINDERS_BATCH_SIZE", "5")
    monkeypatch.setenv("REMINDERS_TWILIO_FROM", f"+1587{random.randrange(10**7):07d}")
    clinic = provider_clinic(database_url, timed_twilio, smtp_server, tmp_path, monkeypatch)
    phones = [f"+1403555{i:04d}" for i in range(count)]
    rows = [
        row(patient_id=f"P{i}", phone=phone, email="", series_id=f"S{i}", session_id=f"S{i}-1")
        for i, phone in enumerate(phones)
    ]
    clinic.import_rows(rows, local("2026-03-01 09:00"))
    command = [sys.executable, "-m", "reminders.cli", "tick", "--now", "2026-03-09T14:00"]
    ticks = [
        subprocess.Popen(command, cwd=ROOT, env=dict(os.environ), stdout=subprocess.PIPE)
        for _ in range(3)
    ]
    outputs = [tick.communicate(timeout=300)[0].decode() for tick in ticks]

    assert [tick.returncode for tick in ticks] == [0, 0, 0]
    assert all(" 0 claimed" not in output for output in outputs), outputs  # all three sent
    assert sorted(sms.to for sms in timed_twilio.messages) == phones
    arrived = [
        (round(at * SECOND_US), segments(sms.body))
        for at, sms in zip(timed_twilio.arrivals, timed_twilio.messages, strict=True)
    ]
    assert sum(units for _, units in arrived) >= 4 * rate  # the limit held them back
    assert busiest_second(arrived) <= rate
