"""`batchbot batches`: the Batch API batches batchbot submitted, one line each."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchbot.money.usd import usd
from batchbot.reports.table import render_table

BATCH_COLUMNS = (
    "job",
    "batch_id",
    "status",
    "requests",
    "completed",
    "failed",
    "created_at",
    "model",
    "cost_usd",
)
HEADER = ("job", "batch", "status", "requests", "done", "failed", "created", "model", "cost")
NO_BATCHES = "No batches yet: `batchbot run JOB --mode batch` submits some."


def batches_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Rows of the `batches` table as aligned text, one line per batch."""
    if not rows:
        return [NO_BATCHES]
    return render_table(HEADER, [[_cell(row, column) for column in BATCH_COLUMNS] for row in rows])


def _cell(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    collected = bool(row.get("collected_at"))
    if column == "failed" and collected:
        value = row.get("failed_items")  # the API also counts requests it never ran
    if column == "status" and collected and row.get("pending_items"):
        return f"{value}, {row['pending_items']:,} back to pending"
    if column == "batch_id" and not value:
        return f"({row.get('input_file_id') or 'not uploaded'})"
    if column == "cost_usd" and value is not None:
        return usd(value)
    if column == "created_at" and value:
        return str(value)[:19].replace("T", " ")
    return "" if value is None else str(value)
