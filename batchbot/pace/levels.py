"""What the server's counters hold now, read from its headers: the headroom's evidence.

Two kinds of counter (see `dialect`):
- OpenAI's buckets refill. The `remaining` counts, less all we sent since the request they
  answer, say what a bucket holds now (`bucket_levels`).
- A fixed-minute counter does not: what it has left for us is its last count less what we
  sent since, until the minute turns (`dialect.WindowShare.left`).

Either way a kind is read as (limit, level), or None when the headers leave it unknown or a
burst must not be spent on it. Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass

from batchbot.pace.headers import RateLimitHeaders

FULL = 0.97  # a bucket this full is one nobody has been spending

Levels = dict[str, tuple[float, float] | None]


@dataclass(frozen=True, slots=True)
class Sent:
    """When a request went, and all that had gone by then (it included), as the server counts."""

    at: float
    requests: float
    tokens: float

    def of(self, kind: str) -> float:
        return self.requests if kind == "requests" else self.tokens


def reported(headers: RateLimitHeaders) -> dict[str, tuple[int | None, int | None]]:
    """(limit, remaining) per kind, as the headers state them."""
    return {
        "requests": (headers.limit_requests, headers.remaining_requests),
        "tokens": (headers.limit_tokens, headers.remaining_tokens),
    }


def full(headers: RateLimitHeaders, paced: Collection[str]) -> bool:
    """Whether the headers show every paced bucket as full as nobody has been using it."""
    counts = reported(headers)
    for kind in paced:
        limit, remaining = counts[kind]
        if not limit or remaining is None or remaining < FULL * limit:
            return False
    return True


def bucket_levels(
    now: float,
    headers: RateLimitHeaders,
    paced: Collection[str],
    charged: Mapping[str, float],
    sent: Sent | None,
    *,
    capped: Collection[str] = (),
) -> Levels:
    """For each paced kind, (limit, what the server's bucket holds now, at least).

    If the headers tell the bucket at the request's arrival, it has refilled since and lost
    all we sent since (`charged` is all we sent, `sent` where that stood as the request went);
    if they tell it as the answer left, what it holds now is what they say. Not knowing which,
    take the smaller. A `capped` kind (a limit the user set) is never burst above: None.
    """
    counts = reported(headers)
    levels: Levels = {}
    for kind in paced:
        limit, remaining = counts[kind]
        if not limit or remaining is None or kind in capped:
            levels[kind] = None
        elif sent is None:  # nothing says what went since: only a full bucket is sure
            levels[kind] = (limit, remaining) if remaining >= FULL * limit else None
        else:
            since = charged[kind] - sent.of(kind)
            refilled = min(limit, remaining + limit / 60 * max(0.0, now - sent.at))
            levels[kind] = (limit, min(remaining, refilled - since))
    return levels
