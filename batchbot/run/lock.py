"""One run per job at a time: a lock file beside the database file itself, named after the job.

Cron may start a run while last night's is still going. Two runs of the same job would send
the same unanswered items twice (and pay twice), so the second one exits at once with
`JobLocked` (exit 4), or waits for the first with `--wait-lock`. Different jobs have different
locks and share the database safely: WAL, and short write transactions that wait their turn
(store.py).

The lock belongs to the database file, not to the path it was given by: `--db link.db` (a
symlink), `./c.db`, `sub/../c.db` and an absolute path all resolve to the real file first, so
they meet the same lock file, and so does a second mount of its directory (the same
directory, seen through another path). This is SQLite's own notion of the file: it resolves
symlinks and keeps its -wal file beside the real one. (Hard links to one database under two
names are already unsafe for SQLite, which then keeps two -wal files.)

The lock is an OS file lock (`filelock`, flock on Unix): the kernel drops it when the process
dies, even by kill -9, so a crashed run never leaves a stale lock behind: whether the lock
file exists means nothing, only whether a live process holds it (`is_held`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
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
# A run that finds the lock taken tries again for this long before it exits 4: `batchbot runs`
# takes a free lock for an instant to learn whether a run is alive (`if_free`).
PROBE_S = 0.5


def lock_path(db_path: Path, job: str) -> Path:
    """`<db>.<job>.lock` beside the real database file (symlinks and `..` resolved); odd or
    long job names get a short hash."""
    real = Path(os.path.realpath(db_path))
    safe = _UNSAFE.sub("_", job)[:MAX_NAME]
    if safe != job:
        safe += "-" + hashlib.sha256(job.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return real.with_name(f"{real.name}.{safe}.lock")


@contextlib.contextmanager
def job_lock(db_path: Path, job: str, *, wait: bool = False) -> Iterator[None]:
    """Hold the job's lock for the block; raise JobLocked at once if taken (unless `wait`)."""
    path = lock_path(db_path, job)
    lock = FileLock(path, timeout=-1 if wait else PROBE_S)
    try:
        lock.acquire()
    except Timeout:
        raise JobLocked(LOCKED.format(job=job, db=db_path, lock=path)) from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def if_free(db_path: Path, job: str) -> Iterator[bool]:
    """Hold the job's lock for the block if no process holds it; yields whether it does.

    True means no run of the job is alive: whatever its rows say, none of them is running.
    A lock that cannot even be tried (a read-only directory) counts as held: we cannot tell.
    """
    lock = FileLock(lock_path(db_path, job), timeout=0)
    try:
        lock.acquire()
    except (Timeout, OSError):
        yield False
        return
    try:
        yield True
    finally:
        lock.release()
