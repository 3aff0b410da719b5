"""`batchbot report --html FILE`: one self-contained page, no network, charts as inline SVG."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from batchbot.reports.cells import TABLE_HEADINGS, cell

__all__ = ["render_html", "svg_bars"]

STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 2em; }
table { border-collapse: collapse; }
th, td { padding: 0.25em 0.75em; border-bottom: 1px solid #ddd; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
.totals { display: flex; gap: 2em; }
.totals div { background: #f4f6fa; padding: 0.75em 1em; border-radius: 6px; }
.totals b { display: block; font-size: 1.4em; }
svg text { font: 12px system-ui, sans-serif; fill: #333; }
"""
BAR_COLOUR = "#1f6feb"
BAR_HEIGHT = 22
LABEL_WIDTH = 170
CHART_WIDTH = 640


def svg_bars(points: Sequence[tuple[str, float]], *, title: str) -> str:
    """A horizontal bar chart of dollars, one bar per label."""
    if not points:
        return "<p>No spend to chart.</p>"
    top = max(value for _, value in points) or 1.0
    span = CHART_WIDTH - LABEL_WIDTH - 90
    height = BAR_HEIGHT * len(points) + 10
    rows = []
    for i, (label, value) in enumerate(points):
        y = 5 + i * BAR_HEIGHT
        width = max(1.0, value / top * span) if value else 0.0
        rows.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{BAR_HEIGHT - 6}" '
            f'fill="{BAR_COLOUR}"><title>{escape(label)}: ${value:,.4f}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">${value:,.4f}</text>'
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{CHART_WIDTH}" height="{height}" viewBox="0 0 {CHART_WIDTH} {height}">'
        + "".join(rows)
        + "</svg>"
    )


def _table(rows: Sequence[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No requests match.</p>"
    columns = list(rows[0])
    numeric = {c for c in columns if c not in ("job", "model", "day", "run_id")}

    def cls(column: str) -> str:
        return ' class="n"' if column in numeric else ""

    head = "".join(f"<th{cls(c)}>{escape(TABLE_HEADINGS.get(c, c))}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(f"<td{cls(c)}>{escape(cell(c, row[c]))}</td>" for c in columns) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _totals(total: dict[str, Any] | None) -> str:
    if total is None:
        return ""
    shown = {
        "cost USD": f"${total['cost_usd'] or 0:,.4f}",
        "requests": f"{total['requests']:,}",
        "failed": f"{total['failed']:,}",
        "tokens": f"{total['prompt_tokens'] + total['completion_tokens']:,}",
    }
    return (
        '<div class="totals">'
        + "".join(f"<div><b>{escape(v)}</b>{escape(k)}</div>" for k, v in shown.items())
        + "</div>"
    )


def render_html(
    *,
    title: str,
    total: dict[str, Any] | None,
    rows: Sequence[dict[str, Any]],
    by_day: Sequence[tuple[str, float]],
    by_model: Sequence[tuple[str, float]],
) -> str:
    """The whole page: totals, spend by day and by model as SVG, and the report's table."""
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{STYLE}</style></head><body>\n"
        f"<h1>{escape(title)}</h1>\n{_totals(total)}\n"
        f'<h2>Spend by day</h2>\n<figure id="by-day">{svg_bars(by_day, title="by day")}</figure>\n'
        f"<h2>Spend by model</h2>\n"
        f'<figure id="by-model">{svg_bars(by_model, title="by model")}</figure>\n'
        f"<h2>Details</h2>\n{_table(rows)}\n"
        "</body></html>\n"
    )
