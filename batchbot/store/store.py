"""The SQLite store: runs, requests, attempts and budget reservations.

Every write to a run's database is made in this package: `Store` here, the Batch API's rows
(`Store.batches`, batches.py), the limits a server stated (remembered.py), with the statements
of a result in writes.py and the schema in migrations.py. Reads are not all here: readers
open the file through read.py, and reports/, failures.py and run/stale.py hold their own
SELECTs.

WAL mode so readers (Datasette, `sqlite3`, `batchbot report`) never block a run; results are
committed in small batches (sync/writer.py), so a crash loses at most what was in flight.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlite_utils import Database

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
from batchbot.store.batches import BatchRows
from batchbot.store.cache import CachedAnswer, cached_answer
from batchbot.store.migrations import migrations
from batchbot.store.transactions import busy_is_final, switch_to_wal, write_transaction
from batchbot.version import __version__

__all__ = ["Store"]

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


class Store:
    """Runs, requests and attempts in one SQLite file."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.batches = BatchRows(db)

    @classmethod
    def open(cls, path: str | Path) -> Store:
        """Open (creating if needed) and migrate the database at `path`."""
        db = Database(str(path))
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        with busy_is_final(db):
            switch_to_wal(db)
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

    def spent_today(self, job: str, day: str | None = None) -> float:
        """USD this job's requests cost today (UTC; or on `day`), over every run (from the
        spend rollup), plus the worst case of what is still reserved (`left_today`)."""
        day = day or utc_now()[:10]
        (nanousd,) = self.db.execute(SPENT_ON_DAY, (job, day)).fetchone()
        return int(nanousd) / 1e9 + self.left_today(job, day)[1]

    def left_today(self, job: str, day: str | None = None) -> tuple[int, float]:
        """Requests this job's runs reserved today (or on `day`) and never wrote a result for:
        how many, and their worst case in USD. A sync run killed with them on the wire (the
        server may have billed them), or items in Batch API files not collected yet. Call it
        before this run reserves anything."""
        today = day or utc_now()[:10]
        count, usd = self.db.execute(RESERVED_ON_DAY, (job, today, f"{today}~")).fetchone()
        return int(count), float(usd)

    def reserve(self, run_id: int, job: str, item_id: str, model: str | None, usd: float) -> int:
        """Commit a request's worst-case cost before it is sent; returns the row to release
        with its result (`record_results`)."""
        with write_transaction(self.db):
            row = (run_id, job, item_id, model, usd, utc_now())
            cursor = self.db.execute(writes.RESERVE, row)
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
