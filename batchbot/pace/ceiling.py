"""The user's limits as a hard ceiling: no rolling minute holds more than they allow.

A limit the user sets (`--rpm`, `--tpm`, the job's `limits:`) is a promise to the rest of the
key: "this run takes at most this much". Pacing keeps to it on average, and the window guard
keeps every second within its share; but bursts that spend what the server's counters hold
(a fixed minute's, see `dialect`) could still pass more in some 60 seconds than the user
allowed. So the guard also keeps, per capped kind, a log of what was sent over the last
`MINUTE_S` seconds, and holds a request that would take that log over the cap.

The amounts are what the server counts (requests, and tokens as charged), never the slowed
units the pacing uses. Pure arithmetic on the times it is given: no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from batchbot.pace.window import EPSILON, SendLog

MINUTE_S = 60.0
MERGE_S = 0.1  # sends this close count as one, at the later time: 600 entries a minute at most


class Ceiling:
    """Per capped kind, at most `caps[kind]` sent in any `MINUTE_S` seconds."""

    def __init__(self, caps: Mapping[str, float]) -> None:
        self._caps = dict(caps)
        self._logs = {kind: SendLog(MINUTE_S, MERGE_S) for kind in self._caps}

    def __bool__(self) -> bool:
        return bool(self._caps)

    def wait(self, now: float, sent: Mapping[str, float]) -> float:
        """Seconds from `now` until `sent` fits under every cap (0: now)."""
        return max(
            (log.wait(now, sent[kind], self._caps[kind]) for kind, log in self._logs.items()),
            default=0.0,
        )

    def fits_beside(
        self, now: float, sent: Mapping[str, float], first: Mapping[str, float], first_at: float
    ) -> bool:
        """Whether `sent` fits now and still leaves `first` its room at `first_at`."""
        for kind, log in self._logs.items():
            cap = self._caps[kind]
            if log.wait(now, sent[kind], cap) > 0:
                return False
            if log.total_at(now, first_at) + min(first[kind], cap) + sent[kind] > cap + EPSILON:
                return False
        return True

    def add(self, now: float, sent: Mapping[str, float]) -> None:
        for kind, log in self._logs.items():
            log.add(now, sent[kind])

    def next_expiry(self, now: float) -> list[float]:
        """When something next leaves each log: the times more room may come."""
        return [when for log in self._logs.values() if (when := log.next_expiry(now)) is not None]

    def recount(self, kind: str, factor: float) -> None:
        """What was sent of `kind` is now known to count `factor` times as much."""
        if kind in self._logs:
            self._logs[kind].scale(factor)
