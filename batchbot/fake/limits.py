"""Rate limits for the fake server, shaped like OpenAI's.

OpenAI meters requests and tokens per minute with buckets that refill continuously, not with
fixed one-minute windows: a bucket of 500 RPM regains one request every 120 ms, and a burst may
spend the whole bucket at once. A request is charged on arrival, and a refused request costs
nothing. The `x-ratelimit-*` headers report the buckets, and durations are written the way Go
prints them (`120ms`, `1s`, `6m0s`, `1m30.5s`), because that is what OpenAI sends.

Stricter than that, on request (for benchmarks and tests of a client's pacing):
- `window_s=1`: the buckets hold only a second's worth (limit/60) and refill at the same
  rate, as when a per-minute limit is enforced over 1-second windows. A request bigger than
  a whole window passes only into a full bucket, which it leaves in debt. The headers still
  speak per minute: remaining is the level scaled up to a minute.
- `windows="sliding"`: besides the per-minute buckets, no span of `sliding_s` seconds (1 by
  default) may hold more than its share of the limit (limit x sliding_s / 60), counted from
  a log of what was admitted, not from a refilling bucket: a bucket lets its capacity plus
  a second's refill through one second after a lull, a sliding window never more than its
  share. This is the strictest reading of "limits may be enforced over shorter periods", so
  a client that passes it passes fixed windows too. A request bigger than a window's share
  passes only into an empty window.
- `reported`: the limits the headers state, when they should differ from those enforced.
- `spend()`: another client using the same key.
- `RateLimits.changed()`: new limits that keep what was used of the old ones.
- `dialect`: how the headers speak, and for `fixed-minute` how the limits are kept (see
  `dialects`).
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from batchbot.fake import dialects
from batchbot.fake.dialects import FixedWindow

# With no limit configured the server still reports buckets, sized like usage tier 5 for
# gpt-4o-mini, so clients that learn from headers see plausible numbers; it never refuses.
UNLIMITED_RPM = 30_000
UNLIMITED_TPM = 150_000_000

ORGANIZATION = "org-fake"
LIMITS_URL = "https://platform.openai.com/account/rate-limits"

Clock = Callable[[], float]
WINDOWS = ("buckets", "sliding")
SLACK = 1e-9  # float sums and times drift; a client that waited as told must fit


class Bucket:
    """`limit` per minute, refilling continuously, holding `window_s` seconds' worth."""

    def __init__(self, limit: int, clock: Clock, window_s: float = 60.0) -> None:
        self.limit = limit
        self.capacity = limit * window_s / 60
        self._clock = clock
        self._level = self.capacity
        self._stamp = clock()

    def _refill(self) -> float:
        now = self._clock()
        self._level = min(self.capacity, self._level + (now - self._stamp) * self.limit / 60)
        self._stamp = now
        return self._level

    def wait_for(self, amount: int) -> float:
        """Seconds until `amount` fits (0 if it fits now)."""
        # More than a whole window fits only into a full bucket.
        missing = min(amount, self.capacity) - self._refill()
        # Refills add up in floating point; a client that waited the advertised time must fit.
        return missing * 60 / self.limit if missing > SLACK else 0.0

    def take(self, amount: float, *, debt: bool = False) -> None:
        """Charge `amount`; below empty only with `debt` (a request bigger than the window)."""
        level = self._refill() - amount
        self._level = level if debt else max(0.0, level)

    @property
    def used(self) -> float:
        return self.capacity - self._refill()

    @property
    def remaining(self) -> int:
        """Scaled to a minute, as OpenAI reports it."""
        return max(0, math.floor(self._refill() * self.limit / self.capacity))

    @property
    def until_full(self) -> float:
        return max(0.0, (self.capacity - self._refill()) * 60 / self.limit)


class SlidingWindow:
    """At most `capacity` admitted in any `length_s` seconds, judged from running totals.

    Each admission is logged with when it came and the total admitted so far, itself included.
    What the window holds is the newest running total less the one of the last admission that
    has left it; a request that does not fit waits, found by bisection, for the admission whose
    leaving takes the window down to room for it.
    """

    def __init__(self, capacity: float, length_s: float, clock: Clock) -> None:
        self.capacity = capacity
        self.length_s = length_s
        self._clock = clock
        self._times: list[float] = []
        self._totals: list[float] = []  # admitted up to each entry, rebased as entries are dropped
        self._start = 0  # entries before this index have left the window
        self._left = 0.0  # the running total of the last entry that left

    def wait_for(self, amount: float) -> float:
        """Seconds until `amount` fits (0 if it fits now); more than capacity needs an empty log."""
        now = self._slide()
        excess = self._held() - (self.capacity - min(amount, self.capacity))
        if excess <= SLACK:
            return 0.0
        last = bisect.bisect_left(self._totals, self._left + excess - SLACK, lo=self._start)
        return self._times[min(last, len(self._times) - 1)] + self.length_s - now

    @property
    def used(self) -> float:
        self._slide()
        return self._held()

    def take(self, amount: float) -> None:
        now = self._slide()
        self._times.append(now)
        self._totals.append((self._totals[-1] if self._totals else 0.0) + amount)

    def rescaled(self, capacity: float) -> SlidingWindow:
        """The same log under another capacity (a limit changed mid-run)."""
        window = SlidingWindow(capacity, self.length_s, self._clock)
        window._times, window._totals = self._times[self._start :], self._totals[self._start :]
        window._left = self._left
        return window

    def _slide(self) -> float:
        """Move the window's start up to now; return now."""
        now = self._clock()
        # A client that waited exactly the advertised time must fit: allow for float error.
        start = bisect.bisect_right(self._times, now - self.length_s + SLACK, lo=self._start)
        if start > self._start:
            self._start, self._left = start, self._totals[start - 1]
        if 2 * self._start > len(self._times):
            self._drop_left()
        return now

    def _held(self) -> float:
        return self._totals[-1] - self._left if self._start < len(self._totals) else 0.0

    def _drop_left(self) -> None:
        """Forget the entries that left, counting the rest from zero again (no float drift)."""
        left = self._left
        self._times = self._times[self._start :]
        self._totals = [total - left for total in self._totals[self._start :]]
        self._start, self._left = 0, 0.0


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request did not fit: which bucket, and the numbers OpenAI quotes in its 429."""

    kind: str  # "requests" or "tokens", as in the 429 body's "type"
    limit: int
    used: int
    requested: int
    wait: float  # seconds until it fits; inf when it never can

    def message(self, model: str) -> str:
        unit = "requests per min (RPM)" if self.kind == "requests" else "tokens per min (TPM)"
        where = f"for {model} in organization {ORGANIZATION} on {unit}"
        if math.isinf(self.wait):
            return (
                f"Request too large {where}: Limit {self.limit}, Requested {self.requested}. "
                "The input or output tokens must be reduced in order to run successfully. "
                f"Visit {LIMITS_URL} to learn more."
            )
        return (
            f"Rate limit reached {where}: Limit {self.limit}, Used {self.used}, "
            f"Requested {self.requested}. Please try again in {format_duration(self.wait)}. "
            f"Visit {LIMITS_URL} to learn more."
        )


class RateLimits:
    """The two buckets of one API key; `None` limits are reported but never enforced.

    `window_s`: how many seconds' worth a bucket holds (60 as OpenAI documents; 1 for
    1-second windows). `windows`: "buckets" (only those) or "sliding" (also no more than
    the share of the limit in any `sliding_s` seconds). `reported`: (rpm, tpm) for the
    headers to state instead of the real limits; None in it means "the real one".
    `dialect`: see `dialects`; `wall` turns the minutes of a `fixed-minute` server.
    """

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        clock: Clock,
        *,
        window_s: float = 60.0,
        windows: str = "buckets",
        sliding_s: float = 1.0,
        reported: tuple[int | None, int | None] = (None, None),
        dialect: str = dialects.OPENAI,
        wall: Clock = time.time,
    ) -> None:
        for name, limit in (
            ("rpm", rpm),
            ("tpm", tpm),
            *zip(("reported rpm", "reported tpm"), reported, strict=True),
        ):
            if limit is not None and (type(limit) is not int or limit < 1):
                raise ValueError(f"{name} must be a positive integer or None, not {limit!r}")
        if not 0 < window_s <= 60:
            raise ValueError(f"window_s must be in (0, 60], not {window_s!r}")
        if windows not in WINDOWS:
            raise ValueError(f"windows must be one of {', '.join(WINDOWS)}, not {windows!r}")
        if not 0 < sliding_s <= 60:
            raise ValueError(f"sliding_s must be in (0, 60], not {sliding_s!r}")
        self.enforced = (rpm is not None, tpm is not None)
        self.window_s, self.windows, self.sliding_s = window_s, windows, sliding_s
        self.reported = reported
        self.dialect, self.wall = dialects.check_dialect(dialect), wall
        rpm, tpm = rpm or UNLIMITED_RPM, tpm or UNLIMITED_TPM
        self.requests: Bucket | FixedWindow
        self.tokens: Bucket | FixedWindow
        if dialect == dialects.FIXED_MINUTE:
            self.requests, self.tokens = FixedWindow(rpm, wall), FixedWindow(tpm, wall)
        else:
            self.requests, self.tokens = Bucket(rpm, clock, window_s), Bucket(tpm, clock, window_s)
        self.sliding: tuple[SlidingWindow, SlidingWindow] | None = None
        if windows == "sliding":
            self.sliding = (
                SlidingWindow(self.requests.limit * sliding_s / 60, sliding_s, clock),
                SlidingWindow(self.tokens.limit * sliding_s / 60, sliding_s, clock),
            )

    def changed(self, rpm: int | None, tpm: int | None, clock: Clock, **options: Any) -> RateLimits:
        """New limits that still count what was used of these, as a limit lowered mid-run does."""
        keep = {"window_s": self.window_s, "windows": self.windows, "sliding_s": self.sliding_s}
        keep |= {"dialect": self.dialect, "wall": self.wall}
        new = RateLimits(rpm, tpm, clock, **{**keep, **options})
        new.spend(round(self.requests.used), round(self.tokens.used), windows=False)
        if new.sliding and self.sliding and new.sliding_s == self.sliding_s:
            new.sliding = (
                self.sliding[0].rescaled(new.sliding[0].capacity),
                self.sliding[1].rescaled(new.sliding[1].capacity),
            )
        return new

    def spend(self, requests: int, tokens: int, *, windows: bool = True) -> None:
        """Charge what another client sent with the same key (it was let through)."""
        self.requests.take(min(requests, self.requests.capacity))
        self.tokens.take(min(tokens, self.tokens.capacity))
        if self.sliding and windows:
            for window, amount in zip(self.sliding, (requests, tokens), strict=True):
                window.take(min(amount, window.capacity))

    def admit(self, tokens: int) -> Refusal | None:
        """Charge one request of `tokens` if the buckets (and windows) allow it, else say why."""
        for kind, index, bucket, amount in (
            ("requests", 0, self.requests, 1),
            ("tokens", 1, self.tokens, tokens),
        ):
            if not self.enforced[index]:
                continue
            if amount > bucket.limit:
                return Refusal(kind, bucket.limit, 0, amount, math.inf)
            wait = bucket.wait_for(amount)
            if self.sliding is not None:
                wait = max(wait, self.sliding[index].wait_for(amount))
            if wait > 0:
                used = bucket.limit - bucket.remaining
                return Refusal(kind, bucket.limit, used, amount, wait)
        self.requests.take(1, debt=self.enforced[0])
        self.tokens.take(tokens, debt=self.enforced[1])
        if self.sliding is not None:
            self.sliding[0].take(1)
            self.sliding[1].take(tokens)
        return None

    def headers(self) -> dict[str, str]:
        rpm, tpm = self.reported
        return dialects.render(
            self.dialect,
            {
                "x-ratelimit-limit-requests": str(rpm or self.requests.limit),
                "x-ratelimit-limit-tokens": str(tpm or self.tokens.limit),
                "x-ratelimit-remaining-requests": str(self.requests.remaining),
                "x-ratelimit-remaining-tokens": str(self.tokens.remaining),
                "x-ratelimit-reset-requests": format_duration(self.requests.until_full),
                "x-ratelimit-reset-tokens": format_duration(self.tokens.until_full),
            },
        )


def format_duration(seconds: float) -> str:
    """Go's time.Duration format at millisecond precision, rounded up: `120ms`, `1m30.5s`.

    Rounding up matters: a client that waits exactly the advertised time must then fit.
    """
    ms = max(0, math.ceil(round(seconds * 1000, 6)))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest // 1000}.{rest % 1000:03d}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"
