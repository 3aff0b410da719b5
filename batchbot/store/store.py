"""The SQLite store: the only code that writes SQL.

WAL mode so readers (Datasette, `sqlite3`, `batchbot report`) never block a run; results are
committed in small batches (sync/writer.py), so a crash loses at most what was in flight.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database
from tenacity import retry as retrying
from tenacity import retry_if_exception, stop_after_delay, wait_fixed

from batchbot.errors import DatabaseBusy
from batchbot.jsonbytes import dumps_text
from batchbot.outcome import (
    SETTLED,
    LastAnswer,
    Outcome,
    ToolCall,
    Totals,
    Usage,
    utc_now,
)
from batchbot.store import BUSY_TIMEOUT_MS, writes
from batchbot.store.cache import CachedAnswer, cached_answer
from batchbot.store.migrations import migrations
from batchbot.version import __version__

if TYPE_CHECKING:
    from batchbot.jobs.job import Item

# An item submitted in a batch: pending, linked to its input file until the results are in.
UPSERT_BATCH_PENDING = """
INSERT INTO requests (
    job, item_id, request_hash, run_id, mode, model, request, status, attempts, created_at,
    batch_input_file_id, metadata, http_requests
) VALUES (
    :job, :item_id, :request_hash, :run_id, 'batch', :model, :request, 'pending', 0, :created_at,
    :batch_input_file_id, :metadata, 0
)
ON CONFLICT (job, item_id, request_hash) DO UPDATE SET
    run_id = excluded.run_id, mode = 'batch', status = 'pending', error = NULL,
    error_code = NULL, finished_at = NULL, batch_id = NULL,
    batch_input_file_id = excluded.batch_input_file_id
"""

# An item asked again in a batch keeps its answer until the batch's result replaces it.
REASK_PENDING = """
UPDATE requests SET batch_input_file_id = ?, batch_id = NULL, finished_at = NULL
WHERE job = ? AND item_id = ? AND request_hash = ?
"""

# Where an item stands for the Batch API: answered, waiting in a batch, or touched by this run.
SUBMISSION_STATE = """
SELECT r.status, r.run_id, b.id IS NOT NULL AND b.collected_at IS NULL
FROM requests r LEFT JOIN batches b ON b.input_file_id = r.batch_input_file_id
WHERE r.job = ? AND r.item_id = ? AND r.request_hash = ?
"""

IS_ANSWERED = """
SELECT 1 FROM requests
WHERE job = ? AND item_id = ? AND request_hash = ? AND status IN (?, ?, ?, ?)
"""

HAS_ANSWERS = "SELECT 1 FROM requests WHERE job = ? AND status IN (?, ?, ?, ?) LIMIT 1"

STATUS = "SELECT status FROM requests WHERE job = ? AND item_id = ? AND request_hash = ?"

LAST_ANSWER = """
SELECT id, status, content, tool_calls, validation_error, max_tokens, cost_usd, reasks,
       reask_cost_usd, prompt_tokens, completion_tokens, total_tokens, cached_tokens,
       reasoning_tokens, run_id, list_usd, prompt_cache_saved_usd
FROM requests WHERE job = ? AND item_id = ? AND request_hash = ?
"""

# Re-asks because an answer was invalid that got an answer (an answered attempt has usage).
INVALID_REASKS = """
SELECT count(*) FROM attempts
WHERE request_id = ? AND reask = 'invalid' AND prompt_tokens IS NOT NULL
"""

SPENT_ON_DAY = "SELECT coalesce(sum(cost_nanousd), 0) FROM spend WHERE job = ? AND day = ?"
# Requests a run reserved and never wrote a result for: sent, perhaps billed, cost unknown.
RESERVED_ON_DAY = """
SELECT count(*), coalesce(sum(worst_usd), 0) FROM reservations
WHERE job = ? AND created_at >= ? AND created_at < ?
"""
RESERVE = """
INSERT INTO reservations (run_id, job, item_id, model, worst_usd, created_at)
VALUES (?, ?, ?, ?, ?, ?)
"""
RELEASE = "DELETE FROM reservations WHERE id = ?"

# A run whose process died without closing its row: what it wrote (from the rollup), then its
# status, error and last sign of life (its last answer, else its start).
CRASHED_TOTALS = """
UPDATE runs SET ok = s.answered - s.truncated, truncated = s.truncated, failed = s.failed,
    invalid = s.invalid, refused = s.refused, prompt_tokens = s.prompt_tokens,
    completion_tokens = s.completion_tokens, cost_usd = s.nanousd / 1e9, reasks = s.reasks,
    reask_cost_usd = s.reask_nanousd / 1e9
FROM (
    SELECT run_id, sum(answered) AS answered, sum(truncated) AS truncated,
        sum(failed) AS failed, sum(invalid) AS invalid, sum(refused) AS refused,
        sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens,
        sum(cost_nanousd) AS nanousd, sum(reasks) AS reasks,
        sum(reask_cost_nanousd) AS reask_nanousd
    FROM spend WHERE job = :job GROUP BY run_id
) AS s
WHERE runs.id = s.run_id AND runs.job = :job AND runs.status = 'running'
"""
CRASHED = """
UPDATE runs SET status = 'crashed', error = :error, finished_at = coalesce(
    (SELECT max(finished_at) FROM requests WHERE run_id = runs.id), started_at)
WHERE job = :job AND status = 'running'
"""

AVERAGE_COMPLETION = """
SELECT sum(completion_tokens) * 1.0 / nullif(sum(answered), 0) FROM spend WHERE job = ?
"""


def _is_busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and error.sqlite_errorcode in (
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
    )


# Switching a new database to WAL needs it to itself, and SQLite does not wait for that
# (busy_timeout does not apply), so a second run opening it at the same moment waits here.
@retrying(
    retry=retry_if_exception(_is_busy),
    stop=stop_after_delay(BUSY_TIMEOUT_MS / 1000),
    wait=wait_fixed(0.05),
    reraise=True,
)
def _switch_to_wal(db: Database) -> None:
    db.enable_wal()


@contextmanager
def _busy_is_final(db: Database) -> Iterator[None]:
    """A lock still held once the wait is over becomes DatabaseBusy: one line, exit 3."""
    try:
        yield
    except sqlite3.OperationalError as error:
        if not _is_busy(error):
            raise
        (_, _, path) = db.execute("PRAGMA database_list").fetchone()
        (timeout_ms,) = db.execute("PRAGMA busy_timeout").fetchone()
        raise DatabaseBusy(path or ":memory:", timeout_ms / 1000) from None


@contextmanager
def write_transaction(db: Database) -> Iterator[None]:
    """A transaction that holds the write lock from its start (a savepoint if one is open).

    A deferred transaction that reads before it writes fails at once with "database is locked"
    when another process commits in between; BEGIN IMMEDIATE waits its turn (busy_timeout).
    """
    conn = db.conn
    if conn.in_transaction:
        with db.atomic():
            yield
        return
    with _busy_is_final(db):
        conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        # A failed COMMIT (a full disk) leaves the transaction open; end it so the next works.
        conn.rollback()
        raise


@dataclass(frozen=True, slots=True)
class BatchItem:
    """An item as a batch holds it: its request, earlier attempts, whether its result is in,
    and its status (an answer it has while a re-ask waits in the batch)."""

    request_hash: str
    request: str
    attempts: int
    collected: bool
    status: str


class Store:
    """Runs, requests and attempts in one SQLite file."""

    def __init__(self, db: Database) -> None:
        self.db = db

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) and migrate the database at `path`."""
        db = Database(str(path))
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        with _busy_is_final(db):
            _switch_to_wal(db)
        # NORMAL is durable across process crashes in WAL mode; only an OS crash can lose
        # the last commits, and those answers are simply asked again.
        db.execute("PRAGMA synchronous = NORMAL")
        db.execute("PRAGMA foreign_keys = ON")
        # Two runs may open a new database at the same moment: whichever gets the write lock
        # first migrates, and the other then finds nothing left to apply.
        if migrations.pending(db):
            with write_transaction(db):
                migrations.apply(db)
        return cls(db)

    def close(self) -> None:
        self.db.close()

    def start_run(
        self,
        *,
        job: str,
        job_path: str,
        mode: str,
        settings: Mapping[str, Any],
        endpoint: str = "/v1/chat/completions",
    ) -> int:
        with write_transaction(self.db):
            table = self.db.table("runs")
            table.insert(
                {
                    "job": job,
                    "endpoint": endpoint,
                    "job_path": job_path,
                    "mode": mode,
                    "status": "running",
                    "started_at": utc_now(),
                    "settings": json.dumps(settings, sort_keys=True),
                    "batchbot_version": __version__,
                }
            )
            return int(table.last_rowid or 0)

    def finish_run(self, run_id: int, *, status: str, totals: Mapping[str, Any]) -> None:
        with write_transaction(self.db):
            self.db.table("runs").update(
                run_id, {"status": status, "finished_at": utc_now(), **totals}
            )

    def close_crashed_runs(self, job: str, *, error: str) -> int:
        """Rows of `job` still `running` become `crashed`, with `error`, what they wrote and
        their last answer's time. Only for the holder of the job's lock: no run of it is alive
        then. Returns how many rows were closed."""
        with write_transaction(self.db):
            self.db.execute(CRASHED_TOTALS, {"job": job})
            return int(self.db.execute(CRASHED, {"job": job, "error": error}).rowcount)

    def is_answered(self, job: str, item_id: str, request_hash: str) -> bool:
        """Whether this exact request of this job already has an answer (resume and cache)."""
        row = self.db.execute(IS_ANSWERED, (job, item_id, request_hash, *SETTLED)).fetchone()
        return row is not None

    def has_answers(self, job: str) -> bool:
        """Whether any request of this job has an answer."""
        row = self.db.execute(HAS_ANSWERS, (job, *SETTLED)).fetchone()
        return row is not None

    def spent_today(self, job: str) -> float:
        """USD this job's requests cost today (UTC), over every run (from the spend rollup),
        plus the worst case of what killed runs left on the wire today (`left_today`)."""
        (nanousd,) = self.db.execute(SPENT_ON_DAY, (job, utc_now()[:10])).fetchone()
        return int(nanousd) / 1e9 + self.left_today(job)[1]

    def left_today(self, job: str) -> tuple[int, float]:
        """Requests this job's runs reserved today and never wrote a result for (a run was
        killed with them on the wire, so the server may have billed them): how many, and
        their worst case in USD. Call it before this run reserves anything."""
        today = utc_now()[:10]
        count, usd = self.db.execute(RESERVED_ON_DAY, (job, today, f"{today}~")).fetchone()
        return int(count), float(usd)

    def reserve(self, run_id: int, job: str, item_id: str, model: str | None, usd: float) -> int:
        """Commit a request's worst-case cost before it is sent; returns the row to release
        with its result (`record_results`)."""
        with write_transaction(self.db):
            cursor = self.db.execute(RESERVE, (run_id, job, item_id, model, usd, utc_now()))
            return int(cursor.lastrowid or 0)

    def average_completion(self, job: str) -> float | None:
        """Mean completion tokens of this job's answers so far (None before the first)."""
        (mean,) = self.db.execute(AVERAGE_COMPLETION, (job,)).fetchone()
        return None if mean is None else float(mean)

    def record_results(
        self,
        run_id: int,
        job: str,
        mode: str,
        outcomes: Sequence[Outcome],
        *,
        released: Sequence[int] = (),
    ) -> None:
        """Write outcomes, their choices and their attempts, and delete the `released`
        reservations, in one transaction.

        An outcome that keeps the item's answer (a re-ask that got none) adds its attempts only.
        """
        answers = [outcome for outcome in outcomes if not outcome.keeps_answer]
        kept = [outcome for outcome in outcomes if outcome.keeps_answer]
        several = [outcome for outcome in answers if outcome.choices]
        # Plain executemany: sqlite-utils' helpers inspect the table on every call, which
        # costs more than the insert itself at hundreds of results a second.
        with write_transaction(self.db):
            conn = self.db.conn
            conn.executemany(
                writes.UPSERT_REQUEST,
                [writes.request_row(run_id, job, mode, outcome) for outcome in answers],
            )
            conn.executemany(
                writes.MORE_ATTEMPTS,
                [
                    (len(o.attempts), writes.http_requests(mode, o), *writes.key(job, o))
                    for o in kept
                ],
            )
            if several:
                conn.executemany(writes.DELETE_CHOICES, [writes.key(job, o) for o in several])
                choices = [row for outcome in several for row in writes.choice_rows(job, outcome)]
                conn.executemany(writes.INSERT_CHOICE, choices)
            conn.executemany(
                writes.INSERT_ATTEMPT,
                [row for outcome in outcomes for row in writes.attempt_rows(run_id, job, outcome)],
            )
            conn.executemany(RELEASE, [(row,) for row in released])

    def last_answer(self, job: str, item_id: str, request_hash: str) -> LastAnswer | None:
        """The item's stored answer, as asking again needs it; None if it has none."""
        row = self.db.execute(LAST_ANSWER, (job, item_id, request_hash)).fetchone()
        if row is None or row[1] not in SETTLED:
            return None
        (request_id, status, content, calls, error, max_tokens, cost, reasks, reask_cost) = row[:9]
        (invalid_reasks,) = self.db.execute(INVALID_REASKS, (request_id,)).fetchone()
        usage = None if row[9] is None else Usage(*row[9:14])
        totals = Totals(usage, cost, reasks or 0, reask_cost or 0.0, row[15], row[16])
        tool_calls = tuple(ToolCall(**call) for call in json.loads(calls or "[]"))
        return LastAnswer(
            status, content, tool_calls, error, max_tokens, invalid_reasks, totals, row[14]
        )

    def cached_answer(self, key: str) -> CachedAnswer | None:
        """The newest answer to the request with this cache key (jobs.caching), whatever the
        job, item or run that asked it."""
        return cached_answer(self.db.conn, key, self.path)

    @cached_property
    def path(self) -> str:
        """The database file's path, as SQLite has it."""
        (_, _, path) = self.db.execute("PRAGMA database_list").fetchone()
        return str(path)

    def answer_status(self, job: str, item_id: str, request_hash: str) -> str | None:
        """The status of this exact request of this job, if it has a row."""
        row = self.db.execute(STATUS, (job, item_id, request_hash)).fetchone()
        return None if row is None else str(row[0])

    # -- Batch API ---------------------------------------------------------------------------

    def start_batch_file(self, **values: Any) -> int:
        """A new `batches` row, written before its file is uploaded; returns its row id."""
        with write_transaction(self.db):
            table = self.db.table("batches")
            table.insert({"status": "uploading", "created_at": utc_now(), **values})
            return int(table.last_rowid or 0)

    def record_upload(
        self,
        row: int,
        *,
        input_file_id: str,
        job: str,
        run_id: int,
        items: Sequence[Item],
        reasks: Collection[str] = (),
    ) -> None:
        """The file is uploaded: its items are pending in it, so no other batch takes them.

        Items in `reasks` ask again about an answer they keep meanwhile: their row, its run
        and its request stay as they are, waiting for the batch (no `finished_at`).
        """
        created = utc_now()
        with write_transaction(self.db):
            self.db.table("batches").update(
                row, {"status": "uploaded", "input_file_id": input_file_id}
            )
            for item in items:
                if item.id in reasks:
                    self.db.execute(REASK_PENDING, (input_file_id, job, item.id, item.request_hash))
                    continue
                self.db.execute(
                    UPSERT_BATCH_PENDING,
                    {
                        "job": job,
                        "item_id": item.id,
                        "request_hash": item.request_hash,
                        "run_id": run_id,
                        "model": item.body.get("model"),
                        "request": dumps_text(item.body),
                        "created_at": created,
                        "batch_input_file_id": input_file_id,
                        "metadata": item.metadata,
                    },
                )

    def record_batch_created(self, row: int, *, batch_id: str, status: str) -> None:
        """The batch exists: the row and its items carry OpenAI's batch id."""
        with write_transaction(self.db):
            self.db.table("batches").update(row, {"batch_id": batch_id, "status": status})
            self.db.execute(
                "UPDATE requests SET batch_id = ? WHERE batch_input_file_id = "
                "(SELECT input_file_id FROM batches WHERE id = ?)",
                (batch_id, row),
            )

    def update_batch(self, row: int, values: Mapping[str, Any]) -> None:
        with write_transaction(self.db):
            self.db.table("batches").update(row, dict(values))

    def open_batches(self, job: str) -> list[dict[str, Any]]:
        """This job's batches not yet collected (or given up), oldest first."""
        return list(
            self.db.query(
                "SELECT * FROM batches WHERE job = ? AND collected_at IS NULL ORDER BY id", [job]
            )
        )

    def fake_run_batches(self, job: str) -> set[int]:
        """Row ids of this job's open batches that a `--fake` run submitted.

        Such a batch lived on the simulated API inside that run's own process, so it ended
        with the run, whatever its row still says.
        """
        rows = self.db.execute(
            "SELECT b.id FROM batches b JOIN runs r ON r.id = b.run_id WHERE b.job = ? "
            "AND b.collected_at IS NULL AND json_extract(r.settings, '$.fake')",
            (job,),
        )
        return {int(row[0]) for row in rows}

    def submission_state(
        self, job: str, item_id: str, request_hash: str
    ) -> tuple[str, int | None, bool] | None:
        """(status, run_id, waiting in an open batch) of this request's row, or None."""
        row = self.db.execute(SUBMISSION_STATE, (job, item_id, request_hash)).fetchone()
        return None if row is None else (str(row[0]), row[1], bool(row[2]))

    def enqueued_tokens(self, model: str) -> int:
        """Prompt tokens of this model's batches not yet finished: what counts against the queue."""
        (tokens,) = self.db.execute(
            "SELECT COALESCE(SUM(prompt_tokens), 0) FROM batches WHERE model = ? "
            "AND collected_at IS NULL AND status NOT IN "
            "('uploading', 'completed', 'expired', 'cancelled', 'failed')",
            (model,),
        ).fetchone()
        return int(tokens)

    def batch_item(self, job: str, input_file_id: str, item_id: str) -> BatchItem | None:
        """The item `item_id` as submitted in this input file, or None if it was not."""
        row = self.db.execute(
            "SELECT request_hash, request, attempts, finished_at, status FROM requests "
            "WHERE job = ? AND item_id = ? AND batch_input_file_id = ?",
            (job, item_id, input_file_id),
        ).fetchone()
        if row is None:
            return None
        return BatchItem(str(row[0]), str(row[1]), int(row[2] or 0), row[3] is not None, row[4])
