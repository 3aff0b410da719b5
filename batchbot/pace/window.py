"""What batchbot sent in the last second: the guard that keeps every sliding second under its share.

A leaky bucket bounds the average, not the worst second: one of capacity C draining at r lets
C + r x 1 s through a second that follows a lull, and a request larger than C passes the
bucket in chunks, then lands whole. A server that enforces its limits over sliding 1-second
windows refuses the excess. So the limiter also keeps a log of what it let through, with
the time it did, and holds a request until the log's last `length_s` seconds leave room for
it. aiolimiter cannot say this: it keeps one level, not the times of what passed.

Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

import math
from collections import deque

EPSILON = 1e-9  # sums of floats drift; a unit of room is never lost to rounding


class SendLog:
    """Amounts sent (requests, or tokens) with when; at most `capacity` per `length_s`.

    `merge_s`: amounts sent within this long of the first in the last entry join it, which
    then counts as sent at the latest time: it leaves the window a little later than it could,
    never sooner, and a long log keeps about length_s / merge_s entries.
    """

    def __init__(self, length_s: float, merge_s: float = 0.0) -> None:
        self.length_s, self._merge_s = length_s, merge_s
        self._log: deque[tuple[float, float]] = deque()
        self._total = 0.0
        self._opened = -math.inf  # when the last entry's first amount was sent

    def add(self, now: float, amount: float) -> None:
        """Count `amount` as sent at `now`."""
        self._expire(now)
        self._total += amount
        if self._log and now - self._opened < self._merge_s:
            amount += self._log.pop()[1]
        else:
            self._opened = now
        self._log.append((now, amount))

    def scale(self, factor: float) -> None:
        """Recount everything in the log `factor` times (it was counted in the wrong units)."""
        self._log = deque((when, amount * factor) for when, amount in self._log)
        self._total *= factor

    def total(self, now: float) -> float:
        """What was sent in the `length_s` seconds up to `now`."""
        self._expire(now)
        return self._total

    def wait(self, now: float, amount: float, capacity: float) -> float:
        """Seconds from `now` until `amount` more keeps the window within `capacity`.

        An amount larger than the capacity waits for an empty window, so it never lands on
        top of anything: it could never fit otherwise.
        """
        self._expire(now)
        room = capacity - min(amount, capacity) + EPSILON
        total = self._total
        if total <= room:
            return 0.0
        for when, spent in self._log:
            total -= spent
            if total <= room:
                return when + self.length_s - now
        return self._log[-1][0] + self.length_s - now

    def total_at(self, now: float, then: float) -> float:
        """What, of what was sent up to `now`, is still in the window at `then` (>= now)."""
        self._expire(now)
        total = self._total
        for when, spent in self._log:
            if when > then - self.length_s + EPSILON:
                break
            total -= spent
        return total

    def next_expiry(self, now: float) -> float | None:
        """When the oldest entry leaves the window: the next time there is more room."""
        self._expire(now)
        return self._log[0][0] + self.length_s if self._log else None

    def _expire(self, now: float) -> None:
        while self._log and self._log[0][0] <= now - self.length_s + EPSILON:
            self._total -= self._log.popleft()[1]
        if not self._log:
            self._total = 0.0
