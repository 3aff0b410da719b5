"""The database schema, as numbered migrations applied on every open.

A shipped migration never changes: a new column or index is a new migration at the end.
Column names are part of batchbot's interface (users query them in Datasette and scripts).
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

migrations = Migrations("batchbot")


@migrations(name="m001_initial")
def m001_initial(db: Database) -> None:
    db.table("runs").create(
        {
            "id": int,
            "job": str,
            "job_path": str,
            "mode": str,
            "status": str,  # running / done / failed / stopped / interrupted
            "started_at": str,
            "finished_at": str,
            "settings": str,  # JSON; never holds the API key
            "batchbot_version": str,
            "items": int,
            "skipped": int,
            "sent": int,
            "ok": int,
            "truncated": int,
            "failed": int,
            "prompt_tokens": int,
            "completion_tokens": int,
            "cost_usd": float,
            "exit_code": int,
            "error": str,
        },
        pk="id",
        not_null={"job", "status", "started_at"},
    )
    db.table("requests").create(
        {
            "id": int,
            "job": str,
            "item_id": str,
            "request_hash": str,
            "run_id": int,
            "mode": str,
            "model": str,
            "request": str,
            "status": str,  # pending / ok / failed / truncated
            "content": str,
            "finish_reason": str,
            "prompt_tokens": int,
            "cached_tokens": int,
            "completion_tokens": int,
            "reasoning_tokens": int,
            "total_tokens": int,
            "cost_usd": float,
            "price": str,  # JSON: USD per million tokens and where the prices came from
            "latency_ms": float,
            "attempts": int,
            "error": str,
            "error_code": str,
            "response_model": str,
            "created_at": str,
            "finished_at": str,
        },
        pk="id",
        not_null={"job", "item_id", "request_hash", "status", "created_at"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("requests").create_index(["job", "item_id", "request_hash"], unique=True)
    db.table("requests").create_index(["run_id"])
    db.table("attempts").create(
        {
            "id": int,
            "request_id": int,
            "run_id": int,
            "number": int,
            "started_at": str,
            "status_code": int,
            "error_code": str,
            "error": str,
            "wait_before_ms": float,
            "latency_ms": float,
            "ratelimit": str,  # JSON of the x-ratelimit-* / retry-after headers seen
        },
        pk="id",
        foreign_keys=[("request_id", "requests", "id"), ("run_id", "runs", "id")],
    )
    db.table("attempts").create_index(["request_id"])


@migrations(name="m002_batches")
def m002_batches(db: Database) -> None:
    # One row per Batch API input file. It is written before the upload, so an upload or a
    # create that a crash cut short is still known on the next run; `batch_id` (OpenAI's
    # id) stays NULL until the batch exists.
    db.table("batches").create(
        {
            "id": int,
            "batch_id": str,
            "job": str,
            "run_id": int,
            "model": str,
            "filename": str,
            "input_file_id": str,
            "output_file_id": str,
            "error_file_id": str,
            "status": str,  # uploading / uploaded / orphaned / OpenAI's batch statuses
            "requests": int,
            "bytes": int,
            "prompt_tokens": int,  # counted offline: what the batch holds of the queue limit
            "completed": int,
            "failed": int,
            "error": str,
            "created_at": str,
            "finished_at": str,
            "collected_at": str,
        },
        pk="id",
        not_null={"job", "status", "created_at"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("batches").create_index(["batch_id"], unique=True)
    db.table("batches").create_index(["job", "status"])
    db.table("batches").create_index(["input_file_id"])
    # The batch an item was last submitted in: `batch_input_file_id` from the moment it is
    # uploaded, `batch_id` once the batch is created.
    db.table("requests").add_column("batch_id", str)
    db.table("requests").add_column("batch_input_file_id", str)
    db.table("requests").create_index(["batch_input_file_id"])
