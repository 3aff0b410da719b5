"""`--mode batch`: the same job through OpenAI's Batch API, one cron-friendly step at a time.

Each invocation (`BatchRun.run`) does, in order:

1. reconcile: a row left without a batch id by a crash is matched to the batch the API did
   create from its file, or else reported as an orphan file whose items are free again
   (reconcile.py);
2. poll: every open batch of the job is retrieved; finished ones are collected: their output
   and error files become `requests` rows (`mode = 'batch'`, the batch id), failed lines
   follow the error policy, and lines a batch never ran (expired, cancelled) go back to
   pending (collect.py);
3. submit: items not answered, not waiting in an open batch and not already handled by this
   invocation are split into input files (a `batches` row each), uploaded and turned into batches
   (files.py, submit.py); under a budget only as many as their worst case allows
   (spending.py), and the run then stops as a sync run does when its budget is reached.

`--wait` repeats 2-3 with growing pauses until nothing is open. Every step is committed before
the next API call, so an invocation may die anywhere: no item is ever in two open batches.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from batchbot.answers.asking import Asking
from batchbot.answers.cache import ResponseCache
from batchbot.answers.reask import Reask
from batchbot.api.client import ChatClient
from batchbot.batch.api import BatchApi
from batchbot.batch.collect import Collector
from batchbot.batch.files import Splitter
from batchbot.batch.messages import Notes, held, running_line
from batchbot.batch.reconcile import reconcile
from batchbot.batch.spending import BatchBudget
from batchbot.batch.submit import Submitter
from batchbot.config import Config
from batchbot.errors import FeedFailed, JobFileChanged, RunStopped, feed_error
from batchbot.jobs.job import YIELD_EVERY_ITEMS, Item, Job
from batchbot.limits import tiers
from batchbot.logs import DETAIL
from batchbot.modes import BATCH
from batchbot.money.pricing import Pricer
from batchbot.outcome import SETTLED, utc_now
from batchbot.store.store import Store
from batchbot.tally import RunSummary
from batchbot.tokens.cost import cost_of

log = logging.getLogger("batchbot")

TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
POLL_GROWTH = 1.5
POLL_MAX_S = 300.0
ANSWERED, NOT_NOW = "answered", "not now"  # why an item is not submitted

TOO_BIG = (
    "{count:,} item(s) need more prompt tokens than the whole batch queue of their model "
    "allows: send them with --mode sync"
)
DEFERRED = (
    "{count:,} item(s) wait for room in the batch queue (enqueued-token limit): they are "
    "submitted by a later run, once the open batches are collected"
)
ENDS_WITH_RUN = (
    "{job}: {count} batch(es) with {held:,} request(s) were still open on the simulated API, "
    "which ends with this run: the next run closes them and sends those requests again"
)


class BatchRun:
    """One invocation of batch mode for one job; see the module docstring."""

    def __init__(
        self,
        job: Job,
        config: Config,
        store: Store,
        client: ChatClient,
        run_id: int,
        pricer: Pricer,
        total: int,
        cache: ResponseCache,
        *,
        report: Callable[[str], None] = lambda line: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`report` gets progress lines; `sleep` waits between polls (tests pass their own)."""
        self.job, self.config, self.store, self.pricer = job, config, store, pricer
        self.cache = cache
        self.sleep = sleep
        self.api = BatchApi(
            client.api,
            max_attempts=config.max_attempts,
            model=config.model or "",
            endpoint=job.endpoint,
            wait=config.retry_wait,
        )
        self.run_id, self.total = run_id, total
        self.notes = Notes(report)
        self.stopped: RunStopped | None = None
        self.stop_event = asyncio.Event()
        self.skipped = 0
        self.held_back = False  # the last submit pass had no room in the budget for an item
        self.asking = Asking(job, store, config.reask_policy())
        self.spending = BatchBudget(config, store, job.name, pricer, endpoint=job.endpoint)
        self.collector = Collector(
            job,
            store,
            self.api,
            run_id,
            max_attempts=config.max_attempts,
            pricer=pricer,
            cache=cache,
            asking=self.asking,
            spending=self.spending,
            notes=self.notes,
            stop=self.stop,
        )
        self.submitter = Submitter(
            job.name, store, self.api, run_id, spending=self.spending, notes=self.notes
        )

    def stop(self, reason: RunStopped) -> None:
        """Stop after the step under way (each step is committed before the next begins)."""
        self.stopped = self.stopped or reason
        self.stop_event.set()

    async def run(self) -> RunSummary:
        """Reconcile, then poll/collect and submit (repeatedly with --wait); see the module."""
        started = time.perf_counter()
        try:
            await self._steps()
        except RunStopped as exc:  # an API call itself was refused: bad key, no quota
            self.stop(exc)
        collector = self.collector
        return collector.tally.summary(
            run_id=self.run_id,
            job=self.job.name,
            mode=BATCH,
            db_path=str(self.config.db_path),
            total=self.total,
            skipped=self.skipped,
            sent=self.submitter.items,
            elapsed_s=time.perf_counter() - started,
            unpriced_models=tuple(sorted(self.pricer.unknown)),
            stopped=self.stopped,
            submitted_batches=self.submitter.batches,
            collected_batches=collector.collected_batches,
            late=collector.late,
            running=self._running(),
            notes=tuple(self.notes.lines),
        )

    def _running(self) -> tuple[dict[str, Any], ...]:
        """The job's batches still open, but for those on this --fake run's simulated API:
        they end with it (the next run closes them), so none of them is in progress."""
        running = self.store.batches.open(self.job.name)
        ending = self.store.batches.of_fake_runs(self.job.name) if self.config.fake else set()
        ended = [row for row in running if row["id"] in ending]
        if ended:
            count, requests = len(ended), held(ended)
            self.notes.add(ENDS_WITH_RUN.format(job=self.job.name, count=count, held=requests))
        return tuple(row for row in running if row["id"] not in ending)

    async def _steps(self) -> None:
        rows = self.store.batches.open(self.job.name)
        await reconcile(rows, self.store, self.api, self.spending, self.notes)
        interval = self.config.poll_s
        while True:
            await self.poll()
            if not self.stop_event.is_set():
                await self.submit()
            open_rows = [r for r in self.store.batches.open(self.job.name) if r["batch_id"]]
            if not self.config.wait or not open_rows or self.stop_event.is_set():
                break
            # Held back by the budget, --wait waits: collected batches give their room back.
            self.notes.report(_progress(open_rows, interval))
            await self._pause(interval)
            interval = min(interval * POLL_GROWTH, POLL_MAX_S)
        if self.held_back:
            self.stop(self.spending.exhausted())

    async def poll(self) -> None:
        """Look up every open batch; collect those that are done."""
        for row in self.store.batches.open(self.job.name):
            if not row["batch_id"] or self.stop_event.is_set():
                continue
            batch = await self.api.retrieve(str(row["batch_id"]))
            counts = batch.request_counts
            values: dict[str, Any] = {
                "status": batch.status,
                "completed": counts.completed if counts else None,
                "failed": counts.failed if counts else None,
                "output_file_id": batch.output_file_id,
                "error_file_id": batch.error_file_id,
            }
            if batch.status in TERMINAL:
                values["finished_at"] = utc_now()
            self.store.batches.update(row["id"], values)
            if batch.status in TERMINAL:
                await self.collector.collect({**row, **values}, batch)

    async def submit(self) -> None:
        """Split what is left to send into input files and turn each into a batch; under a
        budget, stop filling them at the first item whose worst case finds no room."""
        splitter = Splitter(self._queue, endpoint=self.job.endpoint)
        skipped = 0
        self.held_back = False
        for count, item in enumerate(self._items(), 1):
            if count % YIELD_EVERY_ITEMS == 0:
                await asyncio.sleep(0)
            if self.stop_event.is_set():
                return
            to_send = self._to_send(item)
            skipped += to_send == ANSWERED
            if not isinstance(to_send, Item) or self.held_back:
                continue
            cost = cost_of(to_send.body, self.job.endpoint)
            worst = self.spending.worst_case(to_send, cost)
            if not self.spending.fits(splitter.pending_usd + worst):
                self.held_back = True  # later items are read on, to count what is answered
                continue
            for full in splitter.add(to_send, cost.prompt, worst):
                await self.submitter.submit(full)
        for rest in splitter.finish():
            await self.submitter.submit(rest)
        self.skipped = skipped
        if splitter.deferred:
            self.notes.add(DEFERRED.format(count=splitter.deferred), once=True)
        if splitter.too_big:
            self.notes.add(TOO_BIG.format(count=splitter.too_big), once=True)

    def _to_send(self, item: Item) -> Item | str:
        """What to submit for `item`: itself or its re-ask, else why nothing: ANSWERED, or
        NOT_NOW (waiting in an open batch, handled by this invocation, or just answered from
        the response cache)."""
        state = self.store.batches.submission_state(self.job.name, item.id, item.request_hash)
        if state is not None:
            status, run_id, in_open_batch = state
            if in_open_batch:
                return NOT_NOW
            if status in SETTLED:
                ask = self._again(item, status)
                if ask is None:  # answered before this invocation, or collected by it
                    return ANSWERED if run_id != self.run_id else NOT_NOW
                self.submitter.reasking.add(item.id)  # its answer's re-ask goes in the next file
                return Item(item.id, ask.body, item.request_hash, item.line)
            if run_id == self.run_id:
                return NOT_NOW  # sent or collected by this invocation: the next one retries
        reused = self.cache.find(item)
        if reused is not None:
            self.collector.write([reused], reused=True)
            return NOT_NOW
        return item

    def _again(self, item: Item, status: str) -> Reask | None:
        """The re-ask about an answered item, unless one already got no answer this time."""
        if item.id in self.collector.reask_failed:
            return None
        return self.asking.again(item, status)

    def _items(self) -> Iterator[Item]:
        """The job's items. Reading them failing stops the run (FeedFailed, the traceback
        logged): the batches submitted so far stand, the items not submitted stay pending."""
        try:
            yield from self.job.items()
        except Exception as exc:
            raise feed_failed(self.job.name, self.run_id, exc) from exc

    def _queue(self, model: str) -> tuple[int | None, int]:
        limit = self.config.batch_queue_tokens
        if limit is None:
            limit = tiers.limits_for(self.config.tier, model).batch_queue_tokens
        return limit, self.store.batches.enqueued_tokens(model)

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once if the run is stopped meanwhile."""
        pause = asyncio.ensure_future(self.sleep(seconds))
        stop = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({pause, stop}, return_when=asyncio.FIRST_COMPLETED)
        for waiting in (pause, stop):
            waiting.cancel()


def _progress(rows: list[dict[str, Any]], interval: float) -> str:
    listed = "; ".join(running_line(row) for row in rows)
    return f"waiting for {len(rows)} batch(es): {listed}; next check in {interval:.3g} s"


def feed_failed(
    job: str, run_id: int, error: Exception, *, checking: bool = False
) -> FeedFailed | JobFileChanged:
    """The stop for a run, sync or batch, whose items could not be read (or fed) to the end;
    the traceback goes to the log (and to stderr with --verbose), the CLI says one line."""
    log.error(
        "reading the items of job %s failed",
        job,
        exc_info=error,
        extra={DETAIL: True, "run_id": run_id},
    )
    return feed_error(error, checking=checking)
