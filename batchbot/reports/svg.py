"""The HTML report's charts: inline SVG that scales to the page's width, no script, no network."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from batchbot.money.usd import usd

__all__ = ["PALETTE", "colour", "svg_bars", "svg_stacked"]

# Distinct on screen and in print; the first is the single-series colour.
PALETTE = (
    "#1f6feb", "#e8590c", "#2f9e44", "#ae3ec9", "#f59f00", "#0c8599", "#e03131", "#5c7cfa",
)  # fmt: skip
BAR_HEIGHT = 22
LABEL_WIDTH = 200
WIDTH = 1000  # viewBox units; the figure is drawn as wide as the page
STACK_HEIGHT = 260
AXIS = 100  # room for the dollar axis on the left: $0.0000378 fits
FOOT = 40  # room for the day labels below
MAX_LABELS = 10  # full dates, as many as fit side by side
BUDGET_COLOUR = "#c92a2a"
SHOWN_UP_TO = 1.5  # a budget this many times the top day or less is drawn within the chart
MAX_BAR = 80  # a column no wider than this, however few days there are


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _svg(title: str, height: float, body: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="100%" viewBox="0 0 {WIDTH} {height:.0f}">{body}</svg>'
    )


def svg_bars(points: Sequence[tuple[str, float]], *, title: str) -> str:
    """A horizontal bar chart of dollars, one bar per label."""
    if not points:
        return "<p>No spend to chart.</p>"
    top = max(value for _, value in points) or 1.0
    span = WIDTH - LABEL_WIDTH - 110
    rows = []
    for i, (label, value) in enumerate(points):
        y = 5 + i * BAR_HEIGHT
        width = max(1.0, value / top * span) if value else 0.0
        rows.append(
            f'<text x="{LABEL_WIDTH - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 3}" width="{width:.1f}" height="{BAR_HEIGHT - 6}" '
            f'fill="{PALETTE[0]}"><title>{escape(label)}: {usd(value)}</title></rect>'
            f'<text x="{LABEL_WIDTH + width + 6:.1f}" y="{y + 15}">{usd(value)}</text>'
        )
    return _svg(title, BAR_HEIGHT * len(points) + 10, "".join(rows))


def svg_stacked(
    points: Sequence[tuple[str, str, float]],
    series: Sequence[str],
    *,
    title: str,
    budget: float | None = None,
) -> str:
    """Dollars over time: one column per day, stacked by series (models), `series` order; a
    daily `budget` as a line across, or said below when it is far above the spend."""
    days = sorted({day for day, _, _ in points})
    if not days:
        return "<p>No spend to chart.</p>"
    cost = {(day, name): value for day, name, value in points}
    totals = [sum(cost.get((day, name), 0.0) for name in series) for day in days]
    top = max(totals) or 1.0
    drawn = budget is not None and budget <= top * SHOWN_UP_TO
    if drawn and budget is not None:
        top = max(top, budget)
    plot = STACK_HEIGHT - FOOT - 10
    step = (WIDTH - AXIS) / len(days)
    every = -(-len(days) // MAX_LABELS)  # label every few days when there are many
    body = [
        f'<text x="{AXIS - 8}" y="18" text-anchor="end">{usd(top)}</text>',
        f'<text x="{AXIS - 8}" y="{10 + plot}" text-anchor="end">$0</text>',
        f'<line x1="{AXIS}" y1="{10 + plot}" x2="{WIDTH}" y2="{10 + plot}" stroke="#999"/>',
    ]
    bar = min(step * 0.7, MAX_BAR)
    for i, day in enumerate(days):
        x, base = AXIS + i * step + (step - bar) / 2, float(10 + plot)
        for j, name in enumerate(series):
            height = cost.get((day, name), 0.0) / top * plot
            if height <= 0:
                continue
            base -= height
            body.append(
                f'<rect x="{x:.1f}" y="{base:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{colour(j)}"><title>{escape(day)} '
                f"{escape(name)}: {usd(cost[(day, name)])}</title></rect>"
            )
        if i % every:
            continue
        label_x = x + bar / 2
        body.append(
            f'<text x="{label_x:.1f}" y="{STACK_HEIGHT - 14}" text-anchor="middle">'
            f"{escape(day)}</text>"
        )
    if drawn and budget is not None:
        y = 10 + plot - budget / top * plot
        body.append(
            f'<line x1="{AXIS}" y1="{y:.1f}" x2="{WIDTH}" y2="{y:.1f}" stroke="{BUDGET_COLOUR}" '
            f'stroke-width="2" stroke-dasharray="6 4"/>'
            f'<text x="{WIDTH - 4}" y="{y + 16:.1f}" text-anchor="end" '
            f'style="fill: {BUDGET_COLOUR}">budget {usd(budget)} a day</text>'
        )
    chart = _svg(title, STACK_HEIGHT, "".join(body))
    if budget is not None and not drawn:
        chart += (
            f'<p class="note">The daily budget, {usd(budget)}, is above the chart: the most '
            f"spent in a day was {usd(max(totals))}, {max(totals) / budget * 100:.2g} % of it.</p>"
        )
    return chart
