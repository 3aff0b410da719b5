"""One door into the database for readers: pending migrations applied, then a plain connection.

Reports, exports and listings read with sqlite3 alone: sqlite-utils (the writer's library) is
most of their start-up, so it is imported only when a migration is pending, and then `Store`
applies it under its write lock, exactly as a run opening the file would.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from batchbot.errors import InputError, not_a_database
from batchbot.store import BUSY_TIMEOUT_MS

# The last migration in migrations.py (a test keeps them in step).
LATEST_MIGRATION = "m012_server_limits"
APPLIED = "SELECT 1 FROM _sqlite_migrations WHERE migration_set = 'batchbot' AND name = ?"
NO_DATABASE = "no database at {path}: run a job first, or pass --db."
# After collection, what became of a batch's items by our rows: an expired or cancelled batch's
# unrun requests are pending again (the API counts them as failed).
BATCHES = """
SELECT b.*, (SELECT SUM(r.cost_usd) FROM requests r WHERE r.batch_id = b.batch_id
             AND r.mode = 'batch') AS cost_usd,
       (SELECT count(*) FROM requests r WHERE r.batch_id = b.batch_id
             AND r.status = 'failed') AS failed_items,
       (SELECT count(*) FROM requests r WHERE r.batch_id = b.batch_id
             AND r.status = 'pending') AS pending_items
FROM batches b WHERE (:job IS NULL OR b.job = :job) ORDER BY b.id
"""


def open_reader(path: str | Path) -> sqlite3.Connection:
    """A read connection to the database at `path`, migrated first.

    Raises InputError when there is no file there, or one SQLite cannot use.
    """
    if not Path(path).exists():
        raise InputError(NO_DATABASE.format(path=path))
    try:
        conn = sqlite3.connect(str(path))
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if not _migrated(conn):
            from batchbot.store.store import Store

            Store.open(path).close()
    except sqlite3.DatabaseError as exc:
        raise not_a_database(path, exc) from None
    return conn


@contextlib.contextmanager
def reading(path: str | Path) -> Iterator[sqlite3.Connection]:
    """`open_reader` for a `with` block: the connection is closed at its end."""
    conn = open_reader(path)
    try:
        yield conn
    finally:
        conn.close()


def list_batches(conn: sqlite3.Connection, job: str | None = None) -> list[dict[str, Any]]:
    """Batches (of `job`, if given), oldest first, with the cost of their answers so far."""
    cursor = conn.execute(BATCHES, {"job": job})
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor]


def _migrated(conn: sqlite3.Connection) -> bool:
    try:
        return conn.execute(APPLIED, (LATEST_MIGRATION,)).fetchone() is not None
    except sqlite3.OperationalError:  # no migrations table: a new, empty file
        return False
