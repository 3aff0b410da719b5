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


@migrations(name="m006_reservations")
def m006_reservations(db: Database) -> None:
    # A request's worst-case cost under a budget, committed before the request is sent and
    # deleted in the transaction that writes its result. A run killed with requests on the
    # wire leaves their rows behind: the server may have billed them, so later runs count
    # them as spent (at their worst case, on the day they were sent) and reports say so.
    db.table("reservations").create(
        {
            "id": int,
            "run_id": int,
            "job": str,
            "item_id": str,
            "model": str,
            "worst_usd": float,
            "created_at": str,
        },
        pk="id",
        not_null={"job", "item_id", "worst_usd", "created_at"},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("reservations").create_index(["job", "created_at"])


# m007: the whole answer. Tool calls (JSON: [{id, name, arguments}], arguments as the API sent
# them), a refusal, the answer's other output items, the parsed JSON of a structured answer
# and why it did not validate; every choice of `n` in `choices`; re-asks and what they cost.
SPEND_SUMS_M007 = (
    *SPEND_SUMS_M005,
    ("invalid", "{row}.status = 'invalid'"),
    ("refused", "{row}.status = 'refused'"),
    ("reasks", "coalesce({row}.reasks, 0)"),
    ("reask_cost_nanousd", "coalesce(CAST(round({row}.reask_cost_usd * 1e9) AS INTEGER), 0)"),
)
# A tool call's arguments are the answer when there is no text: one call's, or every call.
ANSWER = (
    "coalesce(content, CASE json_array_length(tool_calls) WHEN 1 "
    "THEN json_extract(tool_calls, '$[0].arguments') ELSE tool_calls END)"
)
VIEWS_M007 = {
    "answers": f"""
SELECT job, item_id, model, {PROMPT} AS prompt, {ANSWER} AS answer, parsed, refusal,
       finish_reason, status, validation_error, reasks, prompt_tokens, completion_tokens,
       total_tokens, cost_usd, finished_at, run_id
FROM requests
WHERE {NEWEST} AND status IN ('ok', 'truncated', 'invalid', 'refused')""",
    "daily_spend": """
SELECT day, job, model, sum(requests) AS requests, sum(answered) AS answered,
       sum(truncated) AS truncated, sum(invalid) AS invalid, sum(refused) AS refused,
       sum(failed) AS failed, sum(prompt_tokens) AS prompt_tokens,
       sum(completion_tokens) AS completion_tokens, round(sum(cost_nanousd) / 1e9, 9) AS cost_usd,
       sum(reasks) AS reasks, round(sum(reask_cost_nanousd) / 1e9, 9) AS reask_cost_usd
FROM spend
GROUP BY day, job, model""",
}


@migrations(name="m007_whole_answers")
def m007_whole_answers(db: Database) -> None:
    requests = db.table("requests")
    for name, kind in (
        ("tool_calls", str),
        ("refusal", str),
        ("output_items", str),  # JSON: what else the answer held (Responses' output items)
        ("parsed", str),  # JSON: the structured answer, once it validated
        ("validation_error", str),
        ("max_tokens", int),  # the completion allowance the answer was asked with
        ("reask_cost_usd", float),  # what the re-asks cost, inside cost_usd
    ):
        requests.add_column(name, kind)
    requests.add_column("reasks", int, not_null_default=0)
    attempts = db.table("attempts")
    # Why an attempt was made (a re-ask for `invalid` or `length`), and what its answer cost.
    for name, kind in (
        ("reask", str),
        ("finish_reason", str),
        ("prompt_tokens", int),
        ("completion_tokens", int),
        ("cost_usd", float),
    ):
        attempts.add_column(name, kind)
    # Every choice of a request that asked for several (`n`); its cost is the request's.
    db.table("choices").create(
        {
            "id": int,
            "request_id": int,
            "choice_index": int,
            "status": str,
            "content": str,
            "finish_reason": str,
            "refusal": str,
            "tool_calls": str,
            "parsed": str,
            "validation_error": str,
        },
        pk="id",
        foreign_keys=[("request_id", "requests", "id")],
    )
    db.table("choices").create_index(["request_id", "choice_index"], unique=True)
    runs = db.table("runs")
    for name, kind in (("invalid", int), ("refused", int), ("reasks", int)):
        runs.add_column(name, kind)
    runs.add_column("reask_cost_usd", float)
    for name, _ in SPEND_SUMS_M007[len(SPEND_SUMS_M005) :]:
        db.execute(f"ALTER TABLE spend ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0")
    for trigger in ("spend_insert", "spend_delete", "spend_update"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.executescript(_spend_triggers(SPEND_SUMS_M007))
    for name, sql in VIEWS_M007.items():
        db.execute(f"DROP VIEW {name}")
        db.create_view(name, sql.strip())


# m008: what each answer cost against its list price. The service tier that served it (Flex
# and priority are priced at their own rates), its list price (the default tier's,
# synchronous, no cached input) and what cached input tokens saved; the response cache's key
# (a hash of what the answer answers, jobs.caching) and, for an answer reused from an earlier
# one, where that came from. The rollup sums what the cache, the Batch API, Flex and prompt
# caching saved against list prices (of answers with a known cost), and what priority cost
# over them.
_SAVED = (
    "coalesce(CAST(round(({row}.list_usd - {row}.cost_usd - "
    "coalesce({row}.prompt_cache_saved_usd, 0)) * 1e9) AS INTEGER), 0)"
)
_PRICED = "{row}.cost_usd IS NOT NULL AND {row}.cached_from IS NULL"
SPEND_SUMS_M008 = (
    *SPEND_SUMS_M007,
    ("cache_hits", "{row}.cached_from IS NOT NULL"),
    ("list_nanousd", "coalesce(CAST(round({row}.list_usd * 1e9) AS INTEGER), 0)"),
    (
        "cache_saved_nanousd",
        "CASE WHEN {row}.cached_from IS NOT NULL "
        "THEN coalesce(CAST(round({row}.list_usd * 1e9) AS INTEGER), 0) ELSE 0 END",
    ),
    (
        "prompt_cache_saved_nanousd",
        "coalesce(CAST(round({row}.prompt_cache_saved_usd * 1e9) AS INTEGER), 0)",
    ),
    (
        "batch_saved_nanousd",
        f"CASE WHEN {_PRICED} AND {{row}}.mode = 'batch' THEN {_SAVED} ELSE 0 END",
    ),
    (
        "flex_saved_nanousd",
        f"CASE WHEN {_PRICED} AND {{row}}.mode != 'batch' AND {{row}}.service_tier = 'flex' "
        f"THEN {_SAVED} ELSE 0 END",
    ),
    (
        "priority_extra_nanousd",
        f"CASE WHEN {_PRICED} AND {{row}}.mode != 'batch' AND {{row}}.service_tier = 'priority' "
        f"THEN -{_SAVED} ELSE 0 END",
    ),
)


@migrations(name="m008_tiers_and_cache")
def m008_tiers_and_cache(db: Database) -> None:
    requests = db.table("requests")
    for name, kind in (
        ("service_tier", str),
        ("list_usd", float),
        ("prompt_cache_saved_usd", float),
        ("cache_key", str),
        ("cached_from", str),  # JSON: the database, job, item and run the answer was taken from
    ):
        requests.add_column(name, kind)
    db.execute(
        "CREATE INDEX requests_cache_key ON requests (cache_key) WHERE cache_key IS NOT NULL"
    )
    db.table("runs").add_column("cache_hits", int)
    for name, _ in SPEND_SUMS_M008[len(SPEND_SUMS_M007) :]:
        db.execute(f"ALTER TABLE spend ADD COLUMN {name} INTEGER NOT NULL DEFAULT 0")
    for trigger in ("spend_insert", "spend_delete", "spend_update"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.executescript(_spend_triggers(SPEND_SUMS_M008))


@migrations(name="m009_item_metadata")
def m009_item_metadata(db: Database) -> None:
    # An item's own metadata (JSON), as lines written for OpenAI's cookbook script carry it:
    # stored and exported with the answer, never sent.
    db.table("requests").add_column("metadata", str)


# m010: the HTTP requests each row's answer took, beside the items: its attempts (retries and
# re-asks included), but none for an item that went in another's request (a packed embeddings
# request counts once, on its first item), as a line of a Batch API file, or answered from
# the response cache (m008).
SPEND_SUMS_M010 = (*SPEND_SUMS_M008, ("http_requests", "coalesce({row}.http_requests, 0)"))


@migrations(name="m010_http_requests")
def m010_http_requests(db: Database) -> None:
    for trigger in ("spend_insert", "spend_delete", "spend_update"):
        db.execute(f"DROP TRIGGER {trigger}")
    db.table("requests").add_column("http_requests", int)
    # Earlier rows kept no pack: each synchronous attempt counts one (a pack's on every item).
    db.execute(
        "UPDATE requests SET http_requests = CASE mode WHEN 'batch' THEN 0 ELSE attempts END"
    )
    db.execute("ALTER TABLE spend ADD COLUMN http_requests INTEGER NOT NULL DEFAULT 0")
    columns = ", ".join(
        f"{value} AS {name}" for name, value in zip(SPEND_KEY, _spend_key("r"), strict=True)
    )
    matches = " AND ".join(f"spend.{name} = t.{name}" for name in SPEND_KEY)
    db.execute(
        f"WITH t AS (SELECT {columns}, sum(coalesce(r.http_requests, 0)) AS n FROM requests r "
        f"GROUP BY 1, 2, 3, 4) UPDATE spend SET http_requests = t.n FROM t WHERE {matches}"
    )
    db.executescript(_spend_triggers(SPEND_SUMS_M010))


PROMPT_CHARS = 200  # of a prompt in the answers view: the whole request stays in `requests`


def _content_text(source: str, path: str) -> str:
    """SQL for the text of a message's content at `path` in the JSON `source`: the text
    itself, or its parts' texts with a placeholder for each image, audio or file."""
    part = "json_extract(p.value, '$.type')"
    return (
        f"CASE json_type({source}, '{path}') WHEN 'text' THEN json_extract({source}, '{path}') "
        f"WHEN 'array' THEN (SELECT group_concat(CASE "
        f"WHEN {part} IN ('text', 'input_text') THEN json_extract(p.value, '$.text') "
        f"WHEN {part} IN ('image_url', 'input_image') THEN '[image]' "
        f"WHEN {part} = 'input_audio' THEN '[audio]' "
        f"WHEN {part} IN ('file', 'input_file') THEN '[file]' "
        f"ELSE '[' || coalesce({part}, 'part') || ']' END, ' ') "
        f"FROM json_each({source}, '{path}') p) END"
    )


def _last_user(list_path: str) -> str:
    """SQL for the text of the last user message in the request's list at `list_path`."""
    return (
        f"(SELECT {_content_text('m.value', '$.content')} "
        f"FROM json_each(request, '{list_path}') m "
        f"WHERE json_extract(m.value, '$.role') = 'user' ORDER BY m.key DESC LIMIT 1)"
    )


# What a request asked, as text: the last user message of a chat request or of a Responses
# input list, a Responses or embeddings `input` text; cut to PROMPT_CHARS, with an ellipsis.
PROMPT_TEXT = (
    "coalesce("
    f"{_last_user('$.messages')}, "
    "CASE json_type(request, '$.input') WHEN 'text' THEN json_extract(request, '$.input') "
    f"WHEN 'array' THEN {_last_user('$.input')} END)"
)
PROMPT_SHORT = (
    f"(SELECT CASE WHEN length(t) > {PROMPT_CHARS} THEN substr(t, 1, {PROMPT_CHARS - 1}) || '…' "
    f"ELSE t END FROM (SELECT {PROMPT_TEXT} AS t))"
)
ANSWERS_M011 = f"""
SELECT job, item_id, model, {PROMPT_SHORT} AS prompt, {ANSWER} AS answer, parsed, refusal,
       finish_reason, status, validation_error, reasks, prompt_tokens, completion_tokens,
       total_tokens, cost_usd, metadata, finished_at, run_id
FROM requests
WHERE {NEWEST} AND status IN ('ok', 'truncated', 'invalid', 'refused')"""


@migrations(name="m011_answers_prompt_text")
def m011_answers_prompt_text(db: Database) -> None:
    # The answers view shows the prompt as text a person reads (an image as [image], not its
    # data URL), and the item's own metadata; the whole request stays in requests.request.
    db.execute("DROP VIEW answers")
    db.create_view("answers", ANSWERS_M011.strip())


@migrations(name="m012_server_limits")
def m012_server_limits(db: Database) -> None:
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
