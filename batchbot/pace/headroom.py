"""Headroom: a full bucket at the server, spent faster than the pace until short windows show.

A run that starts after an idle spell finds the server's per-minute buckets full. Pacing from
zero leaves that minute's worth unused; a server that enforces only per-minute buckets lets
it through at once. When the headers say every bucket we pace is full, what is left (less a
margin) is spent by pacing at `BURST` times the limit until it is gone; the window guard
allows as much. How fast matters little: it saves the same time however fast it is spent,
as long as the run is longer than that, and a slower burst sends fewer requests into a
short window before the first 429 comes back. A server that also enforces short windows
answers the burst with a 429 whose hint is under a second: from then on there is no
headroom, for the whole run, and the 429s of that moment are explained, not a reason to
slow down.

Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from batchbot.pace.headers import RateLimitHeaders

BURST = 3.0  # while there is headroom, send up to this many times the per-second share
FULL = 0.97  # a bucket this full is one nobody has been spending
SPEND = 0.95  # of what the headers say is left, spend this much at the burst pace
EVERY_S = 60.0  # a full bucket is a full bucket again only after a minute
SHORT_HINT_S = 1.0  # a 429 hinting less than this comes from a window shorter than a minute
EXPLAINS_S = 1.0  # 429s this soon after the headroom ended were sent at the burst pace


class Headroom:
    """The units (requests, tokens) left to spend at the burst pace; none until found."""

    def __init__(self) -> None:
        self._credit: dict[str, float] = {}
        self._found_at = -math.inf
        self._ended_at = -math.inf
        self.short_windows = False  #: a 429 showed the server enforces sub-minute windows

    def find(
        self, now: float, headers: RateLimitHeaders, paced: Mapping[str, float | None]
    ) -> bool:
        """Headers showing every paced kind's bucket full make what is left headroom; True
        if that starts a burst."""
        if self._credit or self.short_windows or now - self._found_at < EVERY_S:
            return False
        reported = {
            "requests": (headers.limit_requests, headers.remaining_requests),
            "tokens": (headers.limit_tokens, headers.remaining_tokens),
        }
        credit = {}
        for kind, limit_in_force in paced.items():
            limit, remaining = reported[kind]
            if limit_in_force is None:
                continue
            if not limit or remaining is None or remaining < FULL * limit:
                return False
            credit[kind] = remaining * SPEND
        if credit:
            self._credit, self._found_at = credit, now
        return bool(credit)

    @property
    def factor(self) -> float:
        """How many times the limit to pace at: `BURST` while there is headroom, else 1."""
        return BURST if self._credit else 1.0

    def spend(self, units: Mapping[str, float]) -> bool:
        """Count `units` sent at the burst pace; True when that used the headroom up."""
        if not self._credit:
            return False
        for kind in self._credit:
            # Of what goes at BURST times the limit, the server's refill covers 1/BURST.
            self._credit[kind] -= units[kind] * (1 - 1 / BURST)
        if min(self._credit.values()) > 0:
            return False
        self._credit = {}
        return True

    def refused(self, now: float, hint: float | None) -> bool:
        """A 429 hinting `hint` seconds: True if it ends a burst (see `explains`)."""
        if hint is not None and hint < SHORT_HINT_S and not self.short_windows:
            self.short_windows = True
            if self._credit:
                self._credit, self._ended_at = {}, now
                return True
        return False

    def explains(self, now: float) -> bool:
        """Whether a 429 now may be one sent at the burst pace just before it ended."""
        return now - self._ended_at < EXPLAINS_S
