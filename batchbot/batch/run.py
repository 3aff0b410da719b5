"""`--mode batch`: the same job through OpenAI's Batch API, one cron-friendly step at a time.

Each invocation (`BatchRun.run`) does, in order:

1. reconcile: a row left without a batch id by a crash is matched to the batch the API did
   create from its file (found by `input_file_id`), or else reported as an orphan file whose
   items are free again;
2. poll: every open batch of the job is retrieved; finished ones are collected: their output
   and error files become `requests` rows (`mode = 'batch'`, the batch id), failed lines
   follow the error policy, and lines a batch never ran (expired, cancelled) go back to
   pending;
3. submit: items not answered, not waiting in an open batch and not already handled by this
   invocation are split into input files (`batch_files`), uploaded and turned into batches.

`--wait` repeats 2-3 with growing pauses until nothing is open. Every step is committed before
the next API call, so an invocation may die anywhere: no item is ever in two open batches.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import openai
import orjson

from batchbot.answers.asking import Asking
from batchbot.answers.cache import ResponseCache
from batchbot.answers.reask import Reask
from batchbot.api import policy
from batchbot.api.client import ChatClient
from batchbot.api.exceptions import ApiError, StatusError
from batchbot.batch.api import BatchApi, Unchecked, describe, refusal
from batchbot.batch.files import InputFile, Splitter
from batchbot.batch.messages import held, running_line
from batchbot.batch.results import read_line
from batchbot.config import Config
from batchbot.errors import FeedFailed, JobFileChanged, RunStopped, feed_error
from batchbot.jobs.job import YIELD_EVERY_ITEMS, Item, Job
from batchbot.limits import tiers
from batchbot.logs import DETAIL
from batchbot.modes import BATCH
from batchbot.money.pricing import Pricer, priced
from batchbot.outcome import SETTLED, Outcome, utc_now
from batchbot.store.store import Store
from batchbot.tally import RunSummary, Tally
from batchbot.tokens.cost import cost_of

log = logging.getLogger("batchbot")

TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
WRITE_EVERY = 500
POLL_GROWTH = 1.5
POLL_MAX_S = 300.0

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
CREATE_UNCHECKED = (
    "creating a batch from {file_id} failed and listing batches cannot tell whether it was "
    "made anyway ({reason}): its {requests:,} requests stay held, not sent twice; the next run "
    "checks again"
)
TOO_BIG = (
    "{count:,} item(s) need more prompt tokens than the whole batch queue of their model "
    "allows: send them with --mode sync"
)
DEFERRED = (
    "{count:,} item(s) wait for room in the batch queue (enqueued-token limit): they are "
    "submitted by a later run, once the open batches are collected"
)
DOWNLOAD_FAILED = "could not download the results of {batch_id} ({error}); the next run tries again"
FAILED_BATCH = "batch {batch_id} failed: {errors}; its items are submitted again next run"
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
        self.run_id, self.total, self.report = run_id, total, report
        self.tally = Tally()  # the answers collected, at batch prices
        self.notes: list[str] = []
        self.stopped: RunStopped | None = None
        self.stop_event = asyncio.Event()
        self.skipped = self.late = 0
        self.submitted_batches = self.submitted_items = self.collected_batches = 0
        self._files = 0
        self.asking = Asking(job, store, config.reask_policy())
        self._reasking: set[str] = set()  # items the files being filled ask again about
        self._reask_failed: set[str] = set()  # re-asks of this invocation that got no answer

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
        return self.tally.summary(
            run_id=self.run_id,
            job=self.job.name,
            mode=BATCH,
            db_path=str(self.config.db_path),
            total=self.total,
            skipped=self.skipped,
            sent=self.submitted_items,
            elapsed_s=time.perf_counter() - started,
            unpriced_models=tuple(sorted(self.pricer.unknown)),
            stopped=self.stopped,
            submitted_batches=self.submitted_batches,
            collected_batches=self.collected_batches,
            late=self.late,
            running=self._running(),
            notes=tuple(self.notes),
        )

    def _running(self) -> tuple[dict[str, Any], ...]:
        """The job's batches still open, but for those on this --fake run's simulated API:
        they end with it (the next run closes them), so none of them is in progress."""
        running = self.store.open_batches(self.job.name)
        ending = self.store.fake_run_batches(self.job.name) if self.config.fake else set()
        ended = [row for row in running if row["id"] in ending]
        if ended:
            count, requests = len(ended), held(ended)
            self._note(ENDS_WITH_RUN.format(job=self.job.name, count=count, held=requests))
        return tuple(row for row in running if row["id"] not in ending)

    async def _steps(self) -> None:
        await self.reconcile()
        interval = self.config.poll_s
        while True:
            await self.poll()
            if not self.stop_event.is_set():
                await self.submit()
            open_rows = [r for r in self.store.open_batches(self.job.name) if r["batch_id"]]
            if not self.config.wait or not open_rows or self.stop_event.is_set():
                break
            self.report(_progress(open_rows, interval))
            await self._pause(interval)
            interval = min(interval * POLL_GROWTH, POLL_MAX_S)

    # -- 1. reconcile ------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Settle rows a crash left between upload and batch creation."""
        for row in self.store.open_batches(self.job.name):
            if row["batch_id"]:
                continue
            if row["status"] == "uploading" or not row["input_file_id"]:
                self._give_up(row, UPLOAD_INTERRUPTED.format(filename=row["filename"]))
                continue
            found = await self.api.find(row["input_file_id"], since=row["created_at"])
            if isinstance(found, Unchecked):
                file_id, requests = row["input_file_id"], row["requests"]
                self._note(
                    UNCHECKED.format(file_id=file_id, requests=requests, reason=found.reason)
                )
                continue
            if found is None:
                self._give_up(
                    row, ORPHAN_FILE.format(file_id=row["input_file_id"], requests=row["requests"])
                )
                continue
            self.store.record_batch_created(row["id"], batch_id=found.id, status=found.status)
            self._note(ADOPTED.format(batch_id=found.id, file_id=row["input_file_id"]))

    def _give_up(self, row: dict[str, Any], note: str) -> None:
        self.store.update_batch(row["id"], {"status": "orphaned", "collected_at": utc_now()})
        self._note(note)

    # -- 2. poll and collect -----------------------------------------------------------------

    async def poll(self) -> None:
        for row in self.store.open_batches(self.job.name):
            if not row["batch_id"] or self.stop_event.is_set():
                continue
            batch_id = str(row["batch_id"])
            batch = await self.api.retrieve(batch_id)
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
            self.store.update_batch(row["id"], values)
            if batch.status in TERMINAL:
                await self.collect({**row, **values}, batch)

    async def collect(self, row: dict[str, Any], batch: openai.types.Batch) -> None:
        """Write every line of a finished batch's output and error files, then close the row.

        Lines already written (by an earlier collection a crash cut short) are skipped, so
        collecting twice writes nothing twice.
        """
        try:
            for file_id in (row["output_file_id"], row["error_file_id"]):
                if file_id:
                    await self._collect_file(row, file_id)
        except ApiError as exc:
            fatal = policy.classify_error(exc) is policy.ErrorClass.RUN_FATAL
            if fatal and isinstance(exc, StatusError):
                raise refusal(exc, f"download the results of {batch.id}", self.api.model) from exc
            self._note(DOWNLOAD_FAILED.format(batch_id=batch.id, error=describe(exc)))
            return
        if batch.status == "failed":
            reasons = (
                [e.message or e.code or "" for e in (batch.errors.data or [])]
                if (batch.errors)
                else []
            )
            self._note(FAILED_BATCH.format(batch_id=batch.id, errors="; ".join(reasons) or "?"))
        self.store.update_batch(row["id"], {"collected_at": utc_now()})
        self.collected_batches += 1
        self.report(f"collected {batch.id} ({batch.status})")

    async def _collect_file(self, row: dict[str, Any], file_id: str) -> None:
        """Stream one result file into rows, WRITE_EVERY at a time."""
        outcomes: list[Outcome] = []
        async for line in self.api.lines(file_id):
            outcome = self._outcome(row, orjson.loads(line))
            if outcome is not None:
                outcomes.append(outcome)
            if len(outcomes) >= WRITE_EVERY:
                self._write(outcomes)
                outcomes = []
        self._write(outcomes)

    def _outcome(self, row: dict[str, Any], line: dict[str, Any]) -> Outcome | None:
        custom_id = str(line.get("custom_id"))
        found = self.store.batch_item(self.job.name, row["input_file_id"], custom_id)
        if found is None:
            self._note(f"{row['batch_id']}: a result for unknown custom_id {custom_id!r} ignored")
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
            max_attempts=self.config.max_attempts,
            endpoint=self.job.endpoint,
            ask=ask,
        )
        if result.stop is not None:
            self.stop(result.stop)
        if result.outcome.keeps_answer:
            self._reask_failed.add(item.id)
        return result.outcome

    def _write(self, outcomes: list[Outcome], *, reused: bool = False) -> None:
        """Price, check and store collected answers (`reused`: answers from the response
        cache, which cost nothing), and keep them in the shared cache if there is one."""
        if not outcomes:
            return
        if not reused:
            outcomes = [priced(outcome, self.pricer, batch=True) for outcome in outcomes]
        outcomes = [self.asking.check(outcome) for outcome in outcomes]
        self.store.record_results(self.run_id, self.job.name, BATCH, outcomes)
        self.cache.keep(outcomes)
        for outcome in outcomes:
            self.tally.add(outcome)

    # -- 3. submit ---------------------------------------------------------------------------

    async def submit(self) -> None:
        """Split what is left to send into input files and turn each into a batch."""
        splitter = Splitter(self._queue, endpoint=self.job.endpoint)
        skipped = 0
        for count, item in enumerate(self._items(), 1):
            if count % YIELD_EVERY_ITEMS == 0:
                await asyncio.sleep(0)
            if self.stop_event.is_set():
                return
            state = self.store.submission_state(self.job.name, item.id, item.request_hash)
            if state is not None:
                status, run_id, in_open_batch = state
                if in_open_batch:
                    continue
                if status in SETTLED:
                    ask = self._again(item, status)
                    if ask is None:
                        skipped += 1
                        continue
                    self._reasking.add(item.id)  # its answer's re-ask goes in the next file
                    item = Item(item.id, ask.body, item.request_hash, item.line)
                elif run_id == self.run_id:
                    continue  # sent or collected by this invocation: the next one retries
            if state is None or state[0] not in SETTLED:
                reused = self.cache.find(item)
                if reused is not None:
                    self._write([reused], reused=True)
                    continue
            tokens = cost_of(item.body, self.job.endpoint).prompt
            for full in splitter.add(item, tokens):
                await self._submit_file(full)
        for rest in splitter.finish():
            await self._submit_file(rest)
        self.skipped = skipped
        if splitter.deferred:
            self._note(DEFERRED.format(count=splitter.deferred), once=True)
        if splitter.too_big:
            self._note(TOO_BIG.format(count=splitter.too_big), once=True)

    def _again(self, item: Item, status: str) -> Reask | None:
        """The re-ask about an answered item, unless one already got no answer this time."""
        return None if item.id in self._reask_failed else self.asking.again(item, status)

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
        return limit, self.store.enqueued_tokens(model)

    async def _submit_file(self, input_file: InputFile) -> None:
        self._files += 1
        filename = f"batchbot-{_safe(self.job.name)}-run{self.run_id}-{self._files}.jsonl"
        row = self.store.start_batch_file(
            job=self.job.name,
            run_id=self.run_id,
            model=input_file.model,
            filename=filename,
            requests=len(input_file.items),
            bytes=input_file.size,
            prompt_tokens=input_file.tokens,
        )
        data = input_file.data
        try:
            file_id = await self.api.upload(filename, data)
        except RunStopped as exc:  # refused: no file exists, nothing is held
            self._close_refused(row, exc)
            raise
        reasks = {item.id for item in input_file.items if item.id in self._reasking}
        self.store.record_upload(
            row,
            input_file_id=file_id,
            job=self.job.name,
            run_id=self.run_id,
            items=input_file.items,
            reasks=reasks,
        )
        self._reasking -= reasks
        try:
            metadata = {"batchbot_job": self.job.name[:512], "batchbot_file": filename}
            batch = await self.api.create(file_id, metadata)
        except RunStopped as exc:  # refused: the items are free again, the file unused
            self._close_refused(row, exc)
            raise
        if isinstance(batch, Unchecked):  # the row stays uploaded: the next run looks again
            requests = len(input_file.items)
            self._note(
                CREATE_UNCHECKED.format(file_id=file_id, requests=requests, reason=batch.reason)
            )
            return
        self.store.record_batch_created(row, batch_id=batch.id, status=batch.status)
        self.submitted_batches += 1
        self.submitted_items += len(input_file.items)
        self.report(
            f"submitted {batch.id}: {len(input_file.items):,} requests for {input_file.model} "
            f"({input_file.size:,} bytes, ~{input_file.tokens:,} prompt tokens)"
        )

    def _close_refused(self, row: int, exc: RunStopped) -> None:
        self.store.update_batch(
            row, {"status": "orphaned", "collected_at": utc_now(), "error": str(exc)}
        )

    # -- plumbing ----------------------------------------------------------------------------

    async def _pause(self, seconds: float) -> None:
        """Sleep, but wake up at once if the run is stopped meanwhile."""
        pause = asyncio.ensure_future(self.sleep(seconds))
        stop = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({pause, stop}, return_when=asyncio.FIRST_COMPLETED)
        for waiting in (pause, stop):
            waiting.cancel()

    def _note(self, note: str, *, once: bool = False) -> None:
        if once and note in self.notes:
            return
        self.notes.append(note)
        self.report(note)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:64] or "job"


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
