"""After a crash: the rows a run left between uploading a file and recording its batch.

A row with no input file id never finished its upload: if the file reached OpenAI it is
unused. A row with one is looked up by `input_file_id` among the batches the API created since:
found, it is adopted; not found, the file is an orphan and its items are free again; when the
API cannot say, the row stays and its items stay held, so nothing is paid for twice.
"""

from __future__ import annotations

from typing import Any

from batchbot.batch.api import BatchApi, Unchecked
from batchbot.batch.messages import Notes
from batchbot.batch.spending import BatchBudget
from batchbot.outcome import utc_now
from batchbot.store.store import Store

__all__ = ["reconcile"]

UPLOAD_INTERRUPTED = (
    "the upload of {filename} was interrupted; if it reached OpenAI it is an unused file "
    "(delete it under Storage > Files); its items are submitted again"
)
ORPHAN_FILE = (
    "input file {file_id} ({requests:,} requests) was uploaded but no batch was created from it "
    "(the run stopped in between); its items are submitted again in a new file. The file is "
    "unused: delete it under Storage > Files or with the Files API"
)
ADOPTED = "found batch {batch_id} created from {file_id} by an interrupted run; tracking it"
UNCHECKED = (
    "could not check whether a batch was created from input file {file_id} ({requests:,} "
    "requests) before a run stopped: {reason}. Its items stay held, so they are not paid for "
    "twice; the next run checks again"
)


async def reconcile(
    rows: list[dict[str, Any]], store: Store, api: BatchApi, spending: BatchBudget, notes: Notes
) -> None:
    """Settle the `rows` (a job's open batches) that have no batch id yet."""
    for row in rows:
        if row["batch_id"]:
            continue
        if row["status"] == "uploading" or not row["input_file_id"]:
            give_up(row, spending, notes, UPLOAD_INTERRUPTED.format(filename=row["filename"]))
            continue
        file_id, requests = row["input_file_id"], row["requests"]
        found = await api.find(file_id, since=row["created_at"])
        if isinstance(found, Unchecked):
            notes.add(UNCHECKED.format(file_id=file_id, requests=requests, reason=found.reason))
        elif found is None:
            give_up(row, spending, notes, ORPHAN_FILE.format(file_id=file_id, requests=requests))
        else:
            store.batches.record_created(row["id"], batch_id=found.id, status=found.status)
            notes.add(ADOPTED.format(batch_id=found.id, file_id=file_id))


def give_up(row: dict[str, Any], spending: BatchBudget, notes: Notes, note: str) -> None:
    """No batch came of the row's file: close it, its items free and their reservations gone."""
    spending.close(row["id"], {"status": "orphaned", "collected_at": utc_now()})
    notes.add(note)
