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


# The spend rollup: one row per (job, model, day, run) with the sums `batchbot report` shows,
# kept up to date by triggers as request rows are inserted, rewritten (a retry, a re-price,
# a row moving to a later run) or deleted, so reports over millions of requests read a few
# thousand rows. Costs and latencies are summed as integers (nano-dollars, microseconds):
# subtracting a rewritten row's old values then restores the sums exactly.
SPEND_KEY = ("job", "model", "day", "run_id")
SPEND_SUMS = (
    ("requests", "1"),
    ("answered", "{row}.status IN ('ok', 'truncated')"),
    ("failed", "{row}.status = 'failed'"),
    ("prompt_tokens", "coalesce({row}.prompt_tokens, 0)"),
    ("cached_tokens", "coalesce({row}.cached_tokens, 0)"),
    ("completion_tokens", "coalesce({row}.completion_tokens, 0)"),
    ("reasoning_tokens", "coalesce({row}.reasoning_tokens, 0)"),
    ("cost_nanousd", "coalesce(CAST(round({row}.cost_usd * 1e9) AS INTEGER), 0)"),
    ("priced", "{row}.cost_usd IS NOT NULL"),
    ("latency_us", "coalesce(CAST(round({row}.latency_ms * 1000) AS INTEGER), 0)"),
    ("timed", "{row}.latency_ms IS NOT NULL"),
)
Sums = tuple[tuple[str, str], ...]


def _spend_key(row: str) -> tuple[str, ...]:
    return (
        f"{row}.job",
        f"coalesce({row}.model, '')",
        f"substr(coalesce({row}.finished_at, {row}.created_at), 1, 10)",
        f"coalesce({row}.run_id, 0)",
    )


def _add_to_spend(row: str, spend_sums: Sums = SPEND_SUMS) -> str:
    columns = ", ".join((*SPEND_KEY, *(name for name, _ in spend_sums)))
    values = ", ".join((*_spend_key(row), *(value.format(row=row) for _, value in spend_sums)))
    sums = ", ".join(f"{name} = {name} + excluded.{name}" for name, _ in spend_sums)
    return (
        f"INSERT INTO spend ({columns}) VALUES ({values}) "
        f"ON CONFLICT ({', '.join(SPEND_KEY)}) DO UPDATE SET {sums};"
    )


def _remove_from_spend(row: str, spend_sums: Sums = SPEND_SUMS) -> str:
    where = " AND ".join(f"{k} = {v}" for k, v in zip(SPEND_KEY, _spend_key(row), strict=True))
    sums = ", ".join(f"{name} = {name} - ({value.format(row=row)})" for name, value in spend_sums)
    return (
        f"UPDATE spend SET {sums} WHERE {where}; DELETE FROM spend WHERE {where} AND requests = 0;"
    )


def _spend_triggers(spend_sums: Sums) -> str:
    add, remove = _add_to_spend, _remove_from_spend
    return (
        f"CREATE TRIGGER spend_insert AFTER INSERT ON requests BEGIN "
        f"{add('NEW', spend_sums)} END;\n"
        f"CREATE TRIGGER spend_delete AFTER DELETE ON requests BEGIN "
        f"{remove('OLD', spend_sums)} END;\n"
        f"CREATE TRIGGER spend_update AFTER UPDATE ON requests BEGIN "
        f"{remove('OLD', spend_sums)} {add('NEW', spend_sums)} END;\n"
    )


@migrations(name="m002_spend_rollup")
def m002_spend_rollup(db: Database) -> None:
    sums = ",\n    ".join(f"{name} INTEGER NOT NULL DEFAULT 0" for name, _ in SPEND_SUMS)
    db.execute(
        "CREATE TABLE spend (\n    job TEXT NOT NULL,\n    model TEXT NOT NULL,\n"
        f"    day TEXT NOT NULL,\n    run_id INTEGER NOT NULL,\n    {sums},\n"
        f"    PRIMARY KEY ({', '.join(SPEND_KEY)})\n) WITHOUT ROWID"
    )
    db.executescript(_spend_triggers(SPEND_SUMS))
    # Rows written before this migration.
    key = ", ".join(_spend_key("requests"))
    sums_sql = ", ".join(f"sum({v.format(row='requests')})" for _, v in SPEND_SUMS)
    columns = ", ".join((*SPEND_KEY, *(name for name, _ in SPEND_SUMS)))
    db.execute(
        f"INSERT INTO spend ({columns}) SELECT {key}, {sums_sql} FROM requests GROUP BY 1, 2, 3, 4"
    )
    # `batchbot runs` lists the latest runs first.
    db.table("runs").create_index(["started_at"], if_not_exists=True)


@migrations(name="m003_batches")
def m003_batches(db: Database) -> None:
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


@migrations(name="m004_endpoints")
def m004_endpoints(db: Database) -> None:
    # Each run calls one endpoint; spend rows are keyed by run, so `report --by endpoint`
    # joins them to their run's endpoint with no second rollup. Earlier runs were all chat.
    db.table("runs").add_column("endpoint", str)
    db.execute("UPDATE runs SET endpoint = '/v1/chat/completions'")
    # An embedding: float32 little-endian values (numpy.frombuffer(vector, "<f4")) and their
    # count; a Responses answer's own status (completed, incomplete, ...) beside finish_reason.
    db.table("requests").add_column("vector", bytes)
    db.table("requests").add_column("dimensions", int)
    db.table("requests").add_column("response_status", str)


# m005: truncated answers get their own sum in the rollup, so reports can say how many of the
# answered were cut off at max_tokens.
SPEND_SUMS_M005 = (*SPEND_SUMS, ("truncated", "{row}.status = 'truncated'"))
# What a request asked, in words: the last message of a chat request, the input of a
# Responses one (a list of parts stays JSON).
PROMPT = (
    "coalesce(json_extract(request, '$.messages[#-1].content'), json_extract(request, '$.input'))"
)
# The newest row of each item of each job: a retry rewrites its row, a changed prompt adds one.
NEWEST = "id IN (SELECT max(id) FROM requests GROUP BY job, item_id)"
VIEWS = {
    "answers": f"""
SELECT job, item_id, model, {PROMPT} AS prompt, content AS answer, finish_reason, status,
       prompt_tokens, completion_tokens, total_tokens, cost_usd, finished_at, run_id
FROM requests
WHERE {NEWEST} AND status IN ('ok', 'truncated')""",
    "failures": f"""
SELECT job, item_id, model, {PROMPT} AS prompt, error, error_code, attempts, finished_at,
       run_id
FROM requests
WHERE {NEWEST} AND status = 'failed'""",
    "daily_spend": """
SELECT day, job, model, sum(requests) AS requests, sum(answered) AS answered,
       sum(truncated) AS truncated, sum(failed) AS failed, sum(prompt_tokens) AS prompt_tokens,
       sum(completion_tokens) AS completion_tokens,
       round(sum(cost_nanousd) / 1e9, 9) AS cost_usd
FROM spend
GROUP BY day, job, model""",
}


@migrations(name="m005_views")
def m005_views(db: Database) -> None:
    db.execute("ALTER TABLE spend ADD COLUMN truncated INTEGER NOT NULL DEFAULT 0")
    columns = ", ".join(
        f"{value} AS {name}" for name, value in zip(SPEND_KEY, _spend_key("r"), strict=True)
    )
    matches = " AND ".join(f"spend.{name} = t.{name}" for name in SPEND_KEY)
    db.execute(
        f"WITH t AS (SELECT {columns}, count(*) AS n FROM requests r "
        f"WHERE status = 'truncated' GROUP BY 1, 2, 3, 4) "
        f"UPDATE spend SET truncated = t.n FROM t WHERE {matches}"
    )
    for trigger in ("spend_insert", "spend_delete", "spend_update"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.executescript(_spend_triggers(SPEND_SUMS_M005))
    # Why items failed, read by runs, report and the run summary without a full scan.
    db.execute("CREATE INDEX requests_failed ON requests (job, run_id) WHERE status = 'failed'")
    for name, sql in VIEWS.items():
        db.create_view(name, sql.strip())
    # Runs before this migration kept no exit code; the status says it for those that ended.
    db.execute(
        "UPDATE runs SET exit_code = CASE status WHEN 'done' THEN 0 WHEN 'failed' THEN 1 END "
        "WHERE exit_code IS NULL AND status IN ('done', 'failed')"
    )


@migrations(name="m006_server_limits")
def m006_server_limits(db: Database) -> None:
    # The limits a server stated, per key (a hash of it, never the key), base URL and model,
    # and the way it counts tokens: where the next run there starts, with no probe.
    db.table("server_limits").create(
        {
            "key_hash": str,
            "base_url": str,
            "model": str,
            "rpm": int,
            "tpm": int,
            "token_count": str,  # chars / exact: as the server was found to count; NULL unknown
            "seen_at": str,  # UTC ISO-8601: when a run last read them
        },
        pk=("key_hash", "base_url", "model"),
        not_null={"key_hash", "base_url", "model", "seen_at"},
    )
