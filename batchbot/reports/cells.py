"""How one value of a spend report or an export reads in a table cell, text, HTML or CSV."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchbot.inert import printable
from batchbot.money.usd import usd_exact, usd_figure

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
    "cache_hits": "reused",
}
# Columns in dollars, shown with their significant digits (money.usd).
MONEY = frozenset(
    {
        "cost_usd",
        "reask_cost_usd",
        "list_usd",
        "cache_saved_usd",
        "prompt_cache_saved_usd",
        "batch_saved_usd",
        "flex_saved_usd",
        "priority_extra_usd",
        "per_answer",
    }
)
# Columns a table shows only when some row has one: most jobs have no schema and no re-asks.
ONLY_WHEN_USED = ("invalid", "refused", "reasks", "reask_cost_usd", "cache_hits")
# What was saved is said below a table (reports.savings), in JSON and CSV, not in its columns.
NOT_IN_TABLE = frozenset(
    {
        "cache_saved_usd",
        "prompt_cache_saved_usd",
        "batch_saved_usd",
        "flex_saved_usd",
        "priority_extra_usd",
    }
)


def cell(column: str, value: Any) -> str:
    """One value as the table shows it."""
    if value is None:
        return "-"
    if column in MONEY:
        return usd_figure(value)
    if column == "avg_latency_ms":
        return f"{value:,.0f}"
    if isinstance(value, int) and column != "run_id":
        return f"{value:,}"
    return str(value)


def csv_cell(value: Any, column: str | None = None) -> Any:
    """A CSV cell a spreadsheet shows as it is: text stripped of control characters and, when it
    would start a formula, opened with a quote (OWASP); dollars as plain decimals to the
    nano-dollar (never 4.5e-05); other numbers and empty cells as they are."""
    if isinstance(value, float) and column in MONEY:
        return usd_exact(value)
    if not isinstance(value, str):
        return value
    text = printable(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text
