"""Collecting a finished batch: every line of its output and error files becomes the row a
sync run writes (`mode = 'batch'`, priced at the Batch price), then the row is closed.

Lines already written (by an earlier collection a crash cut short) are skipped, so collecting
twice writes nothing twice. Lines a batch never ran (expired, cancelled) leave their items
pending, and the next run submits them again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import openai
import orjson

from batchbot.answers.asking import Asking
from batchbot.answers.cache import ResponseCache
from batchbot.api import policy
from batchbot.api.exceptions import ApiError, StatusError
from batchbot.batch.api import BatchApi, describe, refusal
from batchbot.batch.messages import Notes
from batchbot.batch.results import read_line
from batchbot.batch.spending import BatchBudget
from batchbot.errors import RunStopped
from batchbot.jobs.job import Item, Job
from batchbot.modes import BATCH
from batchbot.money.pricing import Pricer, priced
from batchbot.outcome import SETTLED, Outcome, utc_now
from batchbot.store.store import Store
from batchbot.tally import Tally

__all__ = ["Collector"]

WRITE_EVERY = 500
DOWNLOAD_FAILED = "could not download the results of {batch_id} ({error}); the next run tries again"
UNKNOWN_ID = "{batch_id}: a result for unknown custom_id {custom_id!r} ignored"
FAILED_BATCH = "batch {batch_id} failed: {errors}; its items are submitted again next run"


class Collector:
    """Writes the answers of one invocation: those of finished batches, and those the response
    cache gives instead of a request (`write(..., reused=True)`)."""

    def __init__(
        self,
        job: Job,
        store: Store,
        api: BatchApi,
        run_id: int,
        *,
        max_attempts: int,
        pricer: Pricer,
        cache: ResponseCache,
        asking: Asking,
        spending: BatchBudget,
        notes: Notes,
        stop: Callable[[RunStopped], None],
    ) -> None:
        self.job, self.store, self.api, self.run_id = job, store, api, run_id
        self.max_attempts, self.pricer, self.cache = max_attempts, pricer, cache
        self.asking, self.spending, self.notes, self.stop = asking, spending, notes, stop
        self.tally = Tally()  # the answers collected, at batch prices
        self.collected_batches = self.late = 0
        self.reask_failed: set[str] = set()  # re-asks of this invocation that got no answer

    async def collect(self, row: dict[str, Any], batch: openai.types.Batch) -> None:
        """Write every line of a finished batch's output and error files, then close the row."""
        cost_usd = 0.0
        try:
            for file_id in (row["output_file_id"], row["error_file_id"]):
                if file_id:
                    cost_usd += await self._collect_file(row, file_id)
        except ApiError as exc:
            fatal = policy.classify_error(exc) is policy.ErrorClass.RUN_FATAL
            if fatal and isinstance(exc, StatusError):
                raise refusal(exc, f"download the results of {batch.id}", self.api.model) from exc
            self.notes.add(DOWNLOAD_FAILED.format(batch_id=batch.id, error=describe(exc)))
            return
        if batch.status == "failed":
            errors = "; ".join(_reasons(batch)) or "?"
            self.notes.add(FAILED_BATCH.format(batch_id=batch.id, errors=errors))
        self.spending.close(row["id"], {"collected_at": utc_now()}, cost_usd=cost_usd)
        self.collected_batches += 1
        self.notes.report(f"collected {batch.id} ({batch.status})")

    async def _collect_file(self, row: dict[str, Any], file_id: str) -> float:
        """Stream one result file into rows, WRITE_EVERY at a time; what they cost."""
        outcomes: list[Outcome] = []
        cost_usd = 0.0
        async for line in self.api.lines(file_id):
            outcome = self._outcome(row, orjson.loads(line))
            if outcome is not None:
                outcomes.append(outcome)
            if len(outcomes) >= WRITE_EVERY:
                cost_usd += self.write(outcomes)
                outcomes = []
        return cost_usd + self.write(outcomes)

    def _outcome(self, row: dict[str, Any], line: dict[str, Any]) -> Outcome | None:
        custom_id = str(line.get("custom_id"))
        found = self.store.batches.item(self.job.name, row["input_file_id"], custom_id)
        if found is None:
            self.notes.add(UNKNOWN_ID.format(batch_id=row["batch_id"], custom_id=custom_id))
            return None
        if found.collected:
            return None
        item = Item(custom_id, json.loads(found.request), found.request_hash, 0)
        ask = None
        if found.status in SETTLED:  # answered meanwhile, or a re-ask about its answer
            ask = self.asking.waited_for(item)
            if ask is None:
                self.late += 1
                return None
            if ask.previous.run_id == self.run_id:
                self.tally.count(ask.previous.status, -1)  # counted again with this result
        result = read_line(
            line,
            item,
            attempts_before=found.attempts,
            max_attempts=self.max_attempts,
            endpoint=self.job.endpoint,
            ask=ask,
        )
        if result.stop is not None:
            self.stop(result.stop)
        if result.outcome.keeps_answer:
            self.reask_failed.add(item.id)
        return result.outcome

    def write(self, outcomes: list[Outcome], *, reused: bool = False) -> float:
        """Price, check and store answers (`reused`: answers from the response cache, which
        cost nothing), and keep them in the shared cache if there is one; what they cost."""
        if not outcomes:
            return 0.0
        if not reused:
            outcomes = [priced(outcome, self.pricer, batch=True) for outcome in outcomes]
        outcomes = [self.asking.check(outcome) for outcome in outcomes]
        self.store.record_results(self.run_id, self.job.name, BATCH, outcomes)
        self.cache.keep(outcomes)
        for outcome in outcomes:
            self.tally.add(outcome)
        return sum(outcome.cost_usd or 0.0 for outcome in outcomes)


def _reasons(batch: openai.types.Batch) -> list[str]:
    return [e.message or e.code or "" for e in (batch.errors.data or [])] if batch.errors else []
