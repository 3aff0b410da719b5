"""Rate buckets: the limits in force, each paced by an aiolimiter leaky bucket.

OpenAI enforces its per-minute limits over much shorter windows, so 600 RPM sent as a burst
in the first second is refused. Each limit is therefore a leaky bucket whose capacity
(`max_rate`) is only `burst_seconds` worth of the pace and whose `time_period` is
`burst_seconds`: it drains at the pace it is given (`aim`), but never lets more than that
fraction of a second's worth through at once. A bucket that holds a single request loses
throughput to wake-up latency; about a tenth of a second's worth does not.

A request larger than a bucket passes it in chunks. After a 429 the server's bucket is
empty (`emptied`): the next request first spends what these buckets saved meanwhile
(`spend_saved`), so the pace goes on from there instead of catching up in a burst that would
meet another 429.
Create it inside the running event loop (aiolimiter binds to it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from aiolimiter import AsyncLimiter

from batchbot.pace.guard import KINDS


class Buckets:
    """Per kind, the limit in force (None: unlimited) and the bucket pacing `aim(limit)`."""

    def __init__(
        self,
        limits: Mapping[str, float | None],
        *,
        burst_seconds: float,
        aim: Callable[[float], float],
    ) -> None:
        self._burst_seconds, self._aim = burst_seconds, aim
        self.limits = {kind: limits[kind] for kind in KINDS}
        self._buckets: dict[str, AsyncLimiter | None] = {}
        self._emptied = False
        self.repace()

    @property
    def in_force(self) -> tuple[float | None, float | None]:
        """The limits in force: (requests/min, tokens/min)."""
        return self.limits["requests"], self.limits["tokens"]

    def set(self, kind: str, limit: float) -> None:
        """Follow a new limit for `kind` from now."""
        self.limits[kind] = limit
        self._buckets[kind] = self._bucket(limit)

    def repace(self) -> None:
        """New buckets for the pace of the moment (`aim` changed)."""
        self._buckets = {kind: self._bucket(limit) for kind, limit in self.limits.items()}

    def emptied(self) -> None:
        """A 429 said the server's bucket is empty: `spend_saved()` spends what is saved."""
        self._emptied = True

    async def spend_saved(self) -> None:
        """After a 429, spend what the buckets saved meanwhile (see the module docstring)."""
        if self._emptied:
            self._emptied = False
            for kind in KINDS:
                await self._charge(kind, self._capacity(kind))

    async def take(self, units: Mapping[str, float]) -> None:
        """Wait until `units` (per kind) may pass."""
        for kind in KINDS:
            await self._charge(kind, units[kind])

    def _bucket(self, per_minute: float | None) -> AsyncLimiter | None:
        if per_minute is None:
            return None
        per_second = self._aim(per_minute) / 60
        # At least one whole unit must fit; a low limit then gets a longer period, same pace.
        capacity = max(1.0, per_second * self._burst_seconds)
        return AsyncLimiter(capacity, capacity / per_second)

    async def _charge(self, kind: str, amount: float) -> None:
        # Re-read the bucket each chunk: a new limit may have replaced it with another.
        remaining = amount
        while remaining > 0 and (bucket := self._buckets[kind]) is not None:
            chunk = min(remaining, bucket.max_rate)
            await bucket.acquire(chunk)
            remaining -= chunk

    def _capacity(self, kind: str) -> float:
        bucket = self._buckets[kind]
        return bucket.max_rate if bucket is not None else 0.0
