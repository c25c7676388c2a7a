"""A rate per sender (a From number, a Messaging Service, an SMTP account), shared by every worker.

The limiter is GCRA (the generic cell rate algorithm) with booked slots. A sender keeps one
time, its theoretical arrival time `tat`, in integer microseconds on the limiter's clock,
and the end of a pause. Each unit (an SMS segment, an email) pushes `tat` on by one
emission `interval`, so a steady stream goes out evenly, one interval apart, and never as
a crowd: calls that start evenly also arrive evenly, which is what the provider counts.

The numbers of a rate (see `Pace.of`), with `span = 1 s + ARRIVAL_MARGIN_US`:

- `rate >= 1/s`: at most `limit = floor(rate)` units in any `span`; `interval =
  ceil((span + LONG_MESSAGE_ROOM_US) / limit)`, about 93% of an integral rate (100/s: one
  unit every 10.7 ms).
- `rate < 1/s`: one unit per `span = interval = ceil(1 s / rate) + ARRIVAL_MARGIN_US`
  (0.5/s: one unit every 2.05 s). A unit cannot be split.

A request for `n` units at `now` gets the slot `max(now + lead, tat - tolerance(n), pause)`
with `tolerance(n) = (limit - min(n, limit) + 1) * interval - span`: a message of `n` units
waits until they fit behind the ones before it, however those were made up. The room in
`interval` keeps `tolerance` at or above 0 for 1- and 2-segment SMS at 100/s, so a steady
stream of them goes one slot after another; without it a 2-segment stream would wait one
interval more each time, 2/3 of the rate. At low rates an interval is longer than the room:
2-segment SMS at 20/s go at 71% of it, at 5/s 64% (a sliding log reaches 95% and 76% there,
but lets a whole second's budget out at once). The slot is booked, and
`tat = max(tat, slot) + n * interval`, only when it lies within `horizon` of now; the caller
then starts its call at that slot (a few milliseconds ahead, so its own bookkeeping does
not make the call late). Otherwise nothing is booked and the caller is told when to ask
again. A slot booked and not used is lost: slower, never faster.

The promise: no half-open window of `span` on the limiter's clock ever holds more than
`limit` slots' units. Proof: take such a window and, of its requests, the one booked last,
at slot `t` for `n <= limit` units. The others were booked before it; let them hold `P`
units, the first at `s0 > t - span`. Each booking pushed `tat` to at least its slot plus its
units' intervals and `tat` never goes back, so before `t` was booked `tat >= s0 + P *
interval > t - span + P * interval`; and `t` was booked only with `t >= tat - tolerance(n)`,
so `P * interval < (limit - n + 1) * interval`: `P + n <= limit`. A message of more than
`limit` units (a 3-segment SMS on a 1/s long code) fits no second: it goes when nothing went
in the last span, and pays its whole cost afterwards (that SMS at 1/s: nothing else for
3.15 s). The provider queues its extra segments itself (Twilio does).

The margin: the provider counts its seconds when the calls arrive, after the thread's
wake-up, the HTTP client and the network: each call a little late, some later than
others. Arrivals within any provider second left their slots within `1 s + the spread of
those delays`; while the spread stays under the margin, that is within one `span`, so the
provider never sees more than `limit` in a second either.

`slow_down` (a 429 with Retry-After) pauses the sender: no slot is given before the pause
ends (calls already booked go at their slots).

With Redis the state is the hash `reminders:rate:<channel>:<sender>` {tat, pause}, on the
server's clock (`TIME`) so that hosts' clocks do not matter, read and written by one Lua
script per booking of a whole run of messages. With no Redis (`broker_url` unset) the same
algorithm runs under a lock on this process's monotonic clock: it limits the threads of one
process only, not several workers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from reminders.config import ConfigError, Settings

SECOND_US = 1_000_000
# Added to the second the limit is counted over: the spread of the delays between a slot
# and the call's arrival at the provider must not push one more unit into a provider's
# second. 50 ms covers a busy worker; it costs ~5% of the rate.
ARRIVAL_MARGIN_US = 50_000
# Slack in each second's schedule so that multi-segment SMS need not wait for their units
# to fit (see the module's docstring); it costs another ~2% of the rate.
LONG_MESSAGE_ROOM_US = 20_000
# Redis answers within a millisecond: two seconds of silence mean it is down.
SOCKET_TIMEOUT = 2.0
REDIS_SCHEMES = ("redis", "rediss", "unix")
# A sender's key outlives its schedule (and pause) by this much, then expires.
EXPIRY_MARGIN_MS = 1_000

# KEYS[1]: the sender's hash {tat, pause}, microseconds of this server's clock.
# ARGV: 'book', interval_us, limit, span_us, lead_us, horizon_us, expiry_margin_ms, cost...
#     | 'pause', pause_us, expiry_margin_ms, span_us
# Returns {clock_us, wait_us, delay_us...}: a delay (from clock_us to the slot) for each
# cost booked, in order; wait_us is when to ask again for the first not booked (0: all
# were). Mirrors `Pace.book`.
_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
-- The sliding-window log before this limiter kept a sorted set here: start afresh.
if redis.call('TYPE', key).ok == 'zset' then redis.call('DEL', key) end
local state = redis.call('HMGET', key, 'tat', 'pause')
local tat = tonumber(state[1]) or 0
local pause = tonumber(state[2]) or 0
-- '%.0f': Lua would write 16-digit numbers as '%.14g' and lose the microseconds.
local function us(t) return string.format('%.0f', t) end

local function keep(span, margin_ms)
  redis.call('HSET', key, 'tat', us(tat), 'pause', us(pause))
  local horizon = math.max(tat + span, pause) - now
  redis.call('PEXPIRE', key, math.max(math.ceil(horizon / 1000), 0) + margin_ms)
end

if ARGV[1] == 'pause' then
  pause = math.max(pause, now + tonumber(ARGV[2]))
  keep(tonumber(ARGV[4]), tonumber(ARGV[3]))
  return {now, 0}
end

local interval, limit, span = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local lead, horizon = tonumber(ARGV[5]), tonumber(ARGV[6])
local answer, wait = {now, 0}, 0
for i = 8, #ARGV do
  local cost = tonumber(ARGV[i])
  local tolerance = (limit - math.min(cost, limit) + 1) * interval - span
  local slot = math.max(now + lead, tat - tolerance, pause)
  if slot - now > horizon then
    wait = slot - now - horizon
    break
  end
  tat = math.max(tat, slot) + cost * interval
  answer[#answer + 1] = slot - now
end
answer[2] = wait
if #answer > 2 then keep(span, tonumber(ARGV[7])) end
return answer
"""


class RateLimitUnavailable(Exception):
    """The shared limiter did not answer; nothing was taken. Treat the send as transient."""


@dataclass
class SenderState:
    """One sender's schedule and the end of its pause (microseconds of the limiter's clock)."""

    tat_us: int = 0
    pause_until_us: int = 0


@dataclass(frozen=True)
class Booking:
    """One answer of the limiter, on its own clock (Redis server time, or this process's)."""

    clock_us: int
    delays_us: tuple[int, ...]  # from clock_us to each booked unit's slot, in order
    wait_us: int  # when to ask again for the first message not booked (0: all were)


@dataclass(frozen=True)
class Pace:
    """The GCRA numbers of one rate, in integer microseconds (the Lua script mirrors them)."""

    interval_us: int  # one unit's share of the schedule
    limit: int  # the most units any `span_us` may hold
    span_us: int  # 1 s (or 1/rate s below 1/s) + the arrival margin

    @classmethod
    def of(cls, rate: float) -> Pace:
        if not rate > 0:
            raise ValueError(f"a rate must be above 0 per second, not {rate}")
        if rate < 1:
            span = math.ceil(SECOND_US / rate) + ARRIVAL_MARGIN_US
            return cls(interval_us=span, limit=1, span_us=span)
        limit = math.floor(rate)
        span = SECOND_US + ARRIVAL_MARGIN_US
        interval = math.ceil((span + LONG_MESSAGE_ROOM_US) / limit)
        return cls(interval_us=interval, limit=limit, span_us=span)

    def tolerance_us(self, cost: int) -> int:
        """How far before `tat` a request of `cost` units may have its slot (below 0: after)."""
        return (self.limit - min(cost, self.limit) + 1) * self.interval_us - self.span_us

    def book(
        self,
        state: SenderState,
        now_us: int,
        costs: Sequence[int],
        *,
        lead_us: int = 0,
        horizon_us: int = 0,
    ) -> tuple[list[int], int]:
        """Book a slot for each of `costs` in order while it lies within `horizon_us`;
        return the delays (from now) of those booked and when to ask again (0: all were)."""
        delays: list[int] = []
        for cost in costs:
            slot = max(now_us + lead_us, state.tat_us - self.tolerance_us(cost))
            slot = max(slot, state.pause_until_us)
            if slot - now_us > horizon_us:
                return delays, slot - now_us - horizon_us
            state.tat_us = max(state.tat_us, slot) + cost * self.interval_us
            delays.append(slot - now_us)
        return delays, 0


@dataclass(frozen=True)
class Decision:
    """Whether one request was taken now, on the limiter's clock."""

    clock_us: int
    wait_us: int  # 0: the units are taken; else nothing was taken, ask again after this

    @property
    def taken(self) -> bool:
        return self.wait_us == 0

    @property
    def wait(self) -> float:
        return self.wait_us / SECOND_US


class _Schedule(Protocol):
    def book(
        self, key: str, pace: Pace, costs: Sequence[int], lead_us: int, horizon_us: int
    ) -> Booking: ...

    def pause(self, key: str, pace: Pace, pause_us: int) -> None: ...


class SenderRate:
    """The rate of one (channel, sender); every instance for that pair shares one budget."""

    def __init__(self, key: str, rate: float, schedule: _Schedule) -> None:
        self.key = key
        self.rate = rate
        self.pace = Pace.of(rate)
        self._schedule = schedule

    def book(self, costs: Sequence[int], *, lead: float = 0.0, horizon: float = 0.0) -> Booking:
        """Book slots for messages of `costs` units (SMS segments; 1 per email), in order,
        none sooner than `lead` seconds from now and none later than `horizon`: one round
        trip for the whole run. The caller starts each call at its slot.

        Raises RateLimitUnavailable when Redis does not answer: nothing was booked.
        """
        if any(cost < 1 for cost in costs):
            raise ValueError(f"a send costs at least 1 unit, not {min(costs)}")
        lead_us, horizon_us = round(lead * SECOND_US), round(horizon * SECOND_US)
        return self._schedule.book(self.key, self.pace, costs, lead_us, max(horizon_us, lead_us))

    def try_acquire(self, cost: int = 1) -> Decision:
        """Take `cost` units now if they fit; never blocks (a task may retry with a countdown).

        Raises RateLimitUnavailable when Redis does not answer.
        """
        booking = self.book([cost])
        return Decision(booking.clock_us, 0 if booking.delays_us else booking.wait_us)

    def acquire(self, cost: int = 1) -> None:
        """Block until `cost` units may go out, and take them.

        Safe from many threads and, with Redis, many processes and hosts. Raises
        RateLimitUnavailable when Redis does not answer: nothing was taken or sent.
        """
        while not (decision := self.try_acquire(cost)).taken:
            time.sleep(decision.wait)

    def slow_down(self, seconds: float) -> None:
        """The provider said 429 / Retry-After: nobody sends for this sender for `seconds`."""
        if seconds > 0:
            self._schedule.pause(self.key, self.pace, math.ceil(seconds * SECOND_US))


class _RedisSchedule:
    """The schedule in Redis, on the server's clock: shared by every worker."""

    def __init__(self, url: str) -> None:
        self._client = redis.Redis.from_url(
            url,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            health_check_interval=30,
            # One quick retry covers a pooled connection the server has dropped; the
            # default (3 retries backing off for seconds) would hold a sending thread.
            retry=Retry(ExponentialBackoff(cap=0.1, base=0.01), retries=1),
        )
        self._script: Script = self._client.register_script(_SCRIPT)

    def book(
        self, key: str, pace: Pace, costs: Sequence[int], lead_us: int, horizon_us: int
    ) -> Booking:
        numbers = (pace.interval_us, pace.limit, pace.span_us, lead_us, horizon_us)
        answer = self._run(key, "book", *numbers, EXPIRY_MARGIN_MS, *costs)
        clock_us, wait_us, *delays = (int(value) for value in answer)
        return Booking(clock_us, tuple(delays), wait_us)

    def pause(self, key: str, pace: Pace, pause_us: int) -> None:
        self._run(key, "pause", pause_us, EXPIRY_MARGIN_MS, pace.span_us)

    def _run(self, key: str, *args: str | int) -> list[int]:
        try:
            answer: list[int] = self._script(keys=[key], args=list(args))
        except redis.RedisError as exc:
            raise RateLimitUnavailable(f"the rate limit for {key} is unavailable: {exc}") from exc
        return answer


class _ProcessSchedule:
    """The same schedule in this process only: its threads share it, other workers do not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._states: dict[str, SenderState] = {}

    def book(
        self, key: str, pace: Pace, costs: Sequence[int], lead_us: int, horizon_us: int
    ) -> Booking:
        with self._lock:
            now = time.monotonic_ns() // 1000
            state = self._states.setdefault(key, SenderState())
            delays, wait = pace.book(state, now, costs, lead_us=lead_us, horizon_us=horizon_us)
            return Booking(now, tuple(delays), wait)

    def pause(self, key: str, pace: Pace, pause_us: int) -> None:
        with self._lock:
            state = self._states.setdefault(key, SenderState())
            now = time.monotonic_ns() // 1000
            state.pause_until_us = max(state.pause_until_us, now + pause_us)


_PROCESS_SCHEDULE = _ProcessSchedule()
_redis_schedules: dict[str, _RedisSchedule] = {}
_redis_lock = threading.Lock()


def _redis_schedule(url: str) -> _RedisSchedule:
    """One pooled client (and one registered script) per URL, for the whole process."""
    with _redis_lock:
        if url not in _redis_schedules:
            _redis_schedules[url] = _RedisSchedule(url)
        return _redis_schedules[url]


def _schedule_for(settings: Settings) -> _Schedule:
    if settings.broker_url is None:
        return _PROCESS_SCHEDULE
    if urlsplit(settings.broker_url).scheme not in REDIS_SCHEMES:
        raise ConfigError(
            "REMINDERS_BROKER_URL: the rate per sender is shared through Redis; "
            "use a redis:// broker, or set the rates to 0"
        )
    return _redis_schedule(settings.broker_url)


def _rate_of(settings: Settings, channel: str) -> float:
    if channel == "sms":
        return settings.sms_rate_per_second
    if channel == "email":
        return settings.email_rate_per_second
    raise ValueError(f"unknown channel {channel!r}")


def sender_of(settings: Settings, channel: str) -> str:
    """Whose budget a send spends: the Messaging Service or number, or the SMTP account."""
    if channel == "sms":
        return settings.twilio_messaging_service_sid or settings.twilio_from or "outbox"
    if channel == "email":
        return settings.smtp_username or settings.email_from or settings.smtp_host or "outbox"
    raise ValueError(f"unknown channel {channel!r}")


def sender_rate(settings: Settings, channel: str) -> SenderRate | None:
    """The limiter of this channel's sender, or None when its rate is 0 (no limit)."""
    rate = _rate_of(settings, channel)
    if rate == 0:
        return None
    key = f"reminders:rate:{channel}:{sender_of(settings, channel)}"
    return SenderRate(key, rate, _schedule_for(settings))
