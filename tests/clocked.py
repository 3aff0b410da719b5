"""A hand-moved event-loop clock for the limiter and its parts (tests/pace).

As in aiolimiter's own tests, the running loop's time() is patched with a clock the test
moves by hand, and tasks settle with zero-timeout yields; the clock jumps from one timer to
the next. Most tests use a burst of 1/8 s and rates whose periods are powers of two, so every
time is exact in binary floating point and release times compare with ==.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any
from unittest import mock

import pytest

from batchbot.pace.limiter import Limiter, Notice, Settings

EARLY = 1 / 64  # "just before": every expected time in these tests is a multiple of 1/64
QUIET_ROUNDS = 20  # loop iterations without progress before an instant counts as settled


class Sim:
    """A hand-moved event-loop clock, and a log of when each request got through.

    Besides time(), it wraps the loop's call_at() to see every timer, so the clock can jump
    straight to the next one: release times are exact, not rounded to a grid, and a test
    of a simulated minute takes milliseconds.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.now = 0.0
        self.tasks: list[asyncio.Task[Any]] = []
        self.released: list[tuple[float, int]] = []  # (time, request number)
        self.sizes: dict[int, int] = {}  # request number -> tokens
        self._pending: set[asyncio.TimerHandle] = set()  # timers that have not run yet
        self._call_at = loop.call_at

    def time(self) -> float:
        return self.now

    def call_at(
        self, when: float, callback: Callable[..., object], *args: Any, **kwargs: Any
    ) -> asyncio.TimerHandle:
        def run(*args: Any) -> None:
            self._pending.discard(handle)
            callback(*args)

        handle = self._call_at(when, run, *args, **kwargs)
        self._pending.add(handle)
        return handle

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    def request(
        self, limiter: Limiter, tokens: int = 0, model: str | None = None
    ) -> asyncio.Task[Any]:
        """Start one request of `tokens`; its release time is logged when it gets through."""
        number = len(self.tasks)
        self.sizes[number] = tokens

        async def send() -> None:
            await limiter.wait_for_capacity(tokens, model)
            self.released.append((self.now, number))

        return self.spawn(send())

    def times(self) -> list[float]:
        return [when for when, _ in self.released]

    async def settle(self) -> None:
        """Let every task run until nothing more can happen at the current instant."""
        quiet = 0
        while quiet < QUIET_ROUNDS:
            before = (len(self.released), sum(t.done() for t in self.tasks))
            await asyncio.sleep(0)
            after = (len(self.released), sum(t.done() for t in self.tasks))
            quiet = quiet + 1 if after == before else 0

    async def run_until(self, end: float) -> None:
        """Move the clock to `end`, stopping at every timer on the way and settling there."""
        await self.settle()
        while (due := self._next_timer()) is not None and due <= end:
            # A timer still pending at or before `now` re-armed itself for an instant that
            # rounds to now (aiolimiter's last 1e-16 of a unit); real time would have moved
            # on by a hair, so the clock moves on by one float step.
            self.now = max(due, math.nextafter(self.now, math.inf))
            await self.settle()
        self.now = max(self.now, end)
        await self.settle()

    def _next_timer(self) -> float | None:
        self._pending = {h for h in self._pending if not h.cancelled()}
        return min((h.when() for h in self._pending), default=None)


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    """A fake clock patched into the running loop; leftover tasks are cancelled at the end.
    A test module takes it as its own fixture with `sim = clocked.sim`."""
    loop = asyncio.get_running_loop()
    simulation = Sim(loop)
    with (
        mock.patch.object(loop, "time", simulation.time),
        mock.patch.object(loop, "call_at", simulation.call_at),
    ):
        yield simulation
        for task in simulation.tasks:
            task.cancel()
        await asyncio.gather(*simulation.tasks, return_exceptions=True)


def exact(on_change: Callable[[Notice], object] | None = None, **settings: Any) -> Limiter:
    """A limiter with no headroom and a 1/8 s burst, so its schedule is exact."""
    knobs = {"burst_seconds": 0.125, "headroom": 1.0, "slack_s": 0.0, "concurrency": 100}
    return Limiter(Settings(**{**knobs, **settings}), on_change=on_change)
