"""The run's one gate: requests/min, tokens/min and a concurrency cap, paused as one on a 429.

Pacing. OpenAI enforces its per-minute limits over much shorter windows, so 600 RPM sent as
a burst in the first second is refused. Each budget is therefore an aiolimiter leaky bucket
whose capacity (`max_rate`) is only `burst_seconds` worth of the limit and whose
`time_period` is `burst_seconds`: the bucket drains at the per-minute rate, but never lets
more than a tenth of a second's worth through at once. Aiming `headroom` (a few percent)
under the limit leaves room for clock skew and for OpenAI counting slightly differently.
A bucket that holds a single request loses throughput to wake-up latency; about a tenth of
a second's worth keeps ≥ 95 % of the limit with almost no 429s (see DESIGN.md).

Tokens. aiolimiter refuses `acquire(amount)` above `max_rate`, so a request is charged in
chunks of at most `max_rate`; the pace over time is the same. A request larger than the whole
TPM could never be accepted by the server, so it is refused up front with `RequestTooLarge`.

Order. Waiters pass the buckets one at a time, first come first served. aiolimiter wakes the
smallest amount first, which would let a stream of small requests starve a large one; a
single FIFO queue in front of the buckets costs no throughput, since the buckets drain at a
fixed rate whoever waits on them.

Pauses. A 429 means the server's window is full for everyone, so `pause()` holds every waiter
(and every newcomer) until it ends. A second 429 can extend a pause, never shorten it.
"""

from __future__ import annotations

import asyncio
import math

from aiolimiter import AsyncLimiter

from batchbot.ratelimits import RateLimitHeaders

TOO_LARGE = (
    "This request needs {tokens:,} tokens but the token limit is {tpm:,} per minute (TPM), "
    "so the API would never accept it: lower max_tokens (or max_completion_tokens, or n) "
    "or split the prompt."
)


class RequestTooLarge(ValueError):
    """Raised when one request's tokens exceed the whole tokens-per-minute limit."""

    def __init__(self, tokens: int, tpm: float) -> None:
        self.tokens = tokens
        self.tpm = tpm
        super().__init__(TOO_LARGE.format(tokens=tokens, tpm=int(tpm)))


class Limiter:
    """Requests/min and tokens/min buckets plus a concurrency cap, for one run.

    `rpm` / `tpm`: the limits per minute; None means unlimited. `concurrency`: how many
    items may be in flight (sent, or waiting to retry, and not yet committed).
    `burst_seconds`: how much of the limit may pass at once. `headroom`: the fraction of
    the limit to aim for. Create it inside the running event loop (aiolimiter binds to it).
    """

    def __init__(
        self,
        *,
        rpm: float | None,
        tpm: float | None,
        concurrency: int,
        burst_seconds: float = 0.1,
        headroom: float = 0.97,
    ) -> None:
        _check_positive("rpm", rpm)
        _check_positive("tpm", tpm)
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if not burst_seconds > 0:
            raise ValueError(f"burst_seconds must be positive, not {burst_seconds}")
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], not {headroom}")
        self._loop = asyncio.get_running_loop()
        self._burst_seconds = burst_seconds
        self._headroom = headroom
        self._rpm = rpm
        self._tpm = tpm
        self._requests = self._bucket(rpm)
        self._tokens = self._bucket(tpm)
        self._concurrency = concurrency
        # A later, adaptive limiter can shrink or grow this by acquiring or releasing permits.
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight = 0
        self._queue = asyncio.Lock()  # asyncio.Lock wakes waiters in FIFO order
        self._paused_until = -math.inf
        self._resumed = asyncio.Event()  # clear while paused; set by a timer when it ends
        self._resumed.set()
        self._resume_timer: asyncio.TimerHandle | None = None
        self.latest: RateLimitHeaders | None = None  #: the last headers passed to observe()

    @property
    def rpm(self) -> float | None:
        """The requests/min limit in force (configured, or lower if the server said so)."""
        return self._rpm

    @property
    def tpm(self) -> float | None:
        """The tokens/min limit in force (configured, or lower if the server said so)."""
        return self._tpm

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def in_flight(self) -> int:
        """How many concurrency slots are taken."""
        return self._in_flight

    @property
    def paused_until(self) -> float:
        """Event-loop time at which the current pause ends (in the past if not paused)."""
        return self._paused_until

    async def enter(self) -> None:
        """Take a concurrency slot; hold it across retries until the item's result is saved."""
        await self._slots.acquire()
        self._in_flight += 1

    def leave(self) -> None:
        """Give back a slot taken by `enter()`."""
        if self._in_flight == 0:
            raise RuntimeError("Limiter.leave() called without a matching enter()")
        self._in_flight -= 1
        self._slots.release()

    async def wait_for_capacity(self, tokens: int) -> None:
        """Before each HTTP attempt: wait out any pause, then take 1 request and `tokens`."""
        if tokens < 0:
            raise ValueError(f"tokens must not be negative, not {tokens}")
        if self._tpm is not None and tokens > self._tpm:
            raise RequestTooLarge(tokens, self._tpm)
        async with self._queue:
            await self._wait_out_pause()
            if self._requests is not None:
                await self._requests.acquire(1)
            await self._charge_tokens(tokens)
            # A 429 seen while we waited for the buckets holds us too.
            await self._wait_out_pause()

    def pause(self, seconds: float) -> None:
        """Hold every waiter for `seconds` from now; extends a longer pause, never shortens one."""
        if not (math.isfinite(seconds) and seconds > 0):
            return
        until = self._loop.time() + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._resumed.clear()
        if self._resume_timer is not None:
            self._resume_timer.cancel()
        self._resume_timer = self._loop.call_at(until, self._resumed.set)

    def observe(self, headers: RateLimitHeaders) -> None:
        """Record the server's x-ratelimit-* headers; adopt any limit lower than ours.

        The server knows the real limits (the tier is only a starting point), so a lower one
        replaces ours at once. Higher ones are not trusted yet: raising the pace is left to
        the adaptive limiter.
        """
        self.latest = headers
        if _lowers(headers.limit_requests, self._rpm):
            self._rpm = headers.limit_requests
            self._requests = self._bucket(self._rpm)
        if _lowers(headers.limit_tokens, self._tpm):
            self._tpm = headers.limit_tokens
            self._tokens = self._bucket(self._tpm)

    def _bucket(self, per_minute: float | None) -> AsyncLimiter | None:
        """A leaky bucket pacing `per_minute` (times headroom), bursting `burst_seconds` worth."""
        if per_minute is None:
            return None
        per_second = per_minute * self._headroom / 60
        # At least one whole unit must fit; a low limit then gets a longer period, same pace.
        capacity = max(1.0, per_second * self._burst_seconds)
        return AsyncLimiter(capacity, capacity / per_second)

    async def _charge_tokens(self, tokens: int) -> None:
        # Re-read the bucket each chunk: observe() may have replaced it with a slower one.
        remaining = float(tokens)
        while remaining > 0 and (bucket := self._tokens) is not None:
            chunk = min(remaining, bucket.max_rate)
            await bucket.acquire(chunk)
            remaining -= chunk

    async def _wait_out_pause(self) -> None:
        await self._resumed.wait()


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number or None (unlimited), not {value}")


def _lowers(reported: int | None, current: float | None) -> bool:
    """Whether the server reported a usable limit below the one in force."""
    return reported is not None and reported > 0 and (current is None or reported < current)
