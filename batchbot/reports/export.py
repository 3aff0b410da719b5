"""`batchbot runs` and `batchbot export`: recent runs, and a job's answers for the next step.

An export has one line per item: its newest request (an edited prompt replaces the old
answer). Exports stream from SQLite a row at a time, so a million answers never sit in memory.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from batchbot.reports.report import Database

__all__ = ["EXPORT_COLUMNS", "RUN_COLUMNS", "export_answers", "recent_runs", "render_runs"]

RECENT_RUNS = """
SELECT id AS run_id, job, status, started_at, finished_at, items, skipped, ok, truncated,
       failed, cost_usd
FROM runs
WHERE (:job IS NULL OR job = :job)
ORDER BY started_at DESC, id DESC
LIMIT :limit
"""
RUN_COLUMNS = ("run_id", "job", "status", "started_at", "items", "ok", "failed", "cost_usd")

EXPORT_COLUMNS = (
    "id",
    "prompt",
    "answer",
    "finish_reason",
    "status",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "cost_usd",
)
EXPORT = """
SELECT item_id AS id, request, content AS answer, finish_reason, status, model, prompt_tokens,
       completion_tokens, cost_usd
FROM requests
WHERE id IN (SELECT max(id) FROM requests WHERE job = :job GROUP BY item_id)
  AND (:all OR status IN ('ok', 'truncated'))
ORDER BY id
"""


def recent_runs(db: Database, *, job: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
    """The latest runs first, with their duration in seconds (None while running)."""
    cursor = db.execute(RECENT_RUNS, {"job": job, "limit": limit})
    names = [d[0] for d in cursor.description]
    runs = []
    for values in cursor.fetchall():
        run = dict(zip(names, values, strict=True))
        run["duration_s"] = _seconds(run["started_at"], run.pop("finished_at"))
        runs.append(run)
    return runs


def _seconds(started: str, finished: str | None) -> float | None:
    if not finished:
        return None
    delta = datetime.fromisoformat(finished) - datetime.fromisoformat(started)
    return round(delta.total_seconds(), 1)


def render_runs(runs: list[dict[str, Any]]) -> str:
    """One line per run: id, job, status, when, items, ok/failed, cost, duration."""
    if not runs:
        return "No runs yet.\n"
    lines = [
        f"{'run':>5}  {'job':<16}  {'status':<11}  {'started (UTC)':<19}  {'items':>7}  "
        f"{'ok':>7}  {'failed':>6}  {'cost USD':>10}  {'time':>8}"
    ]
    for run in runs:
        cost = "-" if run["cost_usd"] is None else f"{run['cost_usd']:,.4f}"
        took = "-" if run["duration_s"] is None else f"{run['duration_s']:,.1f} s"
        ok = (run["ok"] or 0) + (run["truncated"] or 0)
        lines.append(
            f"{run['run_id']:>5}  {run['job'][:16]:<16}  {run['status']:<11}  "
            f"{run['started_at'][:19].replace('T', ' '):<19}  {run['items'] or 0:>7,}  "
            f"{ok:>7,}  {run['failed'] or 0:>6,}  {cost:>10}  {took:>8}"
        )
    return "\n".join(lines) + "\n"


def _answers(db: Database, job: str, *, include_failed: bool) -> Iterator[dict[str, Any]]:
    cursor = db.execute(EXPORT, {"job": job, "all": include_failed})
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        row["prompt"] = _prompt(row.pop("request"))
        yield {column: row[column] for column in EXPORT_COLUMNS}


def _prompt(request: str) -> str:
    """The last user message of a request body: what the item asked."""
    messages = json.loads(request).get("messages", [])
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def export_answers(
    db: Database, job: str, out: TextIO, *, fmt: str = "jsonl", include_failed: bool = False
) -> int:
    """Write a job's answers to `out` as JSONL or CSV; returns how many rows were written."""
    count = 0
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
    for row in _answers(db, job, include_failed=include_failed):
        if writer is not None:
            writer.writerow(row)
        else:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        count += 1
    return count
