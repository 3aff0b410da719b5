"""How one value of a spend report or an export reads in a table cell, text, HTML or CSV."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchbot.inert import printable

# A spreadsheet takes a cell starting with one of these for a formula (OWASP, "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

TABLE_HEADINGS: Mapping[str, str] = {
    "job": "job",
    "model": "model",
    "day": "day",
    "run_id": "run",
    "requests": "items",
    "http_requests": "HTTP requests",
    "answered": "answered",
    "truncated": "cut off",
    "invalid": "invalid",
    "refused": "refused",
    "failed": "failed",
    "prompt_tokens": "prompt",
    "cached_tokens": "cached",
    "completion_tokens": "completion",
    "reasoning_tokens": "reasoning",
    "cost_usd": "cost USD",
    "reasks": "re-asks",
    "reask_cost_usd": "re-asks USD",
    "avg_latency_ms": "avg ms",
}
# Columns a table shows only when some row has one: most jobs have no schema and no re-asks.
ONLY_WHEN_USED = ("invalid", "refused", "reasks", "reask_cost_usd")


def cell(column: str, value: Any) -> str:
    """One value as the table shows it."""
    if value is None:
        return "-"
    if column in ("cost_usd", "reask_cost_usd"):
        return f"{value:,.4f}"
    if column == "avg_latency_ms":
        return f"{value:,.0f}"
    if isinstance(value, int) and column != "run_id":
        return f"{value:,}"
    return str(value)


def csv_cell(value: Any) -> Any:
    """A CSV cell a spreadsheet shows as it is: text stripped of control characters and, when it
    would start a formula, opened with a quote (OWASP); numbers and empty cells as they are."""
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
