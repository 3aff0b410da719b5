"""One run per job at a time: a lock file next to the database, named after the job.

Cron may start a run while last night's is still going. Two runs of the same job would send
the same unanswered items twice (and pay twice), so the second one exits at once with
`JobLocked` (exit 4), or waits for the first with `--wait-lock`. Different jobs have different
locks and share the database safely: WAL, and short write transactions that wait their turn
(store.py).

The lock is an OS file lock (`filelock`, flock on Unix): the kernel drops it when the process
dies, even by kill -9, so a crashed run never leaves a stale lock behind: whether the lock
file exists means nothing, only whether a live process holds it.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from batchbot.errors import JobLocked

LOCKED = (
    "another batchbot run of job {job!r} is using {db} (lock file {lock}): this run exits "
    "without sending anything. Let the other run finish, or pass --wait-lock to wait for it."
)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME = 60


def lock_path(db_path: Path, job: str) -> Path:
    """`<db>.<job>.lock` beside the database; odd or long job names get a short hash."""
    safe = _UNSAFE.sub("_", job)[:MAX_NAME]
    if safe != job:
        safe += "-" + hashlib.sha256(job.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return db_path.with_name(f"{db_path.name}.{safe}.lock")


@contextlib.contextmanager
def job_lock(db_path: Path, job: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the job's lock for the block; raise JobLocked at once if taken (unless `wait`)."""
    path = lock_path(db_path, job)
    lock = FileLock(path, timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise JobLocked(LOCKED.format(job=job, db=db_path, lock=path.name)) from None
    try:
        yield
    finally:
        lock.release()
