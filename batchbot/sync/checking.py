"""Checking a job's items: all of them before the first request, or, for a large job, while the
first ones are being sent.

A job is checked whole before anything is sent (`Job.validate`): a broken line 90,000 stops the
run with nothing sent. That takes about 20 s for a million lines, every second of it before the
first request. So a job whose files are larger than `LARGE_BYTES` is checked while the run
sends, and the run never sends an item the check has not passed: a broken line (or a duplicate
id) found later stops the run before its own item is sent, with what went before it sent and
saved (docs/jobs.md says which guarantee holds when). Checking is fifty times faster than the
fastest sending, so in practice the check is over within seconds of the start.

The check runs on the event loop, a thousand items at a turn, not in a thread: a thread that
never waits holds Python's lock so much that the loop beside it crawls (measured: the first
request of a 100,000-line job 25 s late).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from batchbot.jobs.job import Item, Job

LARGE_BYTES = 8_000_000  # about 80,000 lines of JSONL: over a second and a half of checking
TELL_EVERY = 1000  # the check tells the run how far it has got this often


def check_job(
    job: Job,
    *,
    sending: bool,
    checked: Callable[[int], None],
    check: Callable[[Item], None] | None = None,
) -> tuple[int, Check | None]:
    """Check `job` whole and return its item count; or, if it is large and the run `sending`
    at once, start checking it beside the run (see `Check`) and return an estimate of its
    count until the check knows it. `checked(count)` hears how far a whole check has got;
    `check(item)` is the run's own check of each item (`Job.validate`)."""
    paths = [path for path in {job.path, job.source.empty_path} if path.is_file()]
    if not sending or sum(path.stat().st_size for path in paths) <= LARGE_BYTES:
        return job.validate(checked, check=check), None
    return max(_lines(path) for path in paths), Check(job, check)


def _lines(path: Path) -> int:
    """How many lines the file has: about how many items a large job has."""
    count = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            count += chunk.count(b"\n")
    return count


class Check:
    """The job checked beside the run; `passed(count)` waits until its first `count` items are."""

    def __init__(self, job: Job, check: Callable[[Item], None] | None = None) -> None:
        self._count = 0
        self.total: int | None = None  #: how many items the job has, once checked whole
        self._error: Exception | None = None
        self._progress = asyncio.Event()
        self._task = asyncio.create_task(self._run(job, check))

    async def passed(self, count: int) -> None:
        """Wait until the first `count` items are checked; raise what the check found."""
        while self._count < count and self.total is None and self._error is None:
            self._progress.clear()
            await self._progress.wait()
        if self._error is not None and self._count < count:
            raise self._error

    def stop(self) -> None:
        """The run is over: stop checking."""
        self._task.cancel()

    async def _run(self, job: Job, check: Callable[[Item], None] | None) -> None:
        try:
            for count in job.checking(TELL_EVERY, check=check):
                self._count = count
                self._progress.set()
                await asyncio.sleep(0)  # the run's turn
        except Exception as exc:  # a JobFileError, or a file that went away: the run's to say
            self._error = exc
        else:
            self.total = self._count
        self._progress.set()
