"""Which of the limits the server reports to adopt, and which 429s say we go too fast.

Limits. A reported limit below ours is adopted at once; a higher one once the server has kept
saying so for `raise_after_s` (a job that mixes models sees several limits, and then keeps the
lowest). Limits the user set themselves (`caps`) are a ceiling: the server may lower them,
never raise them. Each new pair of limits is to be announced once. 429s in the second after
the limits changed are the change's (`explains`).

429s. A 429 that nothing explains is mostly an accident of timing (a request that took a few
milliseconds longer on its way than the one before it). `REPEATS` of them within `REPEAT_S`
are not: something we cannot see spends the key (another client, once the server's bucket is
empty and the headers go blind), so the pace is cut by a fifth, at most once a second, and
creeps back by 5 % of the limit a second. While another client is known to spend the key,
one such 429 is enough: that client is the likely cause.

Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Collection, Mapping

from batchbot.pace.headers import RateLimitHeaders

CUT = 0.8  # on repeated unexplained 429s, aim this much lower
CUT_EVERY_S = 1.0  # a burst of 429s from one moment is one cut
REPEAT_S = 2.0  # unexplained 429s coming this close together...
REPEATS = 3  # ...this many times over are no accident of timing: we go too fast
RECOVER_PER_S = 0.05  # then creep back up by this share of the limit a second
MIN_PACE = 0.05
CHANGE_EXPLAINS_S = 1.0  # 429s this soon after the limits changed are the change's

Limits = tuple[float | None, float | None]


class LimitLearner:
    """The limits to follow from the server's reports, starting from `rpm` / `tpm`."""

    def __init__(
        self, rpm: float | None, tpm: float | None, caps: Collection[str], raise_after_s: float
    ) -> None:
        configured = {"requests": rpm, "tokens": tpm}
        self._caps = {kind: int(limit) for kind in caps if (limit := configured[kind]) is not None}
        self._raise_after_s = raise_after_s
        self._announced: set[Limits] = {(rpm, tpm)}
        self._higher_since: dict[str, float] = {}  # kind -> when the server first said more
        self._reported: dict[str, int] = {}  # kind -> the limit the server last stated
        self._changed_at = -math.inf  # when the limits in force last changed

    def read(
        self, now: float, headers: RateLimitHeaders, current: Mapping[str, float | None]
    ) -> dict[str, int]:
        """The limits to adopt now from one answer's `headers`, per kind that changes."""
        stated = {"requests": headers.limit_requests, "tokens": headers.limit_tokens}
        changes = {
            kind: limit
            for kind, reported in stated.items()
            if (limit := self.follow(now, kind, reported, current[kind])) is not None
        }
        if changes:
            self._changed_at = now
        return changes

    def explains(self, now: float) -> bool:
        """Whether a 429 now may be one sent at the limits in force just before they changed."""
        return now - self._changed_at < CHANGE_EXPLAINS_S

    def follow(
        self, now: float, kind: str, reported: int | None, current: float | None
    ) -> int | None:
        """The limit to adopt, if any: lower at once, higher once it has lasted a while."""
        if reported is not None and reported > 0:
            self._reported[kind] = reported
        if reported is not None and kind in self._caps:
            reported = min(reported, self._caps[kind])
        if reported is None or reported <= 0 or reported == current:
            self._higher_since.pop(kind, None)
            return None
        if current is None or reported < current:
            self._higher_since.pop(kind, None)
            return reported
        since = self._higher_since.setdefault(kind, now)
        if now - since < self._raise_after_s:
            return None
        del self._higher_since[kind]
        return reported

    def adopt(self, kind: str, stated: int | None) -> int | None:
        """A limit the server stated to an earlier run: the one to start from (under the
        user's own), at once; None if it stated none."""
        if stated is None or stated <= 0:
            return None
        self._reported[kind] = stated
        return min(stated, self._caps.get(kind, stated))

    @property
    def stated(self) -> dict[str, int]:
        """The limits the server last stated, per kind (before any of the user's caps)."""
        return dict(self._reported)

    def user_bound(self, kind: str) -> bool:
        """Whether the user's own limit holds `kind` back: the user set it, and the server has
        not stated one as low (a server stating more leaves the rest of the key to others)."""
        cap = self._caps.get(kind)
        return cap is not None and not self._reported.get(kind, cap + 1) <= cap

    def is_new(self, limits: Limits) -> bool:
        """True the first time these limits are in force: time to say so."""
        if limits in self._announced:
            return False
        self._announced.add(limits)
        return True


class Backoff:
    """The share of the limits left to aim at after repeated unexplained 429s."""

    def __init__(self) -> None:
        self._cut, self._cut_at = 1.0, -math.inf  # the pace after the last cut, and when
        self._unexplained: deque[float] = deque()  # when 429s nothing explained came

    def pace(self, now: float) -> float:
        return min(1.0, self._cut + RECOVER_PER_S * (now - self._cut_at))

    def refused(self, now: float, pace: float, *, shared: bool = False) -> bool:
        """Count an unexplained 429 at `pace` (all told): True if it is one too many (the pace
        is cut). While another client is known to spend the key (`shared`), one is: it is the
        likely cause."""
        self._unexplained.append(now)
        while self._unexplained[0] <= now - REPEAT_S:
            self._unexplained.popleft()
        if len(self._unexplained) < (1 if shared else REPEATS):
            return False
        if now - self._cut_at >= CUT_EVERY_S:
            self._cut, self._cut_at = max(MIN_PACE, min(pace, self.pace(now)) * CUT), now
        return True
