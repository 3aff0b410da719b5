"""Stopping a sync run: the switch every part of it checks, and the grace period.

`stop()` (a signal, or a run-fatal answer such as 401) stops new sends at once: workers that
are only waiting (for the limiter, the budget or a backoff) are cancelled, requests already on
the wire may finish for up to `grace_s` seconds. A second stop (a second Ctrl-C) drops the
grace period.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Collection
from pathlib import Path
from typing import Any, TypeVar

from batchbot.errors import RunStopped

T = TypeVar("T")


class StopSwitch:
    """Whether the run stopped and why, and the workers a stop may cancel."""

    def __init__(self, grace_s: float) -> None:
        self.event = asyncio.Event()
        self.reason: RunStopped | None = None  # the first stop's
        self.grace_s = grace_s
        self.waiting: set[asyncio.Task[Any]] = set()  # workers not on the wire: safe to cancel

    @property
    def is_set(self) -> bool:
        return self.event.is_set()

    def stop(self, reason: RunStopped) -> None:
        """Stop sending; a second stop also drops the grace period."""
        if self.event.is_set():
            self.grace_s = 0.0
        self.reason = self.reason or reason
        self.event.set()
        for task in list(self.waiting):
            task.cancel()

    def stopping(self) -> bool:
        """Whether a cancellation is the run's own: a stop, or the event loop shutting down."""
        task = asyncio.current_task()
        return self.event.is_set() or (task is not None and task.cancelling() > 0)

    async def cancellable(self, waiting: Awaitable[T]) -> T:
        """Await something that sends nothing; a stop may cancel it (and so the worker)."""
        task = asyncio.current_task()
        if self.event.is_set() or task is None:
            if inspect.iscoroutine(waiting):
                waiting.close()
            raise asyncio.CancelledError
        self.waiting.add(task)
        try:
            return await waiting
        finally:
            self.waiting.discard(task)

    async def first_of(
        self, waiting: Collection[asyncio.Future[Any]], timeout: float | None = None
    ) -> None:
        """Wait until one of `waiting` is done, the run stops, or `timeout` seconds pass."""
        stop = asyncio.ensure_future(self.event.wait())
        await asyncio.wait({*waiting, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()


async def finish_in_flight(tasks: set[asyncio.Task[None]], switch: StopSwitch) -> None:
    """Wait for every worker in `tasks` (which drops them as they end); once the run stops,
    wait at most the grace period, then cancel the rest."""
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    while tasks:
        if switch.is_set and deadline is None:
            deadline = loop.time() + switch.grace_s
        timeout = None if deadline is None else max(0.0, deadline - loop.time())
        if timeout == 0.0:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            return
        await switch.first_of(tasks, timeout)
        if switch.is_set and switch.grace_s == 0.0:
            deadline = loop.time()


def could_not_write(db_path: Path, error: Exception) -> RunStopped:
    """Why the run stops when the database refused a write (a RunStopped, such as the database
    staying locked, says why itself)."""
    if isinstance(error, RunStopped):
        return error
    return RunStopped(f"Could not write to {db_path}: {error}")
