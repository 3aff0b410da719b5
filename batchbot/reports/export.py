"""`batchbot runs` and `batchbot export`: recent runs, and a job's answers for the next step.

An export has one line per item of the job as it is now: the answer to the request the job
file makes today, so an edited prompt or a rerun with another model replaces the old answer
instead of adding to it. The job is the file given, else the file of the job's latest run;
`history` exports every row instead. Exports stream a row at a time, so a million answers never
sit in memory. Every endpoint exports the same columns; an embedding's JSONL line adds its
`vector` as a list of numbers (CSV leaves vectors out: read them from the database, or export
JSONL).
"""

from __future__ import annotations

import csv
import json
import sys
from array import array
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from batchbot.errors import InputError, JobFileError
from batchbot.inert import inert_json
from batchbot.jobs.job import Job, load_job
from batchbot.reports.cells import csv_cell
from batchbot.reports.npy import write_npy
from batchbot.reports.report import Database
from batchbot.reports.table import render_table
from batchbot.store.failures import failure_reasons, reasons_text

__all__ = [
    "EXPORT_COLUMNS",
    "current_job",
    "export_answers",
    "job_names",
    "recent_runs",
    "render_runs",
]

MIXED_SIZES = (
    "the job's vectors have different sizes ({sizes}), and one .npy array needs one: export "
    "them as JSONL"
)
RECENT_RUNS = """
SELECT id AS run_id, job, status, started_at, finished_at, items, skipped, ok, truncated,
       failed, cost_usd
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
    "error",
)
ROW = """
SELECT item_id AS id, request, content AS answer, finish_reason, status, model, prompt_tokens,
       completion_tokens, cost_usd, error, vector
FROM requests"""
ANSWERED = "status IN ('ok', 'truncated')"
# The answer to one item as the job asks it now (the unique index finds it).
CURRENT = f"{ROW} WHERE job = :job AND item_id = :item AND request_hash = :hash AND {ANSWERED}"
HISTORY = f"{ROW} WHERE job = :job ORDER BY id"
# Without a job file: the newest row of each item id ever sent.
NEWEST = f"""{ROW}
WHERE id IN (SELECT max(id) FROM requests WHERE job = :job GROUP BY item_id) AND {ANSWERED}
ORDER BY id"""
LATEST_RUN = (
    "SELECT job_path, settings, endpoint FROM runs WHERE job = :job ORDER BY id DESC LIMIT 1"
)
JOB_NAMES = "SELECT DISTINCT job FROM runs UNION SELECT DISTINCT job FROM requests ORDER BY 1"


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
    """One line per run: id, job, status, when, items, ok/failed, cost, duration."""
    if not runs:
        return "No runs yet.\n"
    rows = [_run_cells(run) for run in runs]
    lines = render_table(RUN_HEADINGS, rows, numeric=RUN_NUMERIC, widths=RUN_WIDTHS)
    out = lines[:1]
    for run, line in zip(runs, lines[1:], strict=True):
        out.append(line)
        reasons = [(f["error"], f["count"]) for f in run["failures"]]
        out.extend(f"       failed: {reason}" for reason in reasons_text(reasons))
    return "\n".join(out) + "\n"


def _run_cells(run: dict[str, Any]) -> list[str]:
    return [
        str(run["run_id"]),
        run["job"][:16],
        run["status"],
        run["started_at"][:19].replace("T", " "),
        f"{run['items'] or 0:,}",
        f"{(run['ok'] or 0) + (run['truncated'] or 0):,}",
        f"{run['failed'] or 0:,}",
        "-" if run["cost_usd"] is None else f"{run['cost_usd']:,.4f}",
        "-" if run["duration_s"] is None else f"{run['duration_s']:,.1f} s",
    ]


def job_names(db: Database) -> list[str]:
    """Every job the database has runs or answers of."""
    return [name for (name,) in db.execute(JOB_NAMES)]


def current_job(db: Database, job: Job | str) -> Job | None:
    """The job as its latest run sent it: its file as it is now, with that run's --model and
    endpoint (a JSONL file's may come from --endpoint).

    A job name is looked up by its latest run's job file; None if there is none to read.
    """
    name = job.name if isinstance(job, Job) else job
    row = db.execute(LATEST_RUN, {"job": name}).fetchone()
    path, settings, endpoint = row if row else (None, None, None)
    if isinstance(job, str):
        if not path or not Path(path).is_file():
            return None
        try:
            job = load_job(path, endpoint=endpoint)
        except JobFileError:
            return None
        if job.name != name:
            return None
    model = json.loads(settings or "{}").get("model")
    if model and job.settings.model and model != job.settings.model:
        return load_job(job.path, model=model, endpoint=endpoint)
    if endpoint and endpoint != job.endpoint:
        return load_job(job.path, endpoint=endpoint)
    return job


def _rows(db: Database, sql: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        row["prompt"] = _prompt(row.pop("request"))
        # Sums of floats carry noise (3.4649999999999995e-05); a pico-dollar is precise enough.
        if row["cost_usd"] is not None:
            row["cost_usd"] = round(row["cost_usd"], 12)
        answer = {column: row[column] for column in EXPORT_COLUMNS}
        if row["vector"] is not None:
            answer["vector"] = row["vector"]  # raw bytes: each format writes them its own way
        yield answer


def floats(vector: bytes) -> list[float]:
    """A stored embedding (float32 little-endian) as numbers."""
    values = array("f", vector)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def _answers(db: Database, job: Job | str, *, history: bool) -> Iterator[dict[str, Any]]:
    name = job.name if isinstance(job, Job) else job
    if history:
        yield from _rows(db, HISTORY, {"job": name})
    elif isinstance(job, Job):
        for item in job.items():
            params = {"job": name, "item": item.id, "hash": item.request_hash}
            yield from _rows(db, CURRENT, params)
    else:
        yield from _rows(db, NEWEST, {"job": name})


def _prompt(request: str) -> str:
    """What the item asked: the last user message, or a Responses or embeddings `input`."""
    body = json.loads(request)
    given = body.get("input")
    if isinstance(given, str):
        return given
    messages = given if isinstance(given, list) else body.get("messages", [])
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def export_answers(
    db: Database, job: Job | str, out: TextIO, *, fmt: str = "jsonl", history: bool = False
) -> int:
    """Write a job's answers to `out` as JSONL or CSV; returns how many rows were written.

    `job` loaded: the answer to each of its items as it is now; a job name: the newest answer
    of each item id; `history`: every row of the job, failed and pending ones and old answers.
    """
    count = 0
    writer = None
    if fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
        writer.writeheader()
    for row in _answers(db, job, history=history):
        vector = row.pop("vector", None)
        if writer is not None:
            writer.writerow({key: csv_cell(value) for key, value in row.items()})
        else:
            if vector is not None:
                row["vector"] = floats(vector)
            out.write(inert_json(json.dumps(row, ensure_ascii=False)) + "\n")
        count += 1
    return count


def export_vectors(db: Database, job: Job | str, out: BinaryIO, *, history: bool = False) -> int:
    """Write a job's vectors as one (items, dimensions) float32 `.npy` array; returns the rows.

    Rows come in the order `export_answers` writes them, so a JSONL export pairs them with ids.
    The answers are read twice (to size the array, then to write it), never held in memory.
    """
    sizes = Counter(
        len(row["vector"]) // 4 for row in _answers(db, job, history=history) if "vector" in row
    )
    if len(sizes) > 1:
        raise InputError(MIXED_SIZES.format(sizes=", ".join(str(size) for size in sorted(sizes))))
    if not sizes:
        return 0
    ((dimensions, rows),) = sizes.items()
    vectors = (row["vector"] for row in _answers(db, job, history=history) if "vector" in row)
    write_npy(out, rows, dimensions, vectors)
    return rows
