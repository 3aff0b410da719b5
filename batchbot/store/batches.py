"""The Batch API's rows: a `batches` row per input file, from before its upload until its
results are collected, and the `requests` rows of the items it holds.

Each step is its own transaction, committed before the next API call, so a run that dies
anywhere leaves rows the next run can settle (batch/reconcile.py). Under a budget the items'
worst cases are reserved (`reservations`, money/budget.py) in the transaction that makes them
pending in the file, before any batch can bill them, and released when the file is closed.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database

from batchbot.jsonbytes import dumps_text
from batchbot.outcome import utc_now
from batchbot.store.transactions import write_transaction
from batchbot.store.writes import RESERVE

if TYPE_CHECKING:
    from batchbot.jobs.job import Item

__all__ = ["BatchItem", "BatchRows"]

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

# The reservations of a file's items: made by the run that uploaded it (a run submits an item
# once), for the items its requests rows still say it holds.
FILE_RESERVATIONS = """
FROM reservations WHERE job = :job AND run_id = :run_id AND item_id IN (
    SELECT item_id FROM requests WHERE job = :job AND batch_input_file_id = :file_id)
"""
RESERVED_BY_DAY = (
    f"SELECT substr(created_at, 1, 10), sum(worst_usd) {FILE_RESERVATIONS} "
    "GROUP BY substr(created_at, 1, 10)"
)
RELEASE_FILE = f"DELETE {FILE_RESERVATIONS}"

ENQUEUED_TOKENS = """
SELECT COALESCE(SUM(prompt_tokens), 0) FROM batches WHERE model = ?
AND collected_at IS NULL AND status NOT IN
('uploading', 'completed', 'expired', 'cancelled', 'failed')
"""
FAKE_RUN_BATCHES = """
SELECT b.id FROM batches b JOIN runs r ON r.id = b.run_id WHERE b.job = ?
AND b.collected_at IS NULL AND json_extract(r.settings, '$.fake')
"""
BATCH_ITEM = """
SELECT request_hash, request, attempts, finished_at, status FROM requests
WHERE job = ? AND item_id = ? AND batch_input_file_id = ?
"""


@dataclass(frozen=True, slots=True)
class BatchItem:
    """An item as a batch holds it: its request, earlier attempts, whether its result is in,
    and its status (an answer it has while a re-ask waits in the batch)."""

    request_hash: str
    request: str
    attempts: int
    collected: bool
    status: str


class BatchRows:
    """The `batches` table and the items its files hold (`Store.batches`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def start_file(self, **values: Any) -> int:
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
        worst_usd: Sequence[float] = (),
    ) -> None:
        """The file is uploaded: its items are pending in it, so no other batch takes them.

        Items in `reasks` ask again about an answer they keep meanwhile: their row, its run
        and its request stay as they are, waiting for the batch (no `finished_at`).
        `worst_usd`, under a budget: each item's worst case, reserved until the file is closed.
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
            if worst_usd:
                self.db.conn.executemany(
                    RESERVE,
                    [
                        (run_id, job, item.id, item.body.get("model"), usd, created)
                        for item, usd in zip(items, worst_usd, strict=True)
                    ],
                )

    def record_created(self, row: int, *, batch_id: str, status: str) -> None:
        """The batch exists: the row and its items carry OpenAI's batch id."""
        with write_transaction(self.db):
            self.db.table("batches").update(row, {"batch_id": batch_id, "status": status})
            self.db.execute(
                "UPDATE requests SET batch_id = ? WHERE batch_input_file_id = "
                "(SELECT input_file_id FROM batches WHERE id = ?)",
                (batch_id, row),
            )

    def update(self, row: int, values: Mapping[str, Any]) -> None:
        with write_transaction(self.db):
            self.db.table("batches").update(row, dict(values))

    def close(self, row: int, values: Mapping[str, Any]) -> dict[str, float]:
        """End the file's life (`values` with its `collected_at`): nothing it holds can be
        billed any more, so its items' reservations go in the same transaction. Returns the
        worst cases released, in USD by the day (UTC) they were reserved."""
        with write_transaction(self.db):
            self.db.table("batches").update(row, dict(values))
            found = self.db.execute(
                "SELECT job, run_id, input_file_id FROM batches WHERE id = ?", (row,)
            ).fetchone()
            if found is None or found[2] is None:
                return {}
            file = dict(zip(("job", "run_id", "file_id"), found, strict=True))
            released = dict(self.db.execute(RESERVED_BY_DAY, file).fetchall())
            self.db.execute(RELEASE_FILE, file)
        return {str(day): float(usd) for day, usd in released.items()}

    def open(self, job: str) -> list[dict[str, Any]]:
        """This job's batches not yet collected (or given up), oldest first."""
        return list(
            self.db.query(
                "SELECT * FROM batches WHERE job = ? AND collected_at IS NULL ORDER BY id", [job]
            )
        )

    def of_fake_runs(self, job: str) -> set[int]:
        """Row ids of this job's open batches that a `--fake` run submitted.

        Such a batch lived on the simulated API inside that run's own process, so it ended
        with the run, whatever its row still says.
        """
        return {int(row[0]) for row in self.db.execute(FAKE_RUN_BATCHES, (job,))}

    def submission_state(
        self, job: str, item_id: str, request_hash: str
    ) -> tuple[str, int | None, bool] | None:
        """(status, run_id, waiting in an open batch) of this request's row, or None."""
        row = self.db.execute(SUBMISSION_STATE, (job, item_id, request_hash)).fetchone()
        return None if row is None else (str(row[0]), row[1], bool(row[2]))

    def enqueued_tokens(self, model: str) -> int:
        """Prompt tokens of this model's batches not yet finished: what counts against the queue."""
        (tokens,) = self.db.execute(ENQUEUED_TOKENS, (model,)).fetchone()
        return int(tokens)

    def item(self, job: str, input_file_id: str, item_id: str) -> BatchItem | None:
        """The item `item_id` as submitted in this input file, or None if it was not."""
        row = self.db.execute(BATCH_ITEM, (job, item_id, input_file_id)).fetchone()
        if row is None:
            return None
        return BatchItem(str(row[0]), str(row[1]), int(row[2] or 0), row[3] is not None, row[4])
