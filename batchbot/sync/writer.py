"""Commits results in batches: at most one transaction every COMMIT_EVERY_S (20 ms).

A worker awaits `write()` and only then gives back its concurrency slot, so a request stays
"in flight" until its answer is on disk: after a crash, at most the in-flight requests are
asked again. A request's budget reservation (money/budget.py) is deleted in the transaction that
writes its result, so a crash can never leave a written answer still counted as reserved.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from contextlib import suppress

from batchbot.outcome import Outcome
from batchbot.store.store import Store

log = logging.getLogger("batchbot")

MAX_BATCH = 500
NOT_KEPT = "could not add answers to the shared cache (the run goes on): %s"
# At most one commit this often. A commit costs as much as ten rows, so at hundreds of answers
# a second committing each alone took a tenth of the CPU; now they wait for the next commit,
# at most this long, holding their slots. A result arriving after a quiet spell is committed
# at once.
COMMIT_EVERY_S = 0.02

# An outcome to write (None: nothing to write) and the reservation row to delete with it.
_Pending = tuple[Outcome | None, int | None, asyncio.Future[None]]


class ResultWriter:
    def __init__(
        self,
        store: Store,
        *,
        run_id: int,
        job: str,
        mode: str,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        kept: Callable[[list[Outcome]], None] | None = None,
    ) -> None:
        """`sleep` waits out the pause between commits (tests pass one that records it);
        `kept` hears what each commit wrote (a shared cache file keeps it too)."""
        self._store = store
        self._kept = kept
        self._sleep = sleep
        self._run_id = run_id
        self._job = job
        self._mode = mode
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._task = asyncio.create_task(self._drain(), name="batchbot-writer")

    def submit(
        self, outcome: Outcome | None, *, release: int | None = None
    ) -> asyncio.Future[None]:
        """Queue an outcome and/or a reservation row to delete; the future resolves once
        they are committed."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((outcome, release, done))
        return done

    async def write(self, outcome: Outcome) -> None:
        await self.submit(outcome)

    async def write_all(self, outcomes: list[Outcome], *, release: int | None = None) -> None:
        """Queue outcomes together (a packed request's items) and wait until all are committed;
        `release` goes with the last, so it is deleted once they are all written."""
        last = len(outcomes) - 1
        queued = [
            self.submit(outcome, release=release if n == last else None)
            for n, outcome in enumerate(outcomes)
        ]
        if not outcomes and release is not None:
            queued.append(self.submit(None, release=release))
        for done in queued:
            await done

    async def close(self) -> None:
        """Commit everything queued so far, then stop."""
        await self._queue.join()
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        last_commit = -math.inf
        while True:
            batch = [await self._queue.get()]
            wait = last_commit + COMMIT_EVERY_S - loop.time()
            if wait > 0:
                await self._sleep(wait)
            while len(batch) < MAX_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            self._commit(batch)
            last_commit = loop.time()

    def _commit(self, batch: list[_Pending]) -> None:
        outcomes = [outcome for outcome, _, _ in batch if outcome is not None]
        try:
            self._store.record_results(
                self._run_id,
                self._job,
                self._mode,
                outcomes,
                released=[row for _, row, _ in batch if row is not None],
            )
            self._keep(outcomes)
        except BaseException as exc:  # whatever it is, the workers waiting for it are told
            for _, _, done in batch:
                if not done.done():
                    done.set_exception(exc)
        else:
            for _, _, done in batch:
                if not done.done():
                    done.set_result(None)
        finally:
            for _ in batch:
                self._queue.task_done()

    def _keep(self, outcomes: list[Outcome]) -> None:
        """The shared cache is a convenience: a failure to write it never stops the run."""
        if self._kept is None or not outcomes:
            return
        try:
            self._kept(outcomes)
        except Exception as exc:
            log.warning(NOT_KEPT, exc)
