"""The rate limits the fake server holds its API key to, changeable while it serves.

A `RateLimits` (fake.limits) is one set of buckets. The gate keeps the one in force: it swaps it
when a test or `POST /_fake/limits` changes the limits, puts the constructor's back on reset,
and turns a refusal into the 429 the API sends. It also keeps how a request is charged against
tokens-per-minute (the counting mode, fake.counting).
"""

from __future__ import annotations

import threading
import time
from typing import Any

from batchbot.fake import errors as fake_errors
from batchbot.fake.counting import check_count_mode
from batchbot.fake.dialects import check_dialect
from batchbot.fake.limits import Clock, RateLimits


class RateGate:
    """Admits or refuses each request by the limits in force; a test thread may change them."""

    def __init__(
        self,
        rpm: int | None,
        tpm: int | None,
        clock: Clock,
        *,
        window_s: float,
        windows: str,
        sliding_s: float,
        dialect: str,
        count: str,
    ) -> None:
        """The limits and counting mode given here are those `reset` restores; see `RateLimits`."""
        self._clock = clock
        # A wound clock also turns a fixed-minute server's minutes; else the wall clock does.
        wall = time.time if clock is time.monotonic else clock
        self._limits_at_start = (rpm, tpm)
        self._options_at_start: dict[str, Any] = {
            "window_s": window_s,
            "windows": windows,
            "sliding_s": sliding_s,
            "dialect": check_dialect(dialect),
            "wall": wall,
        }
        self._count_at_start = check_count_mode(count)
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Full buckets of the constructor's limits, counted as the constructor said."""
        limits = RateLimits(*self._limits_at_start, self._clock, **self._options_at_start)
        with self._lock:
            self._limits, self.count = limits, self._count_at_start

    def change(
        self,
        *,
        rpm: int | None,
        tpm: int | None,
        window_s: float | None = None,
        windows: str | None = None,
        sliding_s: float | None = None,
        reported_rpm: int | None = None,
        reported_tpm: int | None = None,
        keep_usage: bool = False,
        count: str | None = None,
        dialect: str | None = None,
    ) -> None:
        """Replace the rate limits: full buckets of the new size, or (`keep_usage`) buckets
        that still count what was used of the old ones, as a limit lowered mid-run does.

        `window_s`, `windows`, `sliding_s`, `dialect` None keep the current ones. `reported_*`: what
        the headers should say instead of the real limits. `count` (None keeps it): how
        requests are charged.
        """
        mode = None if count is None else check_count_mode(count)
        with self._lock:
            old = self._limits
            options: dict[str, Any] = {
                "window_s": window_s or old.window_s,
                "windows": windows or old.windows,
                "sliding_s": sliding_s or old.sliding_s,
                "dialect": dialect or old.dialect,
                "reported": (reported_rpm, reported_tpm),
                "wall": old.wall,
            }
            if keep_usage:
                self._limits = old.changed(rpm, tpm, self._clock, **options)
            else:
                self._limits = RateLimits(rpm, tpm, self._clock, **options)
            self.count = mode or self.count

    def spend(self, *, requests: int = 0, tokens: int = 0) -> None:
        """Spend the key's budget as another client would (for a shared-key benchmark)."""
        with self._lock:
            self._limits.spend(requests, tokens)

    def admit(self, model: str, tokens: int, *, hint: bool) -> None:
        """Charge a request of `tokens` to the limits, or raise the 429 that refuses it.

        `hint`: the refusal carries the retry-after headers some deployments send.
        """
        with self._lock:
            refusal = self._limits.admit(tokens)
        if refusal is not None:
            message = refusal.message(model)
            raise fake_errors.rate_limited(message, refusal.kind, refusal.wait, hint=hint)

    def headers(self) -> dict[str, str]:
        """The rate-limit headers every answer carries, in the dialect in force."""
        with self._lock:
            return self._limits.headers()

    @property
    def requests_per_minute(self) -> int:
        """The request limit in force (or the one reported as if, when none is enforced)."""
        with self._lock:
            return self._limits.requests.limit
