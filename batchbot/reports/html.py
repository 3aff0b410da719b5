"""`batchbot report --html FILE`: one self-contained page, no network, charts as inline SVG.

What the person who pays looks for, top to bottom: the totals (what was spent, and saved);
where and when from (the database, the time the page was made); spend over time, stacked by
the models that spent, against the daily budget when there is one (one day alone: by model);
spend by job; the budgets the jobs ran under and what they spent against them; what paid less
than list prices (the response cache, prompt caching, Batch, Flex); what an answered item
cost, by job and model; what failed, was cut off, invalid or refused, and why, and what asking
again cost; then the report's table. Money has its significant digits everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any

from batchbot.money.usd import usd
from batchbot.reports.budgets import JobBudget
from batchbot.reports.cells import NOT_IN_TABLE, TABLE_HEADINGS, cell
from batchbot.reports.savings import savings
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
.note { color: #666; }
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
    budgets: Sequence[JobBudget] = ()


def render_html(page: Page) -> str:
    """The whole page, as one string with its style and charts inline."""
    sections = [
        ("Spend over time, by model", "by-day", _over_time(page)),
        ("Spend by job", "by-job", svg_bars(page.by_job, title="spend by job")),
        *([("Budgets", "budgets", _budgets(page.budgets))] if page.budgets else []),
        ("What paid less than list prices", "saved", _saved(page.total)),
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


def _over_time(page: Page) -> str:
    """Spend by day, stacked by model; one day alone is a bar per model, not a lone column."""
    days = sorted({day for day, _, _ in page.by_day_model})
    models = _by_spend(page.by_day_model)
    if len(days) == 1:
        spent = {model: 0.0 for model in models}
        for _, model, value in page.by_day_model:
            if model in spent:
                spent[model] += value
        bars = svg_bars(list(spent.items()), title=f"spend on {days[0]} by model")
        return f'<p class="note">All of it on {escape(days[0])}, by model:</p>{bars}'
    daily = [b.per_day for b in page.budgets if b.per_day is not None]
    budget = daily[0] if len(daily) == 1 else None  # one job's daily budget: drawn as a line
    chart = svg_stacked(page.by_day_model, models, title="spend by day and model", budget=budget)
    return _legend(models) + chart


def _by_spend(points: Sequence[tuple[str, str, float]]) -> list[str]:
    """The models that spent, biggest spender first: the bottom of each stack, the first
    colour. Models with no cost (unpriced, or answered from the cache) have no colour."""
    spend: dict[str, float] = {}
    for _, model, value in points:
        spend[model] = spend.get(model, 0.0) + value
    return sorted((m for m in spend if spend[m] > 0), key=lambda model: -spend[model])


def _budgets(budgets: Sequence[JobBudget]) -> str:
    rows = [
        {
            "job": b.job,
            "budget_run": "-" if b.per_run is None else usd(b.per_run),
            "latest_run": f"run {b.run_id}: {_against(b.run_spent, b.per_run)}",
            "budget_day": "-" if b.per_day is None else usd(b.per_day),
            "dearest_day": "-"
            if b.dearest_day is None
            else f"{b.dearest_day}: {_against(b.day_spent, b.per_day)}",
        }
        for b in budgets
    ]
    headings = {
        "budget_run": "budget per run",
        "latest_run": "its latest run spent",
        "budget_day": "budget per day",
        "dearest_day": "the most it spent in a day",
    }
    return _table(rows, headings, keys={"job", "latest_run", "dearest_day"})


def _against(spent: float, budget: float | None) -> str:
    """`$1.98 (99 % of it)`: spend, and its share of the budget if there is one."""
    if not budget:
        return usd(spent)
    return f"{usd(spent)} ({spent / budget * 100:.2g} % of it)"


def _saved(total: dict[str, Any] | None) -> str:
    found = savings(total) if total else []
    if not found:
        return (
            "<p>Everything was paid at list price: no answer reused from the response cache, "
            "no cached input, nothing sent through the Batch API or Flex.</p>"
        )
    rows = [{"how": what, "what": detail, "saved": usd(amount)} for what, detail, amount in found]
    headings = {"how": "", "what": "", "saved": "saved (USD)"}
    net = sum(amount for _, _, amount in found)
    return _table(rows, headings, keys={"how", "what"}) + (
        f'<p class="note">{escape(usd(net))} less than the same answers at list prices: '
        "synchronous, at the default tier, with no cached input.</p>"
    )


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


def _table(
    rows: Sequence[dict[str, Any]],
    headings: dict[str, str] | None = None,
    *,
    keys: set[str] | frozenset[str] = frozenset(KEYS),
) -> str:
    """A table of `rows`, the `keys` columns as text, the others as right-aligned figures."""
    if not rows:
        return "<p>No requests match.</p>"
    names = {**TABLE_HEADINGS, **(headings or {})}
    columns = [column for column in rows[0] if column not in NOT_IN_TABLE]

    def cls(column: str) -> str:
        return "" if column in keys else ' class="n"'

    def value(column: str, v: Any) -> str:
        return "-" if v is None else cell(column, v)

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
    saved = sum(amount for _, _, amount in savings(total))
    shown = {
        "cost": usd(cost or 0),
        "saved against list prices": usd(saved),
        "requests": f"{total['requests']:,}",
        "answered": f"{answered:,}",
        "reused from the cache": f"{total['cache_hits'] or 0:,}",
        "per answered item": usd(cost / answered) if cost and answered else "-",
        "cut off": f"{total['truncated']:,}",
        "invalid": f"{total['invalid']:,}",
        "refused": f"{total['refused']:,}",
        "failed": f"{total['failed']:,}",
        "asked again": f"{total['reasks']:,} ({usd(total['reask_cost_usd'] or 0)})",
        "tokens": f"{total['prompt_tokens'] + total['completion_tokens']:,}",
    }
    return (
        '<div class="totals">'
        + "".join(f"<div><b>{escape(v)}</b>{escape(k)}</div>" for k, v in shown.items())
        + "</div>"
    )
