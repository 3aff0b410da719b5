"""How much of the key's budget is left for us when other clients spend it too.

OpenAI's buckets refill at the limit per minute. Between two responses a bucket's level
changes by the refill minus everything charged to the key: what we sent (we count it) and
what everyone else sent. So, over a span of a few seconds,

    others = refill - (change in remaining) - ours

and our share of the limit is what the others leave. While the bucket is nearly full the
refill may have been cut off at the top and the arithmetic says nothing, but then nobody is
short of budget either: the share is all of it. A low `remaining` alone is no reason to slow
down - a bucket emptied by a burst an hour ago refills as long as we stay under the limit.
This holds only where the counts refill: `dialect` feeds it OpenAI's headers alone, never a
gateway's fixed-minute counter, whose falling count would read as another client.
Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

WINDOW_S = 3.0  # how far back the estimate looks: long enough to average out single requests
MIN_SPAN_S = 1.0  # no estimate from a shorter span
NEARLY_FULL = 0.9  # above this share of the limit left, the refill may have been capped
MIN_SHARE = 0.05  # never plan on less; 429 pauses cover the rest
RISES_AT_MOST = 1.5  # a per-minute bucket refills at limit/60 a second; allow for rounding


@dataclass(frozen=True, slots=True)
class _Sample:
    time: float
    remaining: float
    ours: float  # everything we had sent by then


class SharedBudget:
    """One of the key's buckets (requests or tokens): the share of its limit left for us."""

    def __init__(self) -> None:
        self._samples: deque[_Sample] = deque()
        self._limit: int | None = None
        self._ours = 0.0
        self.share = 1.0  #: the latest estimate, in (0, 1]
        self.lies = False  #: it rose faster than a minute's bucket refills: not one

    def sent(self, amount: float) -> None:
        """Count `amount` (1 request, or its tokens) that we let through."""
        self._ours += amount

    def observe(
        self, now: float, limit: int | None, remaining: int | None, reset: float | None = None
    ) -> float:
        """Take one response's limit, remaining count and time until full (`reset`); return
        the share left for us."""
        if not limit or limit <= 0 or remaining is None:
            return self.share
        if reset is not None and _too_soon(limit, remaining, reset):
            self.lies = True
        if limit != self._limit:  # a new limit: the old samples measured another bucket
            self._samples.clear()
            self._limit = limit
        if self.lies or (self._samples and self._rose_too_fast(now, limit, remaining)):
            # A bucket of a second's worth reported as a minute's (or a gateway's count): its
            # remaining says nothing of anyone's spending. Stop listening.
            self.lies, self.share = True, 1.0
            return self.share
        self._samples.append(_Sample(now, remaining, self._ours))
        while len(self._samples) > 2 and self._samples[1].time <= now - WINDOW_S:
            self._samples.popleft()
        first = self._samples[0]
        span = now - first.time
        if span < MIN_SPAN_S:
            return self.share
        if max(first.remaining, remaining) >= NEARLY_FULL * limit:
            self.share = 1.0
            return self.share
        refill = limit / 60 * span
        others = refill - (remaining - first.remaining) - (self._ours - first.ours)
        self.share = min(1.0, max(MIN_SHARE, 1 - others / refill))
        return self.share

    def _rose_too_fast(self, now: float, limit: int, remaining: int) -> bool:
        """A minute's bucket refills at limit/60 a second: a count that rose faster is none."""
        last = self._samples[-1]
        refill = limit / 60 * (now - last.time)
        return remaining - last.remaining > RISES_AT_MOST * refill + limit / 60


def _too_soon(limit: int, remaining: int, reset: float) -> bool:
    """Whether the bucket says it is full again much sooner than a minute's bucket holding
    `remaining` of `limit` could be (a second's bucket scaled up to a minute says so at once)."""
    return reset + 1.0 < (limit - remaining) * 60 / limit / 2
