"""`batchbot report --html FILE`: one self-contained page, no network, charts as inline SVG.

What a spender looks for, top to bottom: the totals; where and when from (the database, the
time the page was made); spend over time, stacked by model; spend by job; what an answered
item cost, by job and model; what failed, was cut off, invalid or refused, and why, and what
asking again cost; then the report's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from batchbot.reports.cells import TABLE_HEADINGS, cell
from batchbot.reports.svg import colour, svg_bars, svg_stacked

__all__ = ["Page", "render_html"]

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em 2em; color: #222; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; } h2 { font-size: 1.15em; margin-top: 2em; }
.source { color: #666; margin-top: 0; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 0.25em 0.75em; border-bottom: 1px solid #ddd; text-align: left; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.totals { display: flex; flex-wrap: wrap; gap: 1.5em; }
.totals div { background: #f4f6fa; padding: 0.75em 1em; border-radius: 6px; flex: 1; }
.totals b { display: block; font-size: 1.4em; }
figure { margin: 0; width: 100%; }
.legend span { display: inline-block; margin-right: 1.5em; }
.legend i { display: inline-block; width: 0.9em; height: 0.9em; margin-right: 0.3em; }
svg text { font: 13px system-ui, sans-serif; fill: #333; }
"""
KEYS = ("job", "model", "day", "run_id")


@dataclass(frozen=True, slots=True)
class Page:
    """Everything the page shows; rows are report rows (see report.SUMS for their sums)."""

    title: str
    source: str  # the database the figures come from
    generated_at: str  # UTC ISO-8601
    total: dict[str, Any] | None
    rows: Sequence[dict[str, Any]]
    by_day_model: Sequence[tuple[str, str, float]] = ()
    by_job: Sequence[tuple[str, float]] = ()
    by_job_model: Sequence[dict[str, Any]] = ()
    failures: Sequence[tuple[str, int]] = field(default_factory=tuple)
    invalid: Sequence[tuple[str, int]] = field(default_factory=tuple)  # why answers were invalid


def render_html(page: Page) -> str:
    """The whole page, as one string with its style and charts inline."""
    models = _by_spend(page.by_day_model)
    sections = [
        ("Spend over time, by model", "by-day", _legend(models) + svg_stacked(
            page.by_day_model, models, title="spend by day and model")),
        ("Spend by job", "by-job", svg_bars(page.by_job, title="spend by job")),
        ("Cost per answered item", "per-item", _per_item(page.by_job_model)),
        ("Failures, cut-off, invalid and refused answers", "problems", _problems(page)),
        ("Details", "details", _table(page.rows)),
    ]  # fmt: skip
    body = "".join(
        f'<h2>{escape(heading)}</h2>\n<figure id="{anchor}">{content}</figure>\n'
        for heading, anchor, content in sections
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(page.title)}</title>'
        f"<style>{STYLE}</style></head><body>\n"
        f"<h1>{escape(page.title)}</h1>\n"
        f'<p class="source">From {escape(page.source)}, generated {escape(_when(page))}</p>\n'
        f"{_totals(page.total)}\n{body}</body></html>\n"
    )


def _when(page: Page) -> str:
    return page.generated_at[:19].replace("T", " ") + " UTC"


def _by_spend(points: Sequence[tuple[str, str, float]]) -> list[str]:
    """The models, biggest spender first: the bottom of each stack, the first colour."""
    spend: dict[str, float] = {}
    for _, model, value in points:
        spend[model] = spend.get(model, 0.0) + value
    return sorted(spend, key=lambda model: -spend[model])


def _legend(models: Sequence[str]) -> str:
    items = "".join(
        f'<span><i style="background:{colour(i)}"></i>{escape(m)}</span>'
        for i, m in enumerate(models)
    )
    return f'<p class="legend">{items}</p>'


def _per_item(rows: Sequence[dict[str, Any]]) -> str:
    shown = [
        {
            "job": row["job"],
            "model": row["model"],
            "answered": row["answered"],
            "cost_usd": row["cost_usd"],
            "per_answer": row["cost_usd"] / row["answered"]
            if row["cost_usd"] is not None and row["answered"]
            else None,
        }
        for row in rows
    ]
    return _table(shown, headings={"per_answer": "USD per answered item"})


PROBLEMS = ("truncated", "invalid", "refused", "failed", "reasks", "reask_cost_usd")


def _problems(page: Page) -> str:
    rows = [
        {k: row[k] for k in ("job", "model", "requests", "answered", *PROBLEMS)}
        for row in page.by_job_model
        if any(row[k] for k in PROBLEMS)
    ]
    if not rows:
        return "<p>Nothing failed, and every answer was whole and valid.</p>"
    why = _reasons("Why items failed", page.failures)
    why += _reasons("Why answers were invalid", page.invalid)
    return _table(rows) + why


def _reasons(title: str, reasons: Sequence[tuple[str, int]]) -> str:
    items = "".join(f"<li><b>{count:,} ×</b> {escape(message)}</li>" for message, count in reasons)
    return f"<p>{escape(title)}, commonest first:</p><ul>{items}</ul>" if items else ""


def _table(rows: Sequence[dict[str, Any]], headings: dict[str, str] | None = None) -> str:
    if not rows:
        return "<p>No requests match.</p>"
    names = {**TABLE_HEADINGS, **(headings or {})}
    columns = list(rows[0])

    def cls(column: str) -> str:
        return "" if column in KEYS else ' class="n"'

    def value(column: str, v: Any) -> str:
        return "-" if v is None else f"{v:,.6f}" if column == "per_answer" else cell(column, v)

    head = "".join(f"<th{cls(c)}>{escape(names.get(c, c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{cls(c)}>{escape(value(c, row[c]))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _totals(total: dict[str, Any] | None) -> str:
    if total is None:
        return ""
    answered, cost = total["answered"], total["cost_usd"]
    shown = {
        "cost USD": f"${cost or 0:,.4f}",
        "requests": f"{total['requests']:,}",
        "answered": f"{answered:,}",
        "USD per answered item": f"${cost / answered:,.6f}" if cost and answered else "-",
        "cut off": f"{total['truncated']:,}",
        "invalid": f"{total['invalid']:,}",
        "refused": f"{total['refused']:,}",
        "failed": f"{total['failed']:,}",
        "asked again": f"{total['reasks']:,} (${total['reask_cost_usd'] or 0:,.4f})",
        "tokens": f"{total['prompt_tokens'] + total['completion_tokens']:,}",
    }
    return (
        '<div class="totals">'
        + "".join(f"<div><b>{escape(v)}</b>{escape(k)}</div>" for k, v in shown.items())
        + "</div>"
    )
