"""A rate per sender (a From number, a Messaging Service, an SMTP account), shared by every worker.

The limiter is GCRA (the generic cell rate algorithm): one stored time per sender, the
theoretical arrival time `tat`, in integer microseconds. Each unit (an SMS segment, an
email) pushes `tat` on by `interval = ceil(1 s / rate)`; rounding up can only slow us down.

The promise: no half-open 1 s window ever holds more than `R = ceil(rate)` units. Proof,
for a request of `n <= R` units at time `t`: every request admitted at `s` pushed `tat` to
at least `s + cost * interval`, so if `P` units went out in `(t - 1 s, t]` before this one,
the earliest of them at `s0 > t - 1 s`, then `tat >= s0 + P * interval > t - 1 s + P * interval`,
that is `P < (tat - t + 1 s) / interval`. We admit only when
`tat - t <= tolerance(n) = (R - n + 1) * interval - 1 s`, which makes `P < R - n + 1`, so
`P + n <= R`. Every window's units lie in `(t - 1 s, t]` for its last request `t`: done.

What that costs, and why a burst of a second's worth is not offered: GCRA's usual burst
tolerance (`tau` > 0 for single units) lets `ceil(rate * (1 s + tau))` units into one second,
up to `2 * rate - 1` for a burst of a whole second. Here the burst is one message: up to `R`
units go at once, then separate messages are paced one `interval` apart. A message of `n`
units waits until `(n - 1)` intervals have passed since the schedule caught up, so a stream
of long messages runs below the rate (`n / (2n - 1)` of it at worst). A message longer than
`R` units cannot fit any 1 s window; it goes when nothing else went in the last second and
pays its full cost afterwards (one 3-segment SMS at 1/s: nothing else for 3 s).

With Redis the state lives in the hash `reminders:rate:<channel>:<sender>` and is read and
written by one Lua script on the server's clock (`TIME`), so hosts' clocks do not matter.
With no Redis (`broker_url` unset) the same maths runs under a lock on this process's
monotonic clock: it limits the threads of one process only, not several workers.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from reminders.config import ConfigError, Settings

SECOND_US = 1_000_000
# Redis answers within a millisecond: two seconds of silence mean it is down.
SOCKET_TIMEOUT = 2.0
REDIS_SCHEMES = ("redis", "rediss", "unix")

# KEYS[1]: the sender's hash {tat, pause}, microseconds of this server's clock.
# ARGV: 'take', interval_us, window_units, cost  |  'pause', pause_us
# Returns {clock_us, wait_us}; wait 0 means the units are taken.
_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', key, 'tat', 'pause')
-- An absent key has had no admission for over a second (see the expiry below).
local tat = tonumber(state[1]) or (now - 1000000)
local pause = tonumber(state[2]) or 0

local function keep(new_tat, new_pause)
  -- '%.0f': Lua would write 16-digit numbers as '%.14g' and lose the microseconds.
  redis.call('HSET', key, 'tat', string.format('%.0f', new_tat),
             'pause', string.format('%.0f', new_pause))
  local horizon = math.max(new_tat, new_pause, now) - now
  redis.call('PEXPIRE', key, math.ceil(horizon / 1000) + 2000)
end

if ARGV[1] == 'pause' then
  keep(tat, math.max(pause, now + tonumber(ARGV[2])))
  return {now, 0}
end

local interval = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local units = math.min(cost, window)
local ready = math.max(tat - ((window - units + 1) * interval - 1000000), pause)
if now < ready then
  return {now, ready - now}
end
keep(math.max(tat, now) + cost * interval, pause)
return {now, 0}
"""


class RateLimitUnavailable(Exception):
    """The shared limiter did not answer; nothing was taken. Treat the send as transient."""


@dataclass(frozen=True)
class Pace:
    """The GCRA numbers of one rate, in integer microseconds (the Lua script mirrors them)."""

    interval_us: int  # one unit's share of the schedule: ceil(1 s / rate)
    window_units: int  # the most units any 1 s window may hold: ceil(rate)

    @classmethod
    def of(cls, rate: float) -> Pace:
        if not rate > 0:
            raise ValueError(f"a rate must be above 0 per second, not {rate}")
        return cls(interval_us=math.ceil(SECOND_US / rate), window_units=math.ceil(rate))

    def ready_us(self, tat_us: int, cost: int) -> int:
        """The earliest clock at which `cost` more units keep every 1 s window within bounds."""
        units = min(cost, self.window_units)
        tolerance = (self.window_units - units + 1) * self.interval_us - SECOND_US
        return tat_us - tolerance

    def after_us(self, tat_us: int, now_us: int, cost: int) -> int:
        """The schedule once `cost` units went out at `now_us`."""
        return max(tat_us, now_us) + cost * self.interval_us


@dataclass(frozen=True)
class Decision:
    """One answer of the limiter, on its own clock (Redis server time, or this process's)."""

    clock_us: int
    wait_us: int  # 0: the units are taken; else nothing was taken, ask again after this

    @property
    def taken(self) -> bool:
        return self.wait_us == 0

    @property
    def wait(self) -> float:
        return self.wait_us / SECOND_US


class _Schedule(Protocol):
    def take(self, key: str, pace: Pace, cost: int) -> Decision: ...

    def pause(self, key: str, pause_us: int) -> None: ...


class SenderRate:
    """The rate of one (channel, sender); every instance for that pair shares one budget."""

    def __init__(self, key: str, rate: float, schedule: _Schedule) -> None:
        self.key = key
        self.rate = rate
        self._pace = Pace.of(rate)
        self._schedule = schedule

    def try_acquire(self, cost: int = 1) -> Decision:
        """Take `cost` units now if they fit; never blocks (a task may retry with a countdown).

        Raises RateLimitUnavailable when Redis does not answer.
        """
        if cost < 1:
            raise ValueError(f"a send costs at least 1 unit, not {cost}")
        return self._schedule.take(self.key, self._pace, cost)

    def acquire(self, cost: int = 1) -> None:
        """Block until `cost` units (SMS segments; 1 per email) may go out, and take them.

        Safe from many threads and, with Redis, many processes and hosts. Raises
        RateLimitUnavailable when Redis does not answer: nothing was taken or sent.
        """
        while not (decision := self.try_acquire(cost)).taken:
            time.sleep(decision.wait)

    def slow_down(self, seconds: float) -> None:
        """The provider said 429 / Retry-After: nobody sends for this sender for `seconds`."""
        if seconds > 0:
            self._schedule.pause(self.key, math.ceil(seconds * SECOND_US))


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

    def take(self, key: str, pace: Pace, cost: int) -> Decision:
        return self._run(key, "take", pace.interval_us, pace.window_units, cost)

    def pause(self, key: str, pause_us: int) -> None:
        self._run(key, "pause", pause_us)

    def _run(self, key: str, *args: str | int) -> Decision:
        try:
            clock_us, wait_us = self._script(keys=[key], args=list(args))
        except redis.RedisError as exc:
            raise RateLimitUnavailable(f"the rate limit for {key} is unavailable: {exc}") from exc
        return Decision(clock_us=int(clock_us), wait_us=int(wait_us))


class _ProcessSchedule:
    """The same schedule in this process only: its threads share it, other workers do not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, int]] = {}  # key -> (tat, pause)

    def take(self, key: str, pace: Pace, cost: int) -> Decision:
        with self._lock:
            now = time.monotonic_ns() // 1000
            tat, pause = self._state.get(key, (now - SECOND_US, 0))
            ready = max(pace.ready_us(tat, cost), pause)
            if now < ready:
                return Decision(clock_us=now, wait_us=ready - now)
            self._state[key] = (pace.after_us(tat, now, cost), pause)
            return Decision(clock_us=now, wait_us=0)

    def pause(self, key: str, pause_us: int) -> None:
        with self._lock:
            now = time.monotonic_ns() // 1000
            tat, pause = self._state.get(key, (now - SECOND_US, 0))
            self._state[key] = (tat, max(pause, now + pause_us))


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
