"""The server's feedback - the x-ratelimit-* headers of each answer, and 429s - and what the
limiter's parts learn from it.

Headers. The limits to follow (`learning`: lower at once, higher once they last, never above
a limit the user set), each new pair said once through `on_change`; the dialect the server
speaks (`dialect`), said once through `on_dialect`; how the server counts tokens
(`calibration`); and what its buckets hold beyond the pace, spent as headroom (`headroom`,
`levels`). Remaining counts that rise faster than a minute's bucket refills hold no
headroom; nor does a bucket other runs on this machine spend too (each would count it as
its own).

429s. A 429 cost nothing, and something went too fast. It ends a burst (and shows the server
refuses bursts, see `headroom`), empties the server's bucket (`buckets`), and may recount
the model's tokens ("Requested N", see `calibration`). It is explained, and counts for
nothing more, when the count moved, when it ends a burst, or when the limits changed in the
second before it. Otherwise it is an accident of timing, which lengthens the guard's slack
(`guard.Guard.widen`), unless such 429s come repeatedly, which cuts the pace (`aim`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from batchbot.pace.calibration import Calibrated, estimates, requested_in
from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.learning import LimitLearner
from batchbot.pace.levels import Sent
from batchbot.pace.notices import LimitsChanged
from batchbot.pace.parts import Parts
from batchbot.pace.settings import Settings

Notice = LimitsChanged | Calibrated


class Feedback:
    """Reads the server's feedback into `parts`; says what is news through the callbacks."""

    def __init__(
        self,
        settings: Settings,
        parts: Parts,
        on_change: Callable[[Notice], object] | None = None,
        on_dialect: Callable[[str], object] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._parts, self._on_change, self._on_dialect = parts, on_change, on_dialect
        rpm, tpm, caps = settings.rpm, settings.tpm, settings.caps
        self.learner = LimitLearner(rpm, tpm, caps, settings.raise_after_s)
        self.latest: RateLimitHeaders | None = None  #: the last headers passed to observe()

    def observe(
        self, headers: RateLimitHeaders, model: str | None = None, sent: Sent | None = None
    ) -> None:
        """Learn from the server's x-ratelimit-* headers: its limits, and what is left of them.
        `sent`: what `wait_for_capacity()` returned for the request they answer."""
        parts = self._parts
        parts.probe.heard()
        self.latest = headers
        now, limits, before = self._loop.time(), parts.buckets.limits, parts.buckets.in_force
        for kind, limit in self.learner.read(now, headers, limits).items():
            parts.buckets.set(kind, limit)
        if (after := parts.buckets.in_force) != before and self.learner.is_new(after):
            self._say(LimitsChanged(*after, *before))
        note = parts.reader.observe(now, headers, limits)
        if note is not None and self._on_dialect is not None:
            self._on_dialect(note)
        refills, alone = parts.reader.refills, parts.aim.alone
        remaining = headers.remaining_tokens if refills else None
        count, mode = parts.calibration[model], parts.calibration.mode(model)
        count.observe(now, headers.limit_tokens, remaining, mode, alone=alone)
        self._say_count(model, now)
        if not (alone and parts.headroom.looking) or (refills and parts.aim.headers_lie):
            return
        paced = [kind for kind, limit in limits.items() if limit is not None]
        charged, held = parts.tally.charged, self.learner.user_bound
        found = parts.reader.levels(now, headers, paced, charged, sent, held)
        left = parts.tally.left()
        if found is not None and parts.headroom.find(now, found, left, refills=refills):
            parts.buckets.repace()

    def refused(
        self,
        tokens: int,
        model: str | None,
        message: str | None,
        hint: float | None,
        chars: int | None,
    ) -> None:
        """A request of `tokens` (`chars` by its characters) got a rate-limit 429 (`message`,
        waiting `hint` seconds)."""
        parts = self._parts
        parts.probe.heard()
        now = self._loop.time()
        before = parts.calibration.charge(model, tokens, chars)
        parts.reader.sent(-1, -before)
        if parts.headroom.refused(now, hint):
            parts.buckets.repace()
        parts.buckets.emptied()
        count, mode = parts.calibration[model], parts.calibration.mode(model)
        recounted = count.refused(now, estimates(tokens, chars), requested_in(message), mode)
        self._say_count(model)
        after = parts.calibration.charge(model, tokens, chars)
        if after > before:  # what is in the window was sent at the old count
            parts.guard.recount("tokens", after / before)
        if recounted or parts.headroom.explains(now) or self.learner.explains(now):
            return
        if not parts.aim.refused():
            parts.guard.widen()  # an accident of timing
            parts.buckets.repace()

    def start_from(self, rpm: int | None, tpm: int | None) -> None:
        """Start from the limits the server stated to an earlier run (the user's still cap
        them): the server has spoken, so no probe."""
        buckets = self._parts.buckets
        for kind, stated in (("requests", rpm), ("tokens", tpm)):
            if (limit := self.learner.adopt(kind, stated)) is not None:
                buckets.set(kind, limit)
        self.learner.is_new(buckets.in_force)  # not news when seen again
        self._parts.probe.heard()

    def _say_count(self, model: str | None, now: float | None = None) -> None:
        if (notice := self._parts.calibration.news(model, now)) is not None:
            self._say(notice)

    def _say(self, notice: Notice) -> None:
        if self._on_change is not None:
            self._on_change(notice)
