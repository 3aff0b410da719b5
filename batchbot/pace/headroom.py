"""Headroom: what the server's per-minute buckets hold beyond the pace, spent faster than it.

A run that starts after an idle spell finds the server's buckets full, and a run paced a
little under the limit - as every run with mixed request sizes is, since a sliding window
cannot be packed to the brim - leaves the server's buckets filling slowly all along. Pacing
alone never spends that; a server that enforces only per-minute buckets lets it through at
once. So whenever the server's buckets, as the headers show them less what we sent since,
hold more than `MARGIN` plus `AT_LEAST` seconds' worth, what is above the margin is spent by
pacing at `BURST` times the limit until it is gone; the window guard allows as much. How
fast matters little: it saves the same time however fast it is spent, and a slower burst
sends fewer requests into a short window before the first 429 comes back.

The margin is for the requests still to come: one as large as the margin must still find
room in the server's bucket after a burst, when the pace alone refills it. Once every request
the run will send is waiting (`last_call`) and the server's buckets hold all of them, there
is nothing left to keep it for: the burst may spend everything, the margin too.

A server that also enforces short windows answers a burst with a 429 (with a hint under a
second, if it says how long): from then on there is no headroom, for the whole run, and the
429s of that moment are explained, not a reason to slow down.

Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

BURST = 3.0  # while there is headroom, send up to this many times the per-second share
MARGIN = 1.0  # seconds' worth of each limit kept in the server's bucket for what comes next
AT_LEAST = 0.5  # seconds' worth above the margin before a burst is worth starting
SHORT_HINT_S = 1.0  # a 429 hinting less than this comes from a window shorter than a minute
EXPLAINS_S = 1.0  # 429s this soon after the headroom ended were sent at the burst pace


class Headroom:
    """The units (requests, tokens) left to spend at the burst pace; none until found."""

    def __init__(self) -> None:
        self._credit: dict[str, float] = {}
        self._refill: dict[str, float] = {}  # per second, while there is credit
        self._margin: dict[str, float] = {}  # what was kept back, per kind
        self._stamp = 0.0  # when the credit was last brought up to date
        self._ended_at = -math.inf
        self._all_in = False  # the credit is all the buckets hold: the run's last requests
        self.short_windows = False  #: a 429 showed the server refuses bursts: no headroom
        self.capped = False  #: the user's ceiling held a request: bursts would only wait at it

    def find(
        self,
        now: float,
        levels: Mapping[str, tuple[float, float] | None],
        waiting: Mapping[str, float] | None = None,
        *,
        refills: bool = True,
    ) -> bool:
        """Given each paced kind's (limit per minute, what the server's bucket holds now),
        start a burst if every one holds enough beyond the margin; True if that started one.
        A kind the headers did not report (None) means no burst. `waiting`: after the last
        call, what the requests still to be sent add up to, per kind. `refills`: False for a
        fixed window's count, which gains nothing while the burst spends it."""
        reported = {kind: pair for kind, pair in levels.items() if pair is not None}
        if not (self.looking and levels) or len(reported) < len(levels):
            return False
        per_second = {kind: limit / 60 for kind, (limit, _) in reported.items()}
        level = {kind: amount for kind, (_, amount) in reported.items()}
        all_in = waiting is not None and _holds(level, waiting)
        if all_in:
            credit = level  # all that is left fits: keep nothing back
        elif all(level[kind] >= (MARGIN + AT_LEAST) * per_second[kind] for kind in level):
            credit = {kind: level[kind] - MARGIN * per_second[kind] for kind in level}
        else:
            return False
        self._credit, self._stamp, self._all_in = credit, now, all_in
        self._margin = {kind: MARGIN * rate for kind, rate in per_second.items()}
        self._refill = per_second if refills else dict.fromkeys(per_second, 0.0)
        return True

    def last_call(self, waiting: Mapping[str, float]) -> None:
        """In a burst, with `waiting` all the run has left to send: spend the margin too, once
        the server's buckets hold all of it."""
        if self._credit and not self._all_in:
            level = {kind: credit + self._margin[kind] for kind, credit in self._credit.items()}
            if _holds(level, waiting):
                self._credit, self._all_in = level, True

    @property
    def looking(self) -> bool:
        """Whether `find()` may start a burst: none going, and no short windows seen."""
        return not (self._credit or self.short_windows or self.capped)

    @property
    def factor(self) -> float:
        """How many times the limit to pace at: `BURST` while there is headroom, else 1."""
        return BURST if self._credit else 1.0

    def spend(self, now: float, units: Mapping[str, float]) -> bool:
        """Count `units` sent now; True when that used the headroom up. The server's bucket
        refills meanwhile, so what is left is the credit, plus the refill, less what went."""
        if not self._credit:
            return False
        elapsed, self._stamp = now - self._stamp, now
        for kind in self._credit:
            self._credit[kind] += self._refill[kind] * elapsed - units[kind]
        if min(self._credit.values()) > 0:
            return False
        self._credit, self._ended_at = {}, now
        return True

    def stop(self, now: float, *, for_good: bool = False) -> bool:
        """End a burst (its headroom is not ours alone any more, or, `for_good`, the user's
        ceiling holds what it would send); True if one was going."""
        self.capped = self.capped or for_good
        if not self._credit:
            return False
        self._credit, self._ended_at = {}, now
        return True

    def refused(self, now: float, hint: float | None) -> bool:
        """A 429 hinting `hint` seconds: True if it ends a burst (see `explains`). A 429 in a
        burst, or one hinting under a second, shows the server refuses bursts."""
        short = hint is not None and hint < SHORT_HINT_S
        if not (short or self._credit):
            return False
        self.short_windows = True
        if not self._credit:
            return False
        self._credit, self._ended_at = {}, now
        return True

    def explains(self, now: float) -> bool:
        """Whether a 429 now may be one sent at the burst pace just before it ended."""
        return now - self._ended_at < EXPLAINS_S


def _holds(level: Mapping[str, float], waiting: Mapping[str, float]) -> bool:
    """Whether something waits, and every bucket's level covers what waits for it."""
    return any(waiting.values()) and all(waiting.get(k, 0.0) <= v for k, v in level.items())
