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
- `reported`: the limits the headers state, when they should differ from those enforced.
- `spend()`: another client using the same key.
- `RateLimits.changed()`: new limits that keep what was used of the old ones.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# With no limit configured the server still reports buckets, sized like usage tier 5 for
# gpt-4o-mini, so clients that learn from headers see plausible numbers; it never refuses.
UNLIMITED_RPM = 30_000
UNLIMITED_TPM = 150_000_000

ORGANIZATION = "org-fake"
LIMITS_URL = "https://platform.openai.com/account/rate-limits"

Clock = Callable[[], float]


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
        return missing * 60 / self.limit if missing > 1e-9 else 0.0

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
    1-second windows). `reported`: (rpm, tpm) for the headers to state instead of the real
    limits; None in it means "the real one".
    """

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        clock: Clock,
        *,
        window_s: float = 60.0,
        reported: tuple[int | None, int | None] = (None, None),
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
        self.enforced = (rpm is not None, tpm is not None)
        self.window_s = window_s
        self.reported = reported
        self.requests = Bucket(rpm if rpm is not None else UNLIMITED_RPM, clock, window_s)
        self.tokens = Bucket(tpm if tpm is not None else UNLIMITED_TPM, clock, window_s)

    def changed(self, rpm: int | None, tpm: int | None, clock: Clock, **options: Any) -> RateLimits:
        """New limits that still count what was used of these, as a limit lowered mid-run does."""
        new = RateLimits(rpm, tpm, clock, **{"window_s": self.window_s, **options})
        new.spend(round(self.requests.used), round(self.tokens.used))
        return new

    def spend(self, requests: int, tokens: int) -> None:
        """Charge what another client sent with the same key (it was let through)."""
        self.requests.take(min(requests, self.requests.capacity))
        self.tokens.take(min(tokens, self.tokens.capacity))

    def admit(self, tokens: int) -> Refusal | None:
        """Charge one request of `tokens` if both buckets allow it, else say why not."""
        for kind, bucket, amount, enforced in (
            ("requests", self.requests, 1, self.enforced[0]),
            ("tokens", self.tokens, tokens, self.enforced[1]),
        ):
            if not enforced:
                continue
            if amount > bucket.limit:
                return Refusal(kind, bucket.limit, 0, amount, math.inf)
            wait = bucket.wait_for(amount)
            if wait > 0:
                used = bucket.limit - bucket.remaining
                return Refusal(kind, bucket.limit, used, amount, wait)
        self.requests.take(1, debt=self.enforced[0])
        self.tokens.take(tokens, debt=self.enforced[1])
        return None

    def headers(self) -> dict[str, str]:
        rpm, tpm = self.reported
        return {
            "x-ratelimit-limit-requests": str(rpm or self.requests.limit),
            "x-ratelimit-limit-tokens": str(tpm or self.tokens.limit),
            "x-ratelimit-remaining-requests": str(self.requests.remaining),
            "x-ratelimit-remaining-tokens": str(self.tokens.remaining),
            "x-ratelimit-reset-requests": format_duration(self.requests.until_full),
            "x-ratelimit-reset-tokens": format_duration(self.tokens.until_full),
        }


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
