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
(and every newcomer) until it ends. A second 429 can extend a pause, never shorten it. After
a pause the buckets are filled before anyone passes, so sending resumes at the pace, not with
a burst into a server window that has only just reopened.

Probing. The tier may be wrong, and until the first answer comes back nobody knows: sending
at the tier's pace for a whole answer's latency can spend seconds' worth of a smaller limit
in 429s. With `probe`, the first request goes alone; the rest wait for the server's first
word (headers, or a 429), or `probe_wait_s` if none comes.

Learning. `observe()` reads each response's x-ratelimit-* headers. A reported limit below ours
is adopted at once; a higher one once the server has kept saying so for `raise_after_s`
(a job that mixes models sees several limits, and then keeps the lowest). Each new pair of
limits is announced once through `on_change`. Limits the user set themselves (`caps`) are
a ceiling: the server may lower them, never raise them.

Sharing. The `remaining` counts show what another client spending the same key leaves us
(see `sharing`); while that is less than the whole limit, every request is charged
proportionally more units, so the buckets keep their level and we aim at what is left, not
at the limit. That estimate goes blind once the server's bucket is
empty (the other client is refused too, so nothing of it is counted); there the 429s speak:
each `refused()` request cuts the pace by a fifth (at most once a second, and not in the
second after the limits changed, whose 429s the change explains), and the pace creeps back
by 5 % of the limit a second.

Refunds. Token charges are not refunded when the answer turns out shorter: OpenAI charges the
allowance on arrival, so a refund would make us overshoot.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Callable, Collection
from dataclasses import dataclass

from aiolimiter import AsyncLimiter

from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.sharing import SharedBudget

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


CUT = 0.8  # on a 429 not explained by a change of limits, aim this much lower
CUT_EVERY_S = 1.0  # a burst of 429s from one moment is one cut
RECOVER_PER_S = 0.05  # then creep back up by this share of the limit a second
MIN_PACE = 0.05
LIMITS_FROM_SERVER = "limits from server: {rpm} RPM / {tpm} TPM ({source} {old_rpm} / {old_tpm})"


@dataclass(frozen=True, slots=True)
class LimitsChanged:
    """The limits in force changed because the server reported others; None is unlimited."""

    rpm: float | None
    tpm: float | None
    previous_rpm: float | None
    previous_tpm: float | None

    def message(self, source: str = "configured") -> str:
        """`limits from server: 5,000 RPM / 2,000,000 TPM (tier said 500 / 200,000)`."""
        return LIMITS_FROM_SERVER.format(
            rpm=_count(self.rpm),
            tpm=_count(self.tpm),
            source=source,
            old_rpm=_count(self.previous_rpm),
            old_tpm=_count(self.previous_tpm),
        )


class Limiter:
    """Requests/min and tokens/min buckets plus a concurrency cap, for one run.

    `rpm` / `tpm`: the limits per minute; None means unlimited. `concurrency`: how many
    items may be in flight (sent, or waiting to retry, and not yet committed).
    `burst_seconds`: how much of the limit may pass at once. `headroom`: the fraction of
    the limit to aim for. `raise_after_s`: how long the server must report a higher limit
    before we follow it. `caps`: which of "requests" and "tokens" the configured limit is a
    ceiling for (the user set it; it is not a preset). `on_change`: called once for each new
    pair of limits the server's headers set. `probe`: send one request alone before the
    server has said anything (see the module docstring). Create it inside the running event
    loop (aiolimiter binds to it).
    """

    def __init__(
        self,
        *,
        rpm: float | None,
        tpm: float | None,
        concurrency: int,
        burst_seconds: float = 0.1,
        headroom: float = 0.97,
        raise_after_s: float = 2.0,
        caps: Collection[str] = (),
        on_change: Callable[[LimitsChanged], object] | None = None,
        probe: bool = False,
        probe_wait_s: float = 10.0,
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
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight = 0
        self._queue = asyncio.Lock()  # asyncio.Lock wakes waiters in FIFO order
        self._paused_until = -math.inf
        self._resumed = asyncio.Event()  # clear while paused; set by a timer when it ends
        self._resumed.set()
        self._resume_timer: asyncio.TimerHandle | None = None
        self._after_pause = False
        self._heard = asyncio.Event()  # set once the server has said anything
        if not probe:
            self._heard.set()
        self._probe_sent = False
        self._probe_wait_s = probe_wait_s
        self.latest: RateLimitHeaders | None = None  #: the last headers passed to observe()
        self._raise_after_s = raise_after_s
        configured = {"requests": rpm, "tokens": tpm}
        self._caps = {kind: int(limit) for kind in caps if (limit := configured[kind]) is not None}
        self._on_change = on_change
        self._announced: set[tuple[float | None, float | None]] = {(rpm, tpm)}
        self._higher_since: dict[str, float] = {}  # kind -> when the server first said more
        self._shares = {"requests": SharedBudget(), "tokens": SharedBudget()}
        self._cut, self._cut_at = 1.0, -math.inf  # the pace after the last cut, and when
        self._changed_at = -math.inf  # when the limits in force last changed

    @property
    def rpm(self) -> float | None:
        """The requests/min limit in force (configured, or lower if the server said so)."""
        return self._rpm

    @property
    def tpm(self) -> float | None:
        """The tokens/min limit in force (configured, or lower if the server said so)."""
        return self._tpm

    @property
    def pace(self) -> float:
        """The share of the limits we aim for: below 1 while another client spends the key."""
        return min(self._recovered(), *(share.share for share in self._shares.values()))

    def _recovered(self) -> float:
        return min(1.0, self._cut + RECOVER_PER_S * (self._loop.time() - self._cut_at))

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

    @property
    def slot_free(self) -> bool:
        """Whether `enter()` would return without waiting."""
        return not self._slots.locked()

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
            await self._wait_for_probe()
            await self._wait_out_pause()
            if self._after_pause:
                self._after_pause = False
                await self._charge("requests", self._capacity("requests"))
                await self._charge("tokens", self._capacity("tokens"))
            # Slowing down charges every unit more; the buckets keep their level and rate.
            scale = 1 / self.pace
            await self._charge("requests", scale)
            await self._charge("tokens", tokens * scale)
            self._shares["requests"].sent(1)
            self._shares["tokens"].sent(tokens)
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
        self._after_pause = True
        self._resumed.clear()
        if self._resume_timer is not None:
            self._resume_timer.cancel()
        self._resume_timer = self._loop.call_at(until, self._resumed.set)

    def refused(self, tokens: int) -> None:
        """A request of `tokens` got a rate-limit 429: it cost nothing, and we went too fast."""
        self._heard.set()
        self._shares["requests"].sent(-1)
        self._shares["tokens"].sent(-tokens)
        now = self._loop.time()
        if now - self._cut_at < CUT_EVERY_S or now - self._changed_at < CUT_EVERY_S:
            return
        self._cut, self._cut_at = max(MIN_PACE, self._recovered() * CUT), now

    def observe(self, headers: RateLimitHeaders) -> None:
        """Learn from the server's x-ratelimit-* headers: its limits, and what is left of them."""
        self._heard.set()
        self.latest = headers
        before = (self._rpm, self._tpm)
        if (rpm := self._follow("requests", headers.limit_requests, self._rpm)) is not None:
            self._rpm = rpm
            self._requests = self._bucket(rpm)
        if (tpm := self._follow("tokens", headers.limit_tokens, self._tpm)) is not None:
            self._tpm = tpm
            self._tokens = self._bucket(tpm)
        after = (self._rpm, self._tpm)
        if after != before:
            self._changed_at = self._loop.time()
        if after != before and after not in self._announced:
            self._announced.add(after)
            if self._on_change is not None:
                self._on_change(LimitsChanged(*after, *before))
        now = self._loop.time()
        self._shares["requests"].observe(now, headers.limit_requests, headers.remaining_requests)
        self._shares["tokens"].observe(now, headers.limit_tokens, headers.remaining_tokens)

    def _follow(self, kind: str, reported: int | None, current: float | None) -> int | None:
        """The limit to adopt, if any: lower at once, higher once it has lasted a while."""
        if reported is not None and kind in self._caps:
            reported = min(reported, self._caps[kind])
        if reported is None or reported <= 0 or reported == current:
            self._higher_since.pop(kind, None)
            return None
        if current is None or reported < current:
            self._higher_since.pop(kind, None)
            return reported
        since = self._higher_since.setdefault(kind, self._loop.time())
        if self._loop.time() - since < self._raise_after_s:
            return None
        del self._higher_since[kind]
        return reported

    def _bucket(self, per_minute: float | None) -> AsyncLimiter | None:
        """A leaky bucket pacing `per_minute` (times headroom), bursting `burst_seconds` worth."""
        if per_minute is None:
            return None
        per_second = per_minute * self._headroom / 60
        # At least one whole unit must fit; a low limit then gets a longer period, same pace.
        capacity = max(1.0, per_second * self._burst_seconds)
        return AsyncLimiter(capacity, capacity / per_second)

    async def _charge(self, kind: str, amount: float) -> None:
        # Re-read the bucket each chunk: observe() may have replaced it with another.
        remaining = amount
        while remaining > 0 and (bucket := self._buckets(kind)) is not None:
            chunk = min(remaining, bucket.max_rate)
            await bucket.acquire(chunk)
            remaining -= chunk

    def _capacity(self, kind: str) -> float:
        bucket = self._buckets(kind)
        return bucket.max_rate if bucket is not None else 0.0

    def _buckets(self, kind: str) -> AsyncLimiter | None:
        return self._requests if kind == "requests" else self._tokens

    def end_probe(self) -> None:
        """The probe came back without limits (a dropped connection, a timeout): waiting for
        the server's word would only stall the run, so go on at the configured pace."""
        self._heard.set()

    async def _wait_for_probe(self) -> None:
        if self._heard.is_set():
            return
        if not self._probe_sent:
            self._probe_sent = True  # this request is the probe
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._heard.wait(), self._probe_wait_s)
        self._heard.set()  # no word in time: go on at the configured pace

    async def _wait_out_pause(self) -> None:
        await self._resumed.wait()


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number or None (unlimited), not {value}")


def _count(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:,.0f}"
