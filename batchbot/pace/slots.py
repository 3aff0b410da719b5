"""The concurrency cap: how many items may be in flight at once.

An item holds its slot from before its first attempt until its result is saved, across
retries, so a run never has more than `concurrency` requests sent or waiting to be retried.
"""

from __future__ import annotations

import asyncio


class Slots:
    """`concurrency` slots, taken by `enter()` and given back by `leave()`."""

    def __init__(self, concurrency: int) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.in_flight = 0  #: how many slots are taken

    async def enter(self) -> None:
        """Take a slot; hold it across retries until the item's result is saved."""
        await self._slots.acquire()
        self.in_flight += 1

    @property
    def free(self) -> bool:
        """Whether `enter()` would return without waiting."""
        return not self._slots.locked()

    def leave(self) -> None:
        """Give back a slot taken by `enter()`."""
        if self.in_flight == 0:
            raise RuntimeError("leave() called without a matching enter()")
        self.in_flight -= 1
        self._slots.release()
