"""`batchbot export`: a job's answers for the next step.

An export has one line per item of the job as it is now: the answer to the request the job
file makes today, so an edited prompt or a rerun with another model replaces the old answer
instead of adding to it. The job is the file given, else the file of the job's latest run.
When the file has changed since its items were answered (a prompt, the model or a parameter),
some items have only answers to what they asked before: that is said plainly (`JobChanged`)
rather than exported as fewer lines. `latest` exports the newest answer of each item as it was
asked instead, whatever the file says now; `history` every row.

Exports stream a row at a time, so a million answers never sit in memory. Every endpoint
exports the same columns; the answer is a tool call's arguments when there is no text. A JSONL
line also holds the parsed answer, the tool calls, and every choice when the request asked for
several; an embedding's adds its `vector` as a list of numbers (CSV leaves vectors out: read
them from the database, or export JSONL). A CSV export of a structured job has a column per
schema field (reports.structured).
"""

from __future__ import annotations

import csv
import json
import sys
from array import array
from collections import Counter
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from batchbot.errors import InputError, JobChanged, JobFileError
from batchbot.inert import inert_json
from batchbot.jobs.job import Job, load_job
from batchbot.reports.cells import csv_cell
from batchbot.reports.npy import write_npy
from batchbot.reports.report import Database
from batchbot.reports.structured import answer_text, field_columns, field_values

__all__ = [
    "EXPORT_COLUMNS",
    "answer_rows",
    "check_unchanged",
    "current_job",
    "export_answers",
    "job_names",
]

MIXED_SIZES = (
    "the job's vectors have different sizes ({sizes}), and one .npy array needs one: export "
    "them as JSONL"
)
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
    "validation_error",
    "refusal",
    "reasks",
    "metadata",  # the item's own, as its JSONL line gave it (JSON text in CSV)
)
# JSONL only: the structured parts of an answer, as JSON values.
JSON_COLUMNS = ("parsed", "tool_calls")
ROW = """
SELECT item_id AS id, request, content, tool_calls, finish_reason, status, model, prompt_tokens,
       completion_tokens, cost_usd, error, validation_error, refusal, reasks, parsed, vector,
       metadata,
       (SELECT json_group_array(json_object(
            'index', choice_index, 'status', status, 'answer', content,
            'tool_calls', json(tool_calls), 'refusal', refusal, 'parsed', json(parsed),
            'finish_reason', finish_reason, 'validation_error', validation_error))
        FROM (SELECT * FROM choices c WHERE c.request_id = requests.id ORDER BY choice_index)
       ) AS choices
FROM requests"""
ANSWERED = "status IN ('ok', 'truncated', 'invalid', 'refused')"
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
ANSWERED_IDS = f"SELECT count(DISTINCT item_id) FROM requests WHERE job = :job AND {ANSWERED}"
CHANGED = (
    "{path} has changed since {job!r} was run: {missing:,} of its {total:,} items have no "
    "answer to what they ask now, and {stale:,} answers are to what it asked before (a prompt, "
    "the model or a parameter changed). Run the job again to answer it as it is now, or "
    "{latest} to export the newest answer of each item as it was asked."
)


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


def check_unchanged(db: Database, job: Job, *, latest: str = "pass --latest") -> None:
    """Raise JobChanged when items of `job` as it is now have no answer while the database
    has answers to what it asked before: its file changed since it ran. (Items never answered
    alone, failed or new, are no change: the export leaves them out as ever.)"""
    answered = total = 0
    for item in job.items():
        params = {"job": job.name, "item": item.id, "hash": item.request_hash}
        answered += db.execute(CURRENT, params).fetchone() is not None
        total += 1
    (ids,) = db.execute(ANSWERED_IDS, {"job": job.name}).fetchone()
    if answered < total and ids > answered:
        raise JobChanged(
            CHANGED.format(
                path=job.path,
                job=job.name,
                missing=total - answered,
                total=total,
                stale=ids - answered,
                latest=latest,
            )
        )


def _rows(db: Database, sql: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    for values in cursor:
        row = dict(zip(names, values, strict=True))
        row["request_json"] = row["request"]
        row["prompt"] = _prompt(row.pop("request"))
        row["answer"] = answer_text(row["content"], row["tool_calls"])
        # Sums of floats carry noise (3.4649999999999995e-05); a pico-dollar is precise enough.
        if row["cost_usd"] is not None:
            row["cost_usd"] = round(row["cost_usd"], 12)
        answer = {column: row[column] for column in (*EXPORT_COLUMNS, *JSON_COLUMNS)}
        answer["request_json"] = row["request_json"]
        choices = json.loads(row["choices"] or "[]")
        if choices:
            answer["choices"] = choices
        if row["vector"] is not None:
            answer["vector"] = row["vector"]  # raw bytes: each format writes them its own way
        yield answer


def floats(vector: bytes) -> list[float]:
    """A stored embedding (float32 little-endian) as numbers."""
    values = array("f", vector)
    if sys.byteorder == "big":
        values.byteswap()
    return values.tolist()


def answer_rows(db: Database, job: Job | str, *, history: bool = False) -> Iterator[dict[str, Any]]:
    """The job's answers as export rows (EXPORT_COLUMNS, `parsed` and `tool_calls` as JSON text,
    `choices` when there are several, `vector` bytes); see `export_answers` for which."""
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
    rows = answer_rows(db, job, history=history)
    if fmt == "csv":
        first = next(rows, None)
        fields = field_columns(first["request_json"], EXPORT_COLUMNS) if first else {}
        names = [*EXPORT_COLUMNS, *fields.values()]
        writer = csv.DictWriter(out, fieldnames=names, lineterminator="\n")
        # A schema's field names come from the job: the header is neutralised like any cell.
        writer.writerow({name: csv_cell(name) for name in names})
        for row in chain([first] if first else [], rows):
            cells = {column: row[column] for column in EXPORT_COLUMNS}
            cells.update(field_values(row["parsed"], fields))
            writer.writerow({column: csv_cell(value, column) for column, value in cells.items()})
            count += 1
        return count
    for row in rows:
        row.pop("request_json")
        vector = row.pop("vector", None)
        for column in (*JSON_COLUMNS, "metadata"):
            row[column] = json.loads(row[column]) if row[column] else None
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
        len(row["vector"]) // 4 for row in answer_rows(db, job, history=history) if "vector" in row
    )
    if len(sizes) > 1:
        raise InputError(MIXED_SIZES.format(sizes=", ".join(str(size) for size in sorted(sizes))))
    if not sizes:
        return 0
    ((dimensions, rows),) = sizes.items()
    vectors = (row["vector"] for row in answer_rows(db, job, history=history) if "vector" in row)
    write_npy(out, rows, dimensions, vectors)
    return rows
