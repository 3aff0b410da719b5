"""How the server counts a request's tokens, compared with batchbot's estimate, per model.

OpenAI's rate limiter does not run tiktoken: it estimates a request from its characters, and
another gateway may count its own way. The server's accounting is the one that refuses, so
the limiter charges each request its estimate times the ratio learned here.

Two sources, both the server's own numbers:
- A 429 states the server's count of the refused request ("Limit 300000, Used 299874,
  Requested 228"): over our estimate of the same request, that is the ratio, exactly.
- `x-ratelimit-remaining-tokens` across responses: between two of them the bucket refilled
  limit/60 a second and lost what the server charged, so over a few seconds
  charged = refill - (change in remaining), and the ratio is that over what we sent. This
  finds a server that counts less, which never answers 429. While the bucket is nearly
  full the refill may have been cut off at the top, and the arithmetic says nothing.

Another client spending tokens on the same key looks, in the headers, like a server that
counts more; either way the pace that fits is the same, so the limiter does not try to
tell them apart (`sharing` then sees our sends in the server's units, and nothing left over).

Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

import math
import re
from collections import deque
from dataclasses import dataclass

WINDOW_S = 4.0  # how far back the header estimate looks
MIN_SPAN_S = 2.0  # no estimate from a shorter span
NEARLY_FULL = 0.9  # above this share of the limit left, the refill may have been capped
RISES_AT_MOST = 1.5  # a per-minute bucket refills at limit/60 a second; allow for rounding
MIN_OURS = 0.2  # no estimate unless we sent at least this share of the refill: too noisy
SETTLE_S = 1.0  # a header estimate moves the ratio this fast (an average over ~1 s)
NOISE = 0.02  # a ratio this little under 1 is charged as 1 (see `Calibration.charge`)
LOWEST, HIGHEST = 0.5, 2.0  # beyond these it is not a way of counting, it is a fault
NOTABLE = 0.05  # a ratio this far from 1 is said once; a 429 that moves it this far is explained
SAY_AFTER_S = 4.0  # ...once it has held that long, so the figure said is a settled one
EXPLAINS_S = 1.0  # 429s this soon after the ratio moved are requests charged the old one
# Only a refusal on tokens quotes tokens: "... on tokens per min (TPM): Limit 300000, Used
# 299874, Requested 228." A refusal on requests says "Requested 1" of something else.
REQUESTED = re.compile(r"\btokens\b[^.]*?\bRequested (\d+)", re.IGNORECASE)
SAID = "the server counts ~{pct} % {more} tokens than tiktoken; pacing for that"


def requested_in(message: str | None) -> int | None:
    """The server's count of a refused request, from its 429 message ("Requested 228")."""
    match = REQUESTED.search(message or "")
    return int(match.group(1)) if match else None


@dataclass(frozen=True, slots=True)
class Calibrated:
    """The server was found to count a model's tokens `ratio` times batchbot's estimate."""

    model: str | None
    ratio: float

    def message(self, source: str = "") -> str:
        """`the server counts ~14 % more tokens than tiktoken; pacing for that`."""
        more = "more" if self.ratio > 1 else "fewer"
        return SAID.format(pct=round(abs(self.ratio - 1) * 100), more=more)


@dataclass(frozen=True, slots=True)
class _Sample:
    time: float
    remaining: float
    ours: float  # our estimate of every token we had sent to this model by then


class ModelCount:
    """One model's ratio: server count / batchbot's estimate, 1 until the server says more."""

    def __init__(self) -> None:
        self.ratio = 1.0
        self._ours = 0.0
        self._samples: deque[_Sample] = deque()
        self._limit: int | None = None
        self._off_since: float | None = None  # since when the ratio is notably off 1
        self.said = False
        self.moved_at = -math.inf  #: when a 429 last moved the ratio notably
        self.headers_lie = False  #: remaining rose faster than a per-minute bucket refills

    def sent(self, estimate: float) -> None:
        self._ours += estimate

    def refused(self, now: float, estimate: int, requested: int | None) -> bool:
        """A 429 quoting the server's count: True if it is explained by a ratio that moved
        notably, now or in the second before (requests then on their way had the old one)."""
        self._ours -= estimate  # it cost nothing
        if requested is not None and estimate > 0:
            ratio = _clamp(requested / estimate)
            if abs(ratio - self.ratio) >= NOTABLE * self.ratio:
                self.moved_at = now
            self.ratio = ratio
        return now - self.moved_at < EXPLAINS_S

    def observe(self, now: float, limit: int | None, remaining: int | None) -> None:
        """Take one response's token limit and remaining count."""
        if not limit or remaining is None or self.headers_lie:
            return
        if limit != self._limit:  # another bucket: the old samples say nothing of it
            self._samples.clear()
            self._limit = limit
        if self._samples and self._rose_too_fast(now, limit, remaining):
            # Not a per-minute bucket (a gateway's, or a fake's 1-second one scaled up to a
            # minute): its remaining says nothing about what it charged. Stop listening.
            self.headers_lie = True
            return
        self._samples.append(_Sample(now, remaining, self._ours))
        while len(self._samples) > 2 and self._samples[1].time <= now - WINDOW_S:
            self._samples.popleft()
        first, last = self._samples[0], self._samples[-1]
        span = now - first.time
        refill = limit / 60 * span
        ours = last.ours - first.ours
        if span < MIN_SPAN_S or ours < MIN_OURS * refill:
            return
        if max(first.remaining, remaining) >= NEARLY_FULL * limit:
            return
        charged = refill - (remaining - first.remaining)
        weight = min(1.0, (now - self._previous(now)) / SETTLE_S)
        self.ratio = _clamp(self.ratio + (charged / ours - self.ratio) * weight)

    def _rose_too_fast(self, now: float, limit: int, remaining: int) -> bool:
        last = self._samples[-1]
        refill = limit / 60 * (now - last.time)
        return remaining - last.remaining > RISES_AT_MOST * refill + limit / 60

    def _previous(self, now: float) -> float:
        return self._samples[-2].time if len(self._samples) > 1 else now

    def worth_saying(self, now: float) -> bool:
        """True once, when the ratio has been notably off 1 for SAY_AFTER_S."""
        if abs(self.ratio - 1) < NOTABLE:
            self._off_since = None
            return False
        if self._off_since is None:
            self._off_since = now
        if self.said or now - self._off_since < SAY_AFTER_S:
            return False
        self.said = True
        return True


class Calibration:
    """The ratio for each model the run sends to (None: the model is not known)."""

    def __init__(self) -> None:
        self._models: dict[str | None, ModelCount] = {}

    def __getitem__(self, model: str | None) -> ModelCount:
        count = self._models.get(model)
        if count is None:
            count = self._models[model] = ModelCount()
        return count

    @property
    def headers_lie(self) -> bool:
        """Whether some model's remaining-tokens rose faster than a per-minute bucket can."""
        return any(count.headers_lie for count in self._models.values())

    def charge(self, model: str | None, estimate: int) -> float:
        """What the server will count for a request we estimate at `estimate` tokens."""
        count = self._models.get(model)
        ratio = count.ratio if count is not None else 1.0
        # A little under 1 is the header estimate's noise more often than a server counting
        # less, and a window filled to the brim by the lower count overflows by the difference.
        return estimate * (1.0 if 1 - NOISE < ratio < 1 else ratio)


def _clamp(ratio: float) -> float:
    return min(HIGHEST, max(LOWEST, ratio))
