"""Filling a benchmark's database: rows in transactions of 50,000, then ANALYZE, as a long
history of runs would leave it for the query planner."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

BATCH = 50_000


def fill(db: Any, insert: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Insert `rows` with the statement `insert` into a sqlite-utils Database, then ANALYZE."""
    batch: list[tuple[Any, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            with db.atomic():
                db.conn.executemany(insert, batch)
            batch.clear()
    with db.atomic():
        db.conn.executemany(insert, batch)
    db.execute("ANALYZE")
