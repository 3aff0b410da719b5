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

What the ratio is of. OpenAI's rate limiter estimates a request from its characters plus
`max_tokens` (`charcount`), and for a mix of request sizes no single ratio to tiktoken's
count fits them all. So each request comes with both estimates, `exact` and `chars`, and
the ratio is of the one the server is found to count by: a 429's "Requested N" that matches
one and not the other, or the headers' fall over a few seconds that matches one ratio of 1
and not the other. Until then the exact count (measured the better start in every header
dialect: docs/limits.md), or what the user set (`token_count:`), which evidence never
changes.

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
MATCHES = 0.02  # a count this close to an estimate (or 2 tokens) is that estimate's
SAID = "the server counts ~{pct} % {more} tokens than tiktoken; pacing for that"
EXACT, CHARS = "exact", "chars"
MODES = (EXACT, CHARS)
SAID_MODE = {
    CHARS: "the server counts a request by its characters (about 4 a token) plus max_tokens, "
    "as OpenAI documents; pacing for that",
    EXACT: "the server counts a request's tokens exactly plus max_tokens; pacing for that",
}
Estimates = dict[str, float]  # a request's tokens by each way of counting


def requested_in(message: str | None) -> int | None:
    """The server's count of a refused request, from its 429 message ("Requested 228")."""
    match = REQUESTED.search(message or "")
    return int(match.group(1)) if match else None


def estimates(tokens: float, chars: float | None = None) -> Estimates:
    """A request's two estimates; with no count by characters, both are the exact one."""
    return {EXACT: tokens, CHARS: tokens if chars is None else chars}


@dataclass(frozen=True, slots=True)
class Calibrated:
    """The server was found to count a model's tokens `ratio` times batchbot's estimate, or
    (`mode`) by another way of counting than the one it was charged by."""

    model: str | None
    ratio: float
    mode: str | None = None

    def message(self, source: str = "") -> str:
        """`the server counts ~14 % more tokens than tiktoken; pacing for that`."""
        if self.mode is not None:
            return SAID_MODE[self.mode]
        more = "more" if self.ratio > 1 else "fewer"
        return SAID.format(pct=round(abs(self.ratio - 1) * 100), more=more)


@dataclass(frozen=True, slots=True)
class _Sample:
    time: float
    remaining: float
    ours: Estimates  # every token we had sent to this model by then, by each way of counting


class ModelCount:
    """One model's ratio: server count / batchbot's estimate, 1 until the server says more.

    `mode`: the estimate the ratio is of; None until evidence (or the user) chose one.
    """

    def __init__(self, mode: str | None = None) -> None:
        self.ratio = 1.0
        self.mode, self.fixed = mode, mode is not None
        self.switched: str | None = None  #: a mode evidence chose, not yet said
        self._ours = estimates(0.0)
        self._samples: deque[_Sample] = deque()
        self._limit: int | None = None
        self._off_since: float | None = None  # since when the ratio is notably off 1
        self.said = False
        self.moved_at = -math.inf  #: when a 429 last moved the ratio notably
        self.headers_lie = False  #: remaining rose faster than a per-minute bucket refills

    def sent(self, estimate: Estimates) -> None:
        for mode in MODES:
            self._ours[mode] += estimate[mode]

    def refused(self, now: float, estimate: Estimates, requested: int | None, mode: str) -> bool:
        """A 429 quoting the server's count of a request charged by `mode`: True if it is
        explained by a count that moved notably, now or in the second before (requests then
        on their way were charged the old one)."""
        for kind in MODES:
            self._ours[kind] -= estimate[kind]  # it cost nothing
        if requested is None or estimate[mode] <= 0:
            return now - self.moved_at < EXPLAINS_S
        before = self.ratio * estimate[mode]
        matched = [kind for kind in MODES if _close(requested, estimate[kind])]
        if not self.fixed and len(matched) == 1 and matched[0] != mode:
            self._choose(matched[0])
            mode = matched[0]
        self.ratio = _clamp(requested / estimate[self.mode or mode])
        if abs(requested - before) >= NOTABLE * before:
            self.moved_at = now
        return now - self.moved_at < EXPLAINS_S

    def _choose(self, mode: str) -> None:
        """Evidence says the server counts by `mode`: charge by it from now on, and say so."""
        self.mode, self.switched, self.ratio = mode, mode, 1.0
        self._samples.clear()  # their ratio was of the other estimate

    def observe(
        self, now: float, limit: int | None, remaining: int | None, mode: str, *, alone: bool
    ) -> None:
        """Take one response's token limit and remaining count; requests are charged by
        `mode` until one is chosen. Unless we are `alone` on the key, the count's fall is not
        ours to explain: it only shows whether the count rises too fast to be believed."""
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
        self._samples.append(_Sample(now, remaining, dict(self._ours)))
        if not alone:
            self._samples = deque([self._samples[-1]])
            return
        while len(self._samples) > 2 and self._samples[1].time <= now - WINDOW_S:
            self._samples.popleft()
        first, last = self._samples[0], self._samples[-1]
        span = now - first.time
        refill = limit / 60 * span
        ours = {kind: last.ours[kind] - first.ours[kind] for kind in MODES}
        mode = self.mode or mode
        if span < MIN_SPAN_S or min(ours.values()) < MIN_OURS * refill:
            return
        if max(first.remaining, remaining) >= NEARLY_FULL * limit:
            return
        charged = refill - (remaining - first.remaining)
        other = CHARS if mode == EXACT else EXACT
        fits = {kind: abs(charged / ours[kind] - 1) for kind in MODES}
        if not self.fixed and fits[mode] >= NOTABLE and fits[other] < NOTABLE / 2:
            self._choose(other)  # the other way of counting explains the fall exactly
            return
        weight = min(1.0, (now - self._previous(now)) / SETTLE_S)
        self.ratio = _clamp(self.ratio + (charged / ours[mode] - self.ratio) * weight)

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
    """The ratio for each model the run sends to (None: the model is not known).

    `mode`: the way of counting the user set (`token_count:`), kept whatever the evidence;
    None lets evidence choose, starting from the exact count.
    """

    def __init__(self, mode: str | None = None) -> None:
        self._models: dict[str | None, ModelCount] = {}
        self._mode = mode

    def __getitem__(self, model: str | None) -> ModelCount:
        count = self._models.get(model)
        if count is None:
            count = self._models[model] = ModelCount(self._mode)
        return count

    def news(self, model: str | None, now: float | None = None) -> Calibrated | None:
        """What to say, once each: a way of counting the server was found to use, or a ratio
        that has settled notably off 1 (`now`: after a reading of the headers)."""
        count = self[model]
        if count.switched is not None:
            mode, count.switched = count.switched, None
            return Calibrated(model, count.ratio, mode)
        if now is not None and count.worth_saying(now):
            return Calibrated(model, count.ratio)
        return None

    def chosen(self, model: str | None) -> str | None:
        """The way of counting evidence (or the user) chose for `model`; None if none did."""
        count = self._models.get(model)
        return count.mode if count is not None else self._mode

    def start_from(self, model: str | None, mode: str | None) -> None:
        """Charge `model` by `mode`, as an earlier run found the server counts (unless the
        user chose)."""
        count = self[model]
        if mode in MODES and not count.fixed:
            count.mode = mode

    def mode(self, model: str | None) -> str:
        """The estimate a request to `model` is charged by now."""
        count = self._models.get(model)
        return (count.mode if count is not None else self._mode) or EXACT

    @property
    def headers_lie(self) -> bool:
        """Whether some model's remaining-tokens rose faster than a per-minute bucket can."""
        return any(count.headers_lie for count in self._models.values())

    def charge(self, model: str | None, estimate: float, chars: float | None = None) -> float:
        """What the server will count for a request we estimate at `estimate` tokens exactly
        and `chars` by its characters (None: as `estimate`)."""
        count = self._models.get(model)
        ratio = count.ratio if count is not None else 1.0
        chosen = estimates(estimate, chars)[self.mode(model)]
        # A little under 1 is the header estimate's noise more often than a server counting
        # less, and a window filled to the brim by the lower count overflows by the difference.
        return chosen * (1.0 if 1 - NOISE < ratio < 1 else ratio)


def _close(count: float, estimate: float) -> bool:
    return abs(count - estimate) <= max(2.0, MATCHES * estimate)


def _clamp(ratio: float) -> float:
    return min(HIGHEST, max(LOWEST, ratio))
