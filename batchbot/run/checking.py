"""Checking a job's items: all of them before the first request, or, for a large job, while the
first ones are being sent.

A job is checked whole before anything is sent (`Job.validate`): a broken line 90,000 stops the
run with nothing sent. That takes about 20 s for a million lines, every second of it before the
first request. So a job whose files are larger than `LARGE_BYTES` is checked in a thread while
the run sends, and the run never sends an item the check has not passed: a broken line (or a
duplicate id) found later stops the run before its own item is sent, with what went before it
sent and saved (docs/jobs.md says which guarantee holds when). Checking is fifty times faster
than the fastest sending, so in practice the check is over within seconds of the start.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from pathlib import Path

from batchbot.jobs.job import Job

LARGE_BYTES = 8_000_000  # about 80,000 lines of JSONL: over a second and a half of checking
TELL_EVERY = 1000  # the check tells the run how far it has got this often


def check_job(
    job: Job, *, sending: bool, checked: Callable[[int], None]
) -> tuple[int, Check | None]:
    """Check `job` whole and return its item count; or, if it is large and the run `sending`
    at once, start checking it in a thread (see `Check`) and return an estimate of its count
    until the check knows it. `checked(count)` hears how far a whole check has got."""
    paths = [path for path in {job.path, job.source.empty_path} if path.is_file()]
    if not sending or sum(path.stat().st_size for path in paths) <= LARGE_BYTES:
        return job.validate(checked), None
    return max(_lines(path) for path in paths), Check(job)


def _lines(path: Path) -> int:
    """How many lines the file has: about how many items a large job has."""
    count = 0
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            count += chunk.count(b"\n")
    return count


class Check:
    """The job checked in a thread; `passed(count)` waits until its first `count` items are."""

    def __init__(self, job: Job) -> None:
        self._job = job
        self._loop = asyncio.get_running_loop()
        self._count = 0
        self.total: int | None = None  #: how many items the job has, once checked whole
        self._error: Exception | None = None
        self._progress = asyncio.Event()
        self._stop = threading.Event()
        threading.Thread(target=self._run, name="batchbot-check", daemon=True).start()

    async def passed(self, count: int) -> None:
        """Wait until the first `count` items are checked; raise what the check found."""
        while self._count < count and self.total is None and self._error is None:
            self._progress.clear()
            await self._progress.wait()
        if self._error is not None and self._count < count:
            raise self._error

    def stop(self) -> None:
        """The run is over: stop checking."""
        self._stop.set()

    def _run(self) -> None:
        try:
            total = self._job.validate(self._tell, every=TELL_EVERY, stop=self._stop.is_set)
        except Exception as exc:  # a JobFileError, or a file that went away: the run's to say
            self._call(self._settle, None, exc)
        else:
            self._call(self._settle, total, None)

    def _tell(self, count: int) -> None:
        self._call(self._advance, count)

    def _call(self, callback: Callable[..., object], *args: object) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed: the run is over
            self._loop.call_soon_threadsafe(callback, *args)

    def _advance(self, count: int) -> None:
        self._count = count
        self._progress.set()

    def _settle(self, total: int | None, error: Exception | None) -> None:
        self._error = error
        if total is not None:
            self._count = self.total = total
        self._progress.set()
