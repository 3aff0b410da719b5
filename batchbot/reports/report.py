"""Spend reports: named SQL aggregates over the `spend` rollup -> rows -> table, JSON or CSV.

The rollup holds one row per (job, model, day, run) and is kept exact by triggers on
`requests` (migrations.m002_spend_rollup), so a report over millions of requests sums a few
thousand rows in SQLite and never loads requests into Python. Days are UTC dates of when a
request finished.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from batchbot.inert import inert_json
from batchbot.money.usd import usd
from batchbot.outcome import utc_now
from batchbot.reports import table
from batchbot.reports.budgets import JobBudget, job_budgets
from batchbot.reports.cells import NOT_IN_TABLE, ONLY_WHEN_USED, TABLE_HEADINGS, cell, csv_cell
from batchbot.reports.html import Page, render_html
from batchbot.reports.savings import SAVINGS_SUMS, savings_lines
from batchbot.store.failures import Reason, failure_reasons, reasons_text

__all__ = [
    "FORMATS",
    "GROUPS",
    "SUMS",
    "Report",
    "ReportQuery",
    "bar_chart",
    "build_report",
    "render",
    "render_csv",
    "render_json",
    "render_table",
    "spend_report",
]

# --by name -> the column it shows as (`report --json` uses these names:
# docs/costs-and-reports.md).
GROUPS: Mapping[str, str] = {
    "job": "job",
    "model": "model",
    "day": "day",
    "run": "run_id",
    "endpoint": "endpoint",
}
# The rollup stores "no model" as '' and "no run" as 0 (a primary key cannot hold NULL); the
# report shows them as null again. Grouping by the bare columns lets SQLite walk the primary key
# (job, model, day, run_id) in order instead of sorting.
NO_VALUE: Mapping[str, object] = {"model": "", "run_id": 0}
GROUP_SQL: Mapping[str, str] = {
    **{name: f"spend.{name}" for name in ("job", "model", "day", "run_id")},
    # One run calls one endpoint: each rollup row takes its run's (rows are per run, so the
    # sums stay exact). Requests of no run were chat, the only endpoint before endpoints.
    "endpoint": "coalesce((SELECT endpoint FROM runs WHERE runs.id = spend.run_id), "
    "'/v1/chat/completions')",
}
# Output column -> its SQL aggregate over `spend`.
SUMS: Mapping[str, str] = {
    # items: rows of `requests`, one per item (the name docs/database.md gives them)
    "requests": "sum(requests)",
    # the HTTP requests their answers took: a packed request once, Batch API lines none
    "http_requests": "sum(http_requests)",
    "answered": "sum(answered)",
    "truncated": "sum(truncated)",  # of the answered, those cut off at max_tokens
    "invalid": "sum(invalid)",  # answers that do not follow the item's schema
    "refused": "sum(refused)",
    "failed": "sum(failed)",
    "prompt_tokens": "sum(prompt_tokens)",
    "cached_tokens": "sum(cached_tokens)",
    "completion_tokens": "sum(completion_tokens)",
    "reasoning_tokens": "sum(reasoning_tokens)",
    # NULL when nothing in the group had a price; nano-dollars back to dollars.
    "cost_usd": "CASE WHEN sum(priced) = 0 THEN NULL ELSE round(sum(cost_nanousd) / 1e9, 9) END",
    "reasks": "sum(reasks)",  # answers asked again (on_invalid, on_length)
    "reask_cost_usd": "round(sum(reask_cost_nanousd) / 1e9, 9)",  # what they cost, in cost_usd
    "avg_latency_ms": "round(sum(latency_us) / 1000.0 / nullif(sum(timed), 0), 1)",
    **SAVINGS_SUMS,  # what the response cache, prompt caching, Batch and Flex saved
}
FILTERS: Mapping[str, str] = {
    "job": "job = :job",
    "since": "day >= :since",
    "until": "day <= :until",
}

# Reservations a run left when it died (money/budget.py): sent, maybe billed, never written.
# A Batch-mode run's are its files' until they are collected (batch/spending.py), not these.
UNRECORDED = """
SELECT count(*) AS requests, coalesce(sum(r.worst_usd), 0) AS worst_usd
FROM reservations r JOIN runs ON runs.id = r.run_id
WHERE runs.status != 'running' AND runs.mode != 'batch'
"""
UNRECORDED_FILTERS: Mapping[str, str] = {
    "job": "r.job = :job",
    "since": "substr(r.created_at, 1, 10) >= :since",
    "until": "substr(r.created_at, 1, 10) <= :until",
}
UNRECORDED_NOTE = (
    "\nIn flight when a run died: {requests} request(s) whose answers were never written, "
    "so their cost is unknown (the server may have billed them). They are not in the sums "
    "above; budgets count them at their worst case, {worst}. See "
    "docs/costs-and-reports.md to clear them once the bill is checked.\n"
)

Row = dict[str, Any]


class Database(Protocol):
    """A sqlite3 connection or a sqlite_utils Database: anything with execute()."""

    def execute(self, sql: str, parameters: Any = ..., /) -> sqlite3.Cursor: ...


@dataclass(frozen=True, slots=True)
class ReportQuery:
    """What to sum and how to group it; days are inclusive `YYYY-MM-DD` (UTC)."""

    by: tuple[str, ...] = ()
    job: str | None = None
    since: str | None = None
    until: str | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(GROUPS[name] for name in self.by)

    def sql(self) -> str:
        """The one aggregate query this report runs."""
        keys = [f"{GROUP_SQL[column]} AS {column}" for column in self.columns]
        sums = [f"{sql} AS {name}" for name, sql in SUMS.items()]
        where = [FILTERS[name] for name in FILTERS if getattr(self, name) is not None]
        sql = f"SELECT {', '.join([*keys, *sums])} FROM spend"
        if where:
            sql += " WHERE " + " AND ".join(where)
        if self.columns:
            positions = ", ".join(str(i) for i in range(1, len(self.columns) + 1))
            sql += f" GROUP BY {positions} ORDER BY {positions}"
        return sql

    def params(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in FILTERS if getattr(self, name) is not None}


def spend_report(db: Database, query: ReportQuery) -> list[Row]:
    """The report's rows: group keys first, then the sums (see SUMS)."""
    cursor = db.execute(query.sql(), query.params())
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]
    if not query.columns and rows and rows[0]["requests"] is None:
        return []  # no requests at all (or none matching): an empty report, not a row of NULLs
    for column in NO_VALUE.keys() & set(query.columns):
        for row in rows:
            if row[column] == NO_VALUE[column]:
                row[column] = None
    return rows


# -- rendering ------------------------------------------------------------------------------


def render_table(rows: Sequence[Row]) -> str:
    """A plain-text table, numbers right-aligned, with a total line when there are groups."""
    if not rows:
        return "No requests match.\n"
    columns = [
        c
        for c in rows[0]
        if c not in NOT_IN_TABLE and (c not in ONLY_WHEN_USED or any(row[c] for row in rows))
    ]
    headings = [TABLE_HEADINGS.get(c, c) for c in columns]
    body = [[cell(c, row[c]) for c in columns] for row in rows]
    numeric = {i for i, c in enumerate(columns) if c in SUMS}
    return "\n".join(table.render_table(headings, body, numeric=numeric, rule=True)) + "\n"


def render_json(rows: Sequence[Row]) -> str:
    return inert_json(json.dumps(list(rows), indent=2)) + "\n"


def render_csv(rows: Sequence[Row]) -> str:
    if not rows:
        return ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: csv_cell(value, key) for key, value in row.items()} for row in rows)
    return out.getvalue()


BAR = "█"
CHART_WIDTH = 40


def bar_chart(points: Sequence[tuple[str, float]], *, width: int = CHART_WIDTH) -> str:
    """`label  ████████  $1.2345` lines, the longest bar `width` wide."""
    if not points:
        return ""
    top = max(value for _, value in points) or 1.0
    label_width = max(len(label) for label, _ in points)
    lines = []
    for label, value in points:
        bar = BAR * round(value / top * width)
        lines.append(f"{label.ljust(label_width)}  {bar.ljust(width)}  {usd(value)}")
    return "\n".join(lines) + "\n"


def cost_by(db: Database, column: str, query: ReportQuery) -> list[tuple[str, float]]:
    """(group, cost) for one grouping under the query's filters, for the charts."""
    rows = spend_report(db, ReportQuery((column,), query.job, query.since, query.until))
    key = GROUPS[column]
    return [(str(row[key]), float(row["cost_usd"] or 0.0)) for row in rows]


# -- the whole report -----------------------------------------------------------------------

FORMATS = ("table", "json", "csv", "html")


@dataclass(frozen=True, slots=True)
class Report:
    """A report's rows plus what every format may show besides: totals, charts, failures.

    The per-day-and-model and per-job figures are only gathered for the HTML page (`detail`).
    """

    query: ReportQuery
    rows: list[Row]
    total: Row | None
    by_day: list[tuple[str, float]]
    failures: list[Reason] = field(default_factory=list)
    invalid: list[Reason] = field(default_factory=list)  # why answers were invalid
    source: str = ""
    generated_at: str = ""
    by_day_model: list[tuple[str, str, float]] = field(default_factory=list)
    by_job: list[tuple[str, float]] = field(default_factory=list)
    by_job_model: list[Row] = field(default_factory=list)
    unrecorded: Row | None = None  # requests in flight when a run died (UNRECORDED)
    budgets: list[JobBudget] = field(default_factory=list)


def build_report(
    db: Database, query: ReportQuery, *, detail: bool = False, source: str = ""
) -> Report:
    """Run the report's queries (each an aggregate over the rollup); `source` names the
    database for the page, `detail` gathers what only the HTML page shows."""
    rows = spend_report(db, query)
    totals = rows if not query.by else spend_report(db, ReportQuery((), *_filters(query)))
    total = totals[0] if totals else None
    failures, invalid = [], []
    if total and total["failed"]:
        failures = failure_reasons(db, job=query.job, since=query.since, until=query.until)
    if total and total["invalid"]:
        invalid = failure_reasons(
            db, job=query.job, since=query.since, until=query.until, status="invalid"
        )
    report = Report(
        query, rows, total, cost_by(db, "day", query), failures, invalid, source, utc_now()
    )
    report = dataclasses.replace(report, unrecorded=unrecorded(db, query))
    if not detail:
        return report
    day_model = spend_report(db, ReportQuery(("day", "model"), *_filters(query)))
    return dataclasses.replace(
        report,
        by_day_model=[(r["day"], r["model"] or "?", float(r["cost_usd"] or 0)) for r in day_model],
        by_job=cost_by(db, "job", query),
        by_job_model=spend_report(db, ReportQuery(("job", "model"), *_filters(query))),
        budgets=job_budgets(db, job=query.job, since=query.since, until=query.until),
    )


def unrecorded(db: Database, query: ReportQuery) -> Row | None:
    """Requests that runs since dead left reserved: how many, and their worst case in USD."""
    where = [UNRECORDED_FILTERS[name] for name in FILTERS if getattr(query, name) is not None]
    sql = UNRECORDED + "".join(f" AND {condition}" for condition in where)
    requests, worst_usd = db.execute(sql, query.params()).fetchone()
    return {"requests": requests, "worst_usd": worst_usd} if requests else None


def _filters(query: ReportQuery) -> tuple[str | None, str | None, str | None]:
    return query.job, query.since, query.until


def render(report: Report, fmt: str) -> str:
    """The report as text in one of FORMATS."""
    if fmt == "json":
        return render_json(report.rows)
    if fmt == "csv":
        return render_csv(report.rows)
    if fmt == "html":
        return render_html(
            Page(
                _title(report.query),
                report.source,
                report.generated_at,
                report.total,
                report.rows,
                report.by_day_model,
                report.by_job,
                report.by_job_model,
                report.failures,
                report.invalid,
                report.budgets,
            )
        )
    text = render_table(report.rows)
    if report.by_day:
        text += "\nCost by day (UTC)\n" + bar_chart(report.by_day)
    if report.failures:
        text += "\nWhy items failed (commonest first)\n"
        text += "".join(f"  {line}\n" for line in reasons_text(report.failures))
    if report.invalid:
        text += "\nWhy answers were invalid (commonest first)\n"
        text += "".join(f"  {line}\n" for line in reasons_text(report.invalid))
    if report.total and report.total["reasks"]:
        text += "\n" + reasks_line(report.total) + "\n"
    saved = savings_lines(report.total) if report.total else []
    if saved:
        text += "\n" + "\n".join(saved) + "\n"
    if report.unrecorded:
        unrecorded = report.unrecorded
        text += UNRECORDED_NOTE.format(
            requests=unrecorded["requests"], worst=usd(unrecorded["worst_usd"])
        )
    return text


def reasks_line(total: Row) -> str:
    """What asking again did: `48 answers asked again (on_invalid, on_length): $0.0021 of $0.31`."""
    cost, of = total["reask_cost_usd"] or 0.0, total["cost_usd"] or 0.0
    return (
        f"{total['reasks']:,} answers asked again (on_invalid, on_length): "
        f"{usd(cost)} of the {usd(of)} spent"
    )


def _title(query: ReportQuery) -> str:
    parts = ["batchbot spend"]
    if query.job:
        parts.append(f"job {query.job}")
    if query.since or query.until:
        parts.append(f"{query.since or '…'} to {query.until or '…'}")
    return " · ".join(parts)
