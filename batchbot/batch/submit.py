"""Submitting one input file: a `batches` row, the upload, the items made pending in it (and,
under a budget, reserved), then the batch. Each step is committed before the next API call.

| the run stops (or is refused) | what is left |
| --- | --- |
| during the upload | a row `uploading`: the next run says the file is unused |
| after the upload | a row `uploaded`: the next run adopts its batch or frees its items |
| the upload or the create refused | the row closed `orphaned` with the error; nothing held |
"""

from __future__ import annotations

import re

from batchbot.batch.api import BatchApi, Unchecked
from batchbot.batch.files import InputFile
from batchbot.batch.messages import Notes
from batchbot.batch.spending import BatchBudget
from batchbot.errors import RunStopped
from batchbot.outcome import utc_now
from batchbot.store.store import Store

__all__ = ["Submitter"]

CREATE_UNCHECKED = (
    "creating a batch from {file_id} failed and listing batches cannot tell whether it was "
    "made anyway ({reason}): its {requests:,} requests stay held, not sent twice; the next run "
    "checks again"
)


class Submitter:
    """Turns the input files of one invocation into batches, and counts what it submitted."""

    def __init__(
        self,
        job: str,
        store: Store,
        api: BatchApi,
        run_id: int,
        *,
        spending: BatchBudget,
        notes: Notes,
    ) -> None:
        self.job, self.store, self.api, self.run_id = job, store, api, run_id
        self.spending, self.notes = spending, notes
        self.reasking: set[str] = set()  # items the files being filled ask again about
        self.files = self.batches = self.items = 0

    async def submit(self, input_file: InputFile) -> None:
        """Submit `input_file`, whose worst case the caller has seen fit the budget.
        RunStopped when the API refuses the upload or the batch."""
        self.files += 1
        filename = f"batchbot-{_safe(self.job)}-run{self.run_id}-{self.files}.jsonl"
        requests = len(input_file.items)
        row = self.store.batches.start_file(
            job=self.job,
            run_id=self.run_id,
            model=input_file.model,
            filename=filename,
            requests=requests,
            bytes=input_file.size,
            prompt_tokens=input_file.tokens,
        )
        self.spending.hold(row, input_file.worst_usd)
        try:
            file_id = await self.api.upload(filename, input_file.data)
        except RunStopped as exc:  # refused: no file exists, nothing is held
            self._close_refused(row, exc)
            raise
        reasks = {item.id for item in input_file.items if item.id in self.reasking}
        self.store.batches.record_upload(
            row,
            input_file_id=file_id,
            job=self.job,
            run_id=self.run_id,
            items=input_file.items,
            reasks=reasks,
            worst_usd=input_file.worst if self.spending.enabled else (),
        )
        self.reasking -= reasks
        try:
            metadata = {"batchbot_job": self.job[:512], "batchbot_file": filename}
            batch = await self.api.create(file_id, metadata)
        except RunStopped as exc:  # refused: the items are free again, the file unused
            self._close_refused(row, exc)
            raise
        if isinstance(batch, Unchecked):  # the row stays uploaded: the next run looks again
            unchecked = CREATE_UNCHECKED.format(
                file_id=file_id, requests=requests, reason=batch.reason
            )
            self.notes.add(unchecked)
            return
        self.store.batches.record_created(row, batch_id=batch.id, status=batch.status)
        self.batches += 1
        self.items += requests
        self.notes.report(
            f"submitted {batch.id}: {requests:,} requests for {input_file.model} "
            f"({input_file.size:,} bytes, ~{input_file.tokens:,} prompt tokens)"
        )

    def _close_refused(self, row: int, exc: RunStopped) -> None:
        values = {"status": "orphaned", "collected_at": utc_now(), "error": str(exc)}
        self.spending.close(row, values)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:64] or "job"
