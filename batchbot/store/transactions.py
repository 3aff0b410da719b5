"""Taking SQLite's write lock: a transaction that holds it from its start, and a lock held too
long turned into one line (DatabaseBusy, exit 3) instead of a traceback."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

from sqlite_utils import Database
from tenacity import retry as retrying
from tenacity import retry_if_exception, stop_after_delay, wait_fixed

from batchbot.errors import DatabaseBusy
from batchbot.store import BUSY_TIMEOUT_MS

__all__ = ["busy_is_final", "switch_to_wal", "write_transaction"]


def _is_busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorcode in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


# Switching a new database to WAL needs it to itself, and SQLite does not wait for that
# (busy_timeout does not apply), so a second run opening it at the same moment waits here.
@retrying(
    retry=retry_if_exception(_is_busy),
    stop=stop_after_delay(BUSY_TIMEOUT_MS / 1000),
    wait=wait_fixed(0.05),
    reraise=True,
)
def switch_to_wal(db: Database) -> None:
    db.enable_wal()


@contextmanager
def busy_is_final(db: Database) -> Iterator[None]:
    """A lock still held once the wait is over becomes DatabaseBusy: one line, exit 3."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if not _is_busy(error):
            raise
        (_, _, path) = db.execute("PRAGMA database_list").fetchone()
        (timeout_ms,) = db.execute("PRAGMA busy_timeout").fetchone()
        raise DatabaseBusy(path or ":memory:", timeout_ms / 1000) from None


@contextmanager
def write_transaction(db: Database) -> Iterator[None]:
    """A transaction that holds the write lock from its start (a savepoint if one is open).

    A deferred transaction that reads before it writes fails at once with "database is locked"
    when another process commits in between; BEGIN IMMEDIATE waits its turn (busy_timeout).
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield
        return
    with busy_is_final(db):
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (a full disk) leaves the transaction open; end it so the next works.
        conn.rollback()
        raise
