"""Runs that died without closing their row (kill -9, a crash, a reboot) are closed as `crashed`.

A run's row says `running` from its start until it ends, and a run that dies unannounced
cannot change it. A live run always holds its job's lock (lock.py), so a `running` row of a
job whose lock no process holds belongs to a dead run. A run closes its job's such rows when
it starts (it holds the lock then); `batchbot runs` closes those of any job whose lock is free.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from batchbot.errors import DatabaseBusy
from batchbot.outcome import utc_now
from batchbot.run.lock import if_free
from batchbot.store.read import reading
from batchbot.store.store import Store

log = logging.getLogger("batchbot")

CRASHED = (
    "the run's process ended without closing it (kill -9, a crash or a reboot); found at {found}"
)
RUNNING_JOBS = "SELECT DISTINCT job FROM runs WHERE status = 'running'"


def close_crashed(store: Store, job: str) -> int:
    """Close the job's `running` rows; the caller holds the job's lock. Returns how many."""
    closed = store.close_crashed_runs(job, error=CRASHED.format(found=utc_now()))
    if closed:
        log.info("closed %d run(s) of job %s that ended without a word", closed, job)
    return closed


def close_abandoned(db_path: Path) -> None:
    """Close the `running` rows of every job whose lock no process holds (for `runs` and
    `report`). A database this process may only read is left as it is."""
    with reading(db_path) as conn:
        jobs = [job for (job,) in conn.execute(RUNNING_JOBS)]
    for job in jobs:
        with if_free(db_path, job) as free:
            if not free:
                continue
            try:
                _close_in(db_path, job)
            except (sqlite3.Error, DatabaseBusy):  # read-only or busy: list the rows as they are
                return


def _close_in(db_path: Path, job: str) -> None:
    store = Store.open(db_path)
    try:
        close_crashed(store, job)
    finally:
        store.close()
