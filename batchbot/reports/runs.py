"""`batchbot runs`: recent runs, newest first, with why each stopped and what went wrong."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from batchbot.money.usd import usd, usd_figure
from batchbot.reports.report import Database
from batchbot.reports.table import render_table
from batchbot.store.failures import failure_reasons, reasons_text

__all__ = ["recent_runs", "render_runs"]

RECENT_RUNS = """
SELECT id AS run_id, job, status, started_at, finished_at, items, skipped, ok, truncated,
       invalid, refused, failed, cost_usd, reasks, reask_cost_usd, error
FROM runs
WHERE (:job IS NULL OR job = :job)
ORDER BY started_at DESC, id DESC
LIMIT :limit
"""
RUN_HEADINGS = (
    "run", "job", "status", "started (UTC)", "items", "ok", "failed", "cost USD", "time"
)  # fmt: skip
RUN_NUMERIC = frozenset({0, 4, 5, 6, 7, 8})
RUN_WIDTHS = (5, 16, 11, 19, 7, 7, 6, 10, 8)  # fixed, so runs line up from one listing to the next
INDENT = " " * 7
# Statuses of a run that ended before every item was tried; `runs.error` says why (for a
# crashed one: that its process died unannounced, and when that was found).
STOPPED = ("stopped", "interrupted", "crashed")


def recent_runs(db: Database, *, job: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs first, with their duration in seconds (None while running)."""
    cursor = db.execute(RECENT_RUNS, {"job": job, "limit": limit})
    names = [d[0] for d in cursor.description]
    runs = []
    for values in cursor.fetchall():
        run = dict(zip(names, values, strict=True))
        run["duration_s"] = _seconds(run["started_at"], run.pop("finished_at"))
        reasons = failure_reasons(db, run_id=run["run_id"]) if run["failed"] else []
        run["failures"] = [{"error": error, "count": count} for error, count in reasons]
        runs.append(run)
    return runs


def _seconds(started: str, finished: str | None) -> float | None:
    if not finished:
        return None
    delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    return round(delta.total_seconds(), 1)


def render_runs(runs: list[dict[str, Any]]) -> str:
    """One line per run (id, job, status, when, items, ok/failed, cost, duration), then why it
    stopped, what else came of its items, and why they failed."""
    if not runs:
        return "No runs yet.\n"
    rows = [_run_cells(run) for run in runs]
    lines = render_table(RUN_HEADINGS, rows, numeric=RUN_NUMERIC, widths=RUN_WIDTHS)
    out = lines[:1]
    for run, line in zip(runs, lines[1:], strict=True):
        out.append(line)
        if run["status"] in STOPPED and run["error"]:
            out.append(f"{INDENT}why: {_one_line(run['error'])}")
        answers = _answers_line(run)
        out.extend([f"{INDENT}{answers}"] if answers else [])
        reasons = [(f["error"], f["count"]) for f in run["failures"]]
        out.extend(f"{INDENT}failed: {reason}" for reason in reasons_text(reasons))
    return "\n".join(out) + "\n"


def _one_line(text: str, width: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _answers_line(run: dict[str, Any]) -> str:
    """`3 invalid, 1 refused, 12 re-asks ($0.0012)`: answers that are not plain ok."""
    parts = [f"{run[key]:,} {key}" for key in ("invalid", "refused") if run[key]]
    if run["reasks"]:
        parts.append(f"{run['reasks']:,} re-asks ({usd(run['reask_cost_usd'] or 0)})")
    return ", ".join(parts)


def _run_cells(run: dict[str, Any]) -> list[str]:
    return [
        str(run["run_id"]),
        run["job"][:16],
        run["status"],
        run["started_at"][:19].replace("T", " "),
        f"{run['items'] or 0:,}",
        f"{(run['ok'] or 0) + (run['truncated'] or 0):,}",
        f"{run['failed'] or 0:,}",
        "-" if run["cost_usd"] is None else usd_figure(run["cost_usd"]),
        "-" if run["duration_s"] is None else f"{run['duration_s']:,.1f} s",
    ]
