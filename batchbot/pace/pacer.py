"""The pace of the moment: the rate buckets and the window guard, faster during a burst.

The buckets (`buckets`) drain at `headroom` of each limit in force, a little under the pace
the guard (`guard`) allows, so the guard only holds a request back after a lull, not every
one: each wait costs a wake-up. While the server's buckets hold headroom (`headroom`), both
go `BURST` times faster; when the burst has spent it, the buckets go back to the pace and the
guard counts what the burst sent as a second at the pace would have. A limit the user set
holding a request back (`ceiling`) ends bursts for good: a burst would only wait at it.
Create it inside the running event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from batchbot.pace.buckets import Buckets
from batchbot.pace.ceiling import Ceiling
from batchbot.pace.guard import Guard, Units
from batchbot.pace.headroom import BURST, Headroom
from batchbot.pace.settings import Settings
from batchbot.pace.tally import Tally


class Pacer:
    """`buckets`, `guard` and the `headroom` that speeds both, for `settings`; `tally` says
    what is left once the run has made its last call, `paused_until()` when a pause ends."""

    def __init__(self, settings: Settings, tally: Tally, paused_until: Callable[[], float]) -> None:
        self._loop = asyncio.get_running_loop()
        self._headroom, self._tally = settings.headroom, tally
        self.headroom = Headroom()  # a full bucket's worth to spend fast; not `headroom`
        self.guard = Guard(
            settings.window_s,
            settings.slack_s,
            share=self._share,
            paused_until=paused_until,
            on_sent=self._sent,
            ceiling=Ceiling(settings.ceilings),
            on_capped=self._capped,
        )
        self.buckets = Buckets(settings.limits, burst_seconds=settings.burst_seconds, aim=self.aim)

    def aim(self, per_minute: float) -> float:
        """The pace per minute the buckets keep to for a limit of `per_minute`, unslowed."""
        guarded = self.guard.window_s / self.guard.length_s
        return per_minute * self._headroom * guarded * self.headroom.factor

    def aims(self) -> dict[str, float | None]:
        """`aim` of each limit in force (None: unlimited)."""
        return {kind: limit and self.aim(limit) for kind, limit in self.buckets.limits.items()}

    def stop(self, now: float) -> None:
        """End a burst: its headroom is not ours alone any more."""
        if self.headroom.stop(now):
            self.buckets.repace()

    def _share(self, kind: str) -> float | None:
        """How much of `kind` one guarded span may hold: the limit's share of `window_s`."""
        limit = self.buckets.limits[kind]
        return None if limit is None else limit / 60 * self.guard.window_s * self.headroom.factor

    def _sent(self, now: float, units: Units) -> None:
        """The guard let `units` go: count them against the headroom's burst."""
        if (left := self._tally.left()) is not None:  # it still counts what goes now
            self.headroom.last_call(left)
        if self.headroom.spend(now, units):
            # Used up, not refused: the server has no short windows to fill, so what the
            # burst sent in the last second holds the pace back only as much as a second
            # at the pace would.
            self.guard.scale(1 / BURST)
            self.buckets.repace()

    def _capped(self, now: float) -> None:
        """The user's ceiling holds a request back: a burst, now or later, would only bring
        on the next wait at it."""
        if self.headroom.stop(now, for_good=True):
            self.buckets.repace()
