"""`batchbot cancel`: the job's batches still in progress, cancelled through the API, or closed
here when they belonged to a `--fake` run (whose simulated API ended with it), which is also
the first thing every run does with those a `--fake` run left."""

from __future__ import annotations

from typing import Any

from batchbot.batch.api import BatchApi
from batchbot.batch.messages import Cancelled
from batchbot.outcome import utc_now
from batchbot.store.store import Store

ALIVE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
ENDED_WITH_FAKE = (
    "submitted to the simulated API of a --fake run, which ended with that run; closed by {by}"
)
CANCEL_FAKE = "`batchbot cancel --fake`"


async def cancel_open(
    job: str, store: Store, api: BatchApi | None, *, closed_by: str = CANCEL_FAKE
) -> Cancelled:
    """Cancel every batch of `job` still in progress: through `api`, or here with --fake.

    A batch cancelled through the API is collected by the next run like any other: what it
    answered is kept, the rest goes back to pending. A batch a `--fake` run submitted lived
    on the simulated API inside that run and ended with it: no server knows it any more, so
    with --fake (`api` None) its row is closed here and its items are pending again at once;
    its error says it ended and what closed it (`closed_by`: this command, or a later run).
    Each kind is left alone by the other's command.
    """
    here = api is None
    of_fake_runs = store.batches.of_fake_runs(job)
    asked, ended, left = [], [], []
    for row in store.batches.open(job):
        if (row["id"] in of_fake_runs) != here:  # the other command's kind
            if row["batch_id"] and row["status"] in ALIVE:
                left.append(row)
        elif api is None:
            ended.append(_end_here(store, row, closed_by))
        elif row["batch_id"] and row["status"] in ALIVE - {"cancelling"}:
            batch = await api.cancel(row["batch_id"])
            store.batches.update(row["id"], {"status": batch.status})
            asked.append({**row, "status": batch.status})
    return Cancelled(fake=here, asked=tuple(asked), ended=tuple(ended), left=tuple(left))


def _end_here(store: Store, row: dict[str, Any], closed_by: str) -> dict[str, Any]:
    now = utc_now()
    values = {
        "status": "cancelled" if row["batch_id"] else "orphaned",
        "error": ENDED_WITH_FAKE.format(by=closed_by),
        "finished_at": row["finished_at"] or now,
        "collected_at": now,
    }
    store.batches.close(row["id"], values)
    return {**row, **values}
