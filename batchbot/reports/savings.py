"""What paid less than the list price, and how much: the response cache, prompt caching, the
Batch API and Flex (and what priority processing cost on top).

A list price is what an answer costs synchronously, at the default service tier, with no
cached input (`requests.list_usd`). The rollup (migrations.m008) sums, per report group, the
list price of the answers the response cache gave (they cost nothing), what cached input
tokens took off, and the rest of the difference for Batch and Flex answers. Only answers with
a known cost count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchbot.money.usd import usd

__all__ = ["SAVINGS_SUMS", "savings", "savings_lines"]

NANO = "round(sum({column}) / 1e9, 9)"
# Report column -> its SQL aggregate over `spend`.
SAVINGS_SUMS: Mapping[str, str] = {
    "cache_hits": "sum(cache_hits)",  # answers the response cache gave
    "cache_saved_usd": NANO.format(column="cache_saved_nanousd"),
    "prompt_cache_saved_usd": NANO.format(column="prompt_cache_saved_nanousd"),
    "batch_saved_usd": NANO.format(column="batch_saved_nanousd"),
    "flex_saved_usd": NANO.format(column="flex_saved_nanousd"),
    "priority_extra_usd": NANO.format(column="priority_extra_nanousd"),
}


def savings(total: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """(what, how much of it, dollars saved) for each source of savings a report's total has;
    priority processing's extra cost as a negative saving."""
    prompt, cached = total["prompt_tokens"] or 0, total["cached_tokens"] or 0
    share = f"{cached / prompt:.0%} of prompt tokens cached" if prompt else ""
    found = [
        ("response cache", f"{total['cache_hits'] or 0:,} answers reused", "cache_saved_usd"),
        ("prompt caching", share, "prompt_cache_saved_usd"),
        ("Batch API", "half price", "batch_saved_usd"),
        ("Flex", "half price", "flex_saved_usd"),
    ]
    rows = [(what, detail, float(total[key] or 0.0)) for what, detail, key in found]
    rows.append(("priority", "above list prices", -float(total["priority_extra_usd"] or 0.0)))
    return [row for row in rows if abs(row[2]) >= 5e-10]


def savings_lines(total: Mapping[str, Any]) -> list[str]:
    """`Saved against list prices: $0.0123`, then a line per source."""
    found = savings(total)
    if not found:
        return []
    width = max(len(what) for what, _, _ in found)
    lines = [f"Saved against list prices: {usd(sum(amount for _, _, amount in found))}"]
    for what, detail, amount in found:
        lines.append(f"  {what.ljust(width)}  {usd(amount):>10}  {detail}")
    return lines
