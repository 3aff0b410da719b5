"""The 429 pause: a 429 means the server's window is full for everyone, so everyone waits.

`hold(seconds)` holds every waiter, and every newcomer, until the hint has passed; a second
429 can extend a pause, never shorten it, and a meaningless length (zero, negative, not
finite) is ignored rather than freezing the run. What the pace does afterwards is the
buckets' business (`buckets.Buckets.emptied`). Create it inside the running event loop.
"""

from __future__ import annotations

import asyncio
import math


class Pause:
    """Until when every request is held, and the wait for that moment."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.until = -math.inf  #: event-loop time the pause ends (in the past: none)
        self._resumed = asyncio.Event()  # clear while paused; set by a timer when it ends
        self._resumed.set()
        self._timer: asyncio.TimerHandle | None = None

    def hold(self, seconds: float) -> None:
        """Hold every waiter for `seconds` from now; extends a longer pause, never shortens one."""
        if not (math.isfinite(seconds) and seconds > 0):
            return
        until = self._loop.time() + seconds
        if until <= self.until:
            return
        self.until = until
        self._resumed.clear()
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(until, self._resumed.set)

    async def wait(self) -> None:
        """Return once no pause holds requests."""
        await self._resumed.wait()
