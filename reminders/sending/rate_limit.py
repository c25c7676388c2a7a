"""A rate per sender (a From number, a Messaging Service, an SMTP account), shared by every worker.

The limiter is a sliding-window log. Each sender keeps a log of its admissions, each a time
in integer microseconds on the limiter's clock and a number of units (SMS segments; 1 per
email). A request for `cost` units at `now` first drops the entries at or before
`now - window`, then sums the rest; it is admitted when `used + cost <= limit`, and is
otherwise told the exact wait until enough of the oldest entries have left the window.

The numbers of a rate (see `Window.of`):

- `rate >= 1/s`: `limit = floor(rate)` units per `window = 1 s + WINDOW_MARGIN_US`.
- `rate < 1/s`: `limit = 1` unit per `window = ceil(1 / rate) s + WINDOW_MARGIN_US`
  (0.5/s: one unit per 2.05 s). A unit cannot be split, so "0.5 units in a second"
  means one unit, then nothing for at least 1/rate seconds.

The promise: no half-open 1 s window `(x - 1 s, x]` on the limiter's clock ever holds more
than `limit` units of the log (more than `floor(rate)`, and below 1/s no two units within
1/rate seconds); for messages of at most `limit` units the log is when they went. Proof:
take any half-open window of length `window` and its last entry, logged at `t`. Every other
entry in it lies in `(t - window, t]`, so none had left the log when `t` was admitted
(entries leave only at or before `now - window`), and `t` was admitted only because the sum
of the log plus its own units was at most `limit`. Every 1 s window lies inside such a
window, as `window >= 1 s`: done. Entries are appended in time order (the later parts of a
long message lie ahead, but nothing else fits before its last part), so "the oldest
entries" are the front of the log.

The margin: a provider counts a second on its own clock, after network and queueing jitter
of a few tens of milliseconds; a log that spanned exactly 1 s would let that jitter push one
more unit into a provider's second. The price is the sustained rate: a steady stream fills
the log once per `window`, `floor(rate) / 1.05` units a second, about 95% of an integral
rate (a stream of 1- or 2-unit messages at 1, 20 or 100/s alike). Messages are whole, so a
stream of `n`-unit messages fits `floor(limit / n)` of them into a window: 2-unit messages
at 5/s go 2 per window, 76% of the rate; no limiter can do better than 80% without putting
6 units into some second.

A message costing more than `limit` (a 3-segment SMS on a 1/s long code) cannot fit any
second. It goes only when the log is empty, and is logged as if its units went at the
limit's pace: `limit` units now, `limit` more one window later, and so on, each part
filling the window it is in (that SMS at 1/s: nothing else for 3.15 s). The provider queues
its extra segments itself (Twilio does); the long run stays within the rate.

`slow_down` (a 429 with Retry-After) pauses the sender: until the pause ends every request
is told to wait for it, or for the window, whichever is later.

With Redis the log is the sorted set `reminders:rate:<channel>:<sender>`, scored by the
server's clock (`TIME`) so that hosts' clocks do not matter, read and written by one Lua
script; the pause is its member `pause`, scored by the pause's end. With no Redis
(`broker_url` unset) the same algorithm runs under a lock on this process's monotonic
clock: it limits the threads of one process only, not several workers.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import redis
from redis.backoff import ExponentialBackoff
from redis.commands.core import Script
from redis.retry import Retry

from reminders.config import ConfigError, Settings

SECOND_US = 1_000_000
# Added to every window: provider-side arrival jitter must not push an extra unit into a
# provider-counted second. 50 ms covers a loaded network; it costs ~5% of the rate.
WINDOW_MARGIN_US = 50_000
# Redis answers within a millisecond: two seconds of silence mean it is down.
SOCKET_TIMEOUT = 2.0
REDIS_SCHEMES = ("redis", "rediss", "unix")
# A log key outlives its newest entry's window (and the pause) by this much, then expires.
EXPIRY_MARGIN_MS = 1_000

# KEYS[1]: the sender's sorted set: members '<time_us>:<seq>:<units>' scored by time_us on
# this server's clock, and 'pause' scored by the end of the pause.
# ARGV: 'take', window_us, limit, cost, expiry_margin_ms
#     | 'pause', window_us, pause_us, (unused), expiry_margin_ms
# Returns {clock_us, wait_us}; wait 0 means the units are taken. Mirrors `Window.take`.
_SCRIPT = """
if redis.replicate_commands then redis.replicate_commands() end
local key = KEYS[1]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local window = tonumber(ARGV[2])
-- '%.0f': Lua would write 16-digit numbers as '%.14g' and lose the microseconds.
local function us(t) return string.format('%.0f', t) end

-- The GCRA before this log kept a hash here: drop it (and its few seconds of state).
if redis.call('TYPE', key).ok == 'hash' then redis.call('DEL', key) end
redis.call('ZREMRANGEBYSCORE', key, '-inf', us(now - window))
local log, used, pause = {}, 0, 0
local members = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
for i = 1, #members, 2 do
  local at = tonumber(members[i + 1])
  if members[i] == 'pause' then
    pause = at
  else
    local units = tonumber(string.match(members[i], ':(%d+)$'))
    log[#log + 1] = {at, units}
    used = used + units
  end
end

local function keep(newest)
  local horizon = math.max(newest + window, pause) - now
  redis.call('PEXPIRE', key, math.ceil(horizon / 1000) + tonumber(ARGV[5]))
end
local newest = now - window
if #log > 0 then newest = log[#log][1] end

if ARGV[1] == 'pause' then
  pause = math.max(pause, now + tonumber(ARGV[3]))
  redis.call('ZADD', key, us(pause), 'pause')
  keep(newest)
  return {now, 0}
end

local limit = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])
local wait = math.max(pause - now, 0)
local excess = used + math.min(cost, limit) - limit
for _, entry in ipairs(log) do
  if excess <= 0 then break end
  excess = excess - entry[2]
  if excess <= 0 then wait = math.max(wait, entry[1] + window - now) end
end
if wait > 0 then
  return {now, wait}
end

local at, left = now, cost
while left > 0 do
  local units = math.min(left, limit)
  local seq = 0
  while redis.call('ZSCORE', key, us(at) .. ':' .. seq .. ':' .. units) do seq = seq + 1 end
  redis.call('ZADD', key, us(at), us(at) .. ':' .. seq .. ':' .. units)
  newest, at, left = at, at + window, left - units
end
keep(newest)
return {now, 0}
"""


class RateLimitUnavailable(Exception):
    """The shared limiter did not answer; nothing was taken. Treat the send as transient."""


@dataclass
class SenderLog:
    """One sender's admissions, oldest first, and the end of its pause (microseconds)."""

    entries: deque[tuple[int, int]] = field(default_factory=deque)  # (time, units)
    pause_until_us: int = 0


@dataclass(frozen=True)
class Window:
    """The sliding window of one rate, in integer microseconds (the Lua script mirrors it)."""

    window_us: int  # how far back the log counts: 1 s (or 1/rate s below 1/s) + the margin
    limit: int  # the most units the log may hold within one window

    @classmethod
    def of(cls, rate: float) -> Window:
        if not rate > 0:
            raise ValueError(f"a rate must be above 0 per second, not {rate}")
        if rate < 1:
            return cls(math.ceil(1 / rate) * SECOND_US + WINDOW_MARGIN_US, 1)
        return cls(SECOND_US + WINDOW_MARGIN_US, math.floor(rate))

    def take(self, log: SenderLog, now_us: int, cost: int) -> int:
        """Log `cost` units at `now_us` and return 0 if they fit; else the wait, logging nothing."""
        while log.entries and log.entries[0][0] <= now_us - self.window_us:
            log.entries.popleft()
        wait = max(self.wait_us(log, now_us, cost), log.pause_until_us - now_us)
        if wait > 0:
            return wait
        for part in range(math.ceil(cost / self.limit)):
            units = min(self.limit, cost - part * self.limit)
            log.entries.append((now_us + part * self.window_us, units))
        return 0

    def wait_us(self, log: SenderLog, now_us: int, cost: int) -> int:
        """How long until enough of the oldest entries leave for `cost` units (0: they fit).

        A message over the limit needs the whole log gone.
        """
        excess = sum(units for _, units in log.entries) + min(cost, self.limit) - self.limit
        for at, units in log.entries:
            if excess <= 0:
                break
            excess -= units
            if excess <= 0:
                return at + self.window_us - now_us
        return 0


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
    def take(self, key: str, window: Window, cost: int) -> Decision: ...

    def pause(self, key: str, window: Window, pause_us: int) -> None: ...


class SenderRate:
    """The rate of one (channel, sender); every instance for that pair shares one budget."""

    def __init__(self, key: str, rate: float, schedule: _Schedule) -> None:
        self.key = key
        self.rate = rate
        self._window = Window.of(rate)
        self._schedule = schedule
        # A second's budget spent at once reaches the provider as a crowd, and a crowd
        # arrives spread by its own queueing: spread it here instead, a tenth at a time.
        tenth = Window((self._window.window_us + 9) // 10, math.ceil(self._window.limit / 10))
        self._burst = tenth if self._window.limit >= 10 else None

    def try_acquire(self, cost: int = 1) -> Decision:
        """Take `cost` units now if they fit; never blocks (a task may retry with a countdown).

        Raises RateLimitUnavailable when Redis does not answer.
        """
        if cost < 1:
            raise ValueError(f"a send costs at least 1 unit, not {cost}")
        if self._burst is not None:
            # Units the second then refuses are lost from the tenth: slower, never faster.
            paced = self._schedule.take(f"{self.key}:burst", self._burst, cost)
            if not paced.taken:
                return paced
        return self._schedule.take(self.key, self._window, cost)

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
            self._schedule.pause(self.key, self._window, math.ceil(seconds * SECOND_US))
            if self._burst is not None:
                self._schedule.pause(
                    f"{self.key}:burst", self._burst, math.ceil(seconds * SECOND_US)
                )


class _RedisSchedule:
    """The log in Redis, on the server's clock: shared by every worker."""

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

    def take(self, key: str, window: Window, cost: int) -> Decision:
        return self._run(key, "take", window.window_us, window.limit, cost, EXPIRY_MARGIN_MS)

    def pause(self, key: str, window: Window, pause_us: int) -> None:
        self._run(key, "pause", window.window_us, pause_us, 0, EXPIRY_MARGIN_MS)

    def _run(self, key: str, *args: str | int) -> Decision:
        try:
            clock_us, wait_us = self._script(keys=[key], args=list(args))
        except redis.RedisError as exc:
            raise RateLimitUnavailable(f"the rate limit for {key} is unavailable: {exc}") from exc
        return Decision(clock_us=int(clock_us), wait_us=int(wait_us))


class _ProcessSchedule:
    """The same log in this process only: its threads share it, other workers do not."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._logs: dict[str, SenderLog] = {}

    def take(self, key: str, window: Window, cost: int) -> Decision:
        with self._lock:
            now = time.monotonic_ns() // 1000
            wait = window.take(self._logs.setdefault(key, SenderLog()), now, cost)
            return Decision(clock_us=now, wait_us=wait)

    def pause(self, key: str, window: Window, pause_us: int) -> None:
        with self._lock:
            log = self._logs.setdefault(key, SenderLog())
            log.pause_until_us = max(log.pause_until_us, time.monotonic_ns() // 1000 + pause_us)


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
