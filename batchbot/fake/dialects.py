"""The rate-limit header dialects the fake server speaks, for testing clients against gateways.

Servers that copy OpenAI's API do not all copy its rate limits:

- `openai`: buckets that refill continuously; limit, remaining and a reset duration for
  requests and tokens (see `limits`).
- `fixed-minute`: counters of the wall-clock minute, as LiteLLM's proxy keeps them: remaining
  only goes down within the minute and jumps back to the limit when the minute turns, and
  there is no `x-ratelimit-reset-*`. Enforced the same way: a minute's limit, spent however
  fast, and nothing more until the minute turns.
- `none`: no rate-limit headers at all, as vLLM sends; the limits are still enforced with
  429s.

Limits enforced over short windows (Azure evaluates RPM over 10-second intervals) are
`windows="sliding", sliding_s=10` (see `limits`), in the `openai` or `none` dialect.
"""

from __future__ import annotations

import math
from collections.abc import Callable

OPENAI = "openai"
FIXED_MINUTE = "fixed-minute"
NONE = "none"
DIALECTS = (OPENAI, FIXED_MINUTE, NONE)
MINUTE_S = 60.0
RESETS = ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens")


def check_dialect(dialect: str) -> str:
    """`dialect` if the fake server speaks it, else a ValueError naming those it does."""
    if dialect not in DIALECTS:
        raise ValueError(f"dialect must be one of {', '.join(DIALECTS)}, not {dialect!r}")
    return dialect


class FixedWindow:
    """`limit` per wall-clock minute: a count that only goes up until the minute turns.

    The same face as `limits.Bucket`, so `RateLimits` enforces either.
    """

    def __init__(self, limit: int, wall: Callable[[], float]) -> None:
        self.limit = limit
        self.capacity = float(limit)
        self._wall = wall
        self._minute = self._now()
        self._used = 0.0

    def _now(self) -> int:
        return math.floor(self._wall() / MINUTE_S)

    def _turn(self) -> float:
        """The count of the current minute, starting it afresh if the minute has turned."""
        minute = self._now()
        if minute != self._minute:
            self._minute, self._used = minute, 0.0
        return self._used

    def wait_for(self, amount: int) -> float:
        """Seconds until `amount` fits: 0 now, else until the minute turns."""
        if self._turn() + amount <= self.limit:
            return 0.0
        return (self._minute + 1) * MINUTE_S - self._wall()

    def take(self, amount: float, *, debt: bool = False) -> None:
        """Count `amount`; `debt` changes nothing, as nothing refills."""
        self._used = self._turn() + amount

    @property
    def used(self) -> float:
        return self._turn()

    @property
    def remaining(self) -> int:
        return max(0, math.floor(self.limit - self._turn()))

    @property
    def until_full(self) -> float:
        return (self._minute + 1) * MINUTE_S - self._wall() if self._turn() else 0.0


def render(dialect: str, headers: dict[str, str]) -> dict[str, str]:
    """OpenAI's six x-ratelimit-* headers as `dialect` sends them."""
    if dialect == NONE:
        return {}
    if dialect == FIXED_MINUTE:
        return {name: value for name, value in headers.items() if name not in RESETS}
    return headers
