"""Reading what a run stored, for the tests that check it: `from stored import rows`."""

from __future__ import annotations

import sqlite3
from pathlib import Path


def rows(db: Path, sql: str, *params: object) -> list[dict[str, object]]:
    """The rows `sql` selects from the database at `db`, each as a dict by column name."""
    with sqlite3.connect(db) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(row) for row in conn.execute(sql, params)]
