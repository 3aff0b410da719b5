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
import contextlib
import json
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import openai
import orjson

from batchbot import policy, tiers
from batchbot.batch_files import ENDPOINT, InputFile, Splitter
from batchbot.client import ChatClient, _reply_from
from batchbot.config import Config
from batchbot.errors import EXIT_OK, EXIT_SOME_FAILED, RunStopped
from batchbot.jobs import Item, Job
from batchbot.modes import BATCH
from batchbot.outcome import ANSWERED, FAILED, OK, PENDING, TRUNCATED, Attempt, Outcome, utc_now
from batchbot.store import Store
from batchbot.tokens import prompt_tokens

T = TypeVar("T")

ALIVE = frozenset({"validating", "in_progress", "finalizing", "cancelling"})
TERMINAL = frozenset({"completed", "expired", "cancelled", "failed"})
NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})  # the line never ran
WRITE_EVERY = 500
YIELD_EVERY_ITEMS = 500
POLL_GROWTH = 1.5
POLL_MAX_S = 300.0
ADOPT_MARGIN_S = 3600  # how far before a row's creation a matching batch is looked for

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
TOO_BIG = (
    "{count:,} item(s) need more prompt tokens than the whole batch queue of their model "
    "allows: send them with --mode sync"
)
DEFERRED = (
    "{count:,} item(s) wait for room in the batch queue (enqueued-token limit): they are "
    "submitted by a later run, once the open batches are collected"
)
FAILED_BATCH = "batch {batch_id} failed: {errors}; its items are submitted again next run"


# What the openai client would have raised for the status: a sync run's error_code when the
# API gives no code of its own, so both modes group the same failures together.
STATUS_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}


class BatchLineError(Exception):
    """A failed line of a batch's error file, shaped like the API error it records."""

    def __init__(self, status_code: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status_code, self.code, self.message = status_code, code, message

    @property
    def error_code(self) -> str | None:
        if self.code or not self.status_code:
            return self.code
        if self.status_code >= 500:
            return "InternalServerError"
        return STATUS_ERRORS.get(self.status_code, "APIStatusError")


@dataclass
class BatchSummary:
    """What one batch-mode invocation did, and what it left running."""

    run_id: int
    job: str
    db_path: str
    submitted_batches: int = 0
    submitted_items: int = 0
    skipped: int = 0  # already answered
    waiting: int = 0  # in a batch still open when this invocation looked
    deferred: int = 0
    too_big: int = 0
    collected_batches: int = 0
    ok: int = 0
    truncated: int = 0
    failed: int = 0
    requeued: int = 0  # back to pending: expired, cancelled, transient or run-fatal lines
    late: int = 0  # answers for items a sync run had answered meanwhile (first answer kept)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    running: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    stopped: RunStopped | None = None
    elapsed_s: float = 0.0

    @property
    def answered(self) -> int:
        return self.ok + self.truncated

    @property
    def status(self) -> str:
        if self.stopped:
            return "stopped"
        if self.running:
            return "waiting"
        return "failed" if self.failed else "done"

    @property
    def exit_code(self) -> int:
        if self.stopped:
            return self.stopped.exit_code
        return EXIT_SOME_FAILED if self.failed else EXIT_OK

    def totals(self) -> dict[str, object]:
        return {
            "sent": self.submitted_items,
            "skipped": self.skipped,
            "ok": self.ok,
            "truncated": self.truncated,
            "failed": self.failed,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "error": str(self.stopped) if self.stopped else None,
        }


class BatchRun:
    """One invocation of batch mode for one job; see the module docstring."""

    def __init__(
        self,
        job: Job,
        config: Config,
        store: Store,
        client: ChatClient,
        run_id: int,
        *,
        report: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.job, self.config, self.store, self.api = job, config, store, client.api
        self.run_id, self.report = run_id, report
        self.summary = BatchSummary(run_id, job.name, str(config.db_path))
        self.stop_event = asyncio.Event()
        self._files = 0

    def stop(self, reason: RunStopped) -> None:
        """Stop after the step under way (each step is committed before the next begins)."""
        self.summary.stopped = self.summary.stopped or reason
        self.stop_event.set()

    async def run(self) -> BatchSummary:
        started = time.perf_counter()
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
        self.summary.running = [r for r in self.store.open_batches(self.job.name)]
        self.summary.elapsed_s = time.perf_counter() - started
        return self.summary

    # -- 1. reconcile ------------------------------------------------------------------------

    async def reconcile(self) -> None:
        """Settle rows a crash left between upload and batch creation."""
        for row in self.store.open_batches(self.job.name):
            if row["batch_id"]:
                continue
            if row["status"] == "uploading" or not row["input_file_id"]:
                self._give_up(row, UPLOAD_INTERRUPTED.format(filename=row["filename"]))
                continue
            found = await self._find_batch(row["input_file_id"], since=row["created_at"])
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

    async def _find_batch(self, file_id: str, *, since: str) -> openai.types.Batch | None:
        """The batch created from `file_id`, looking back no further than the row's creation."""
        cutoff = datetime.fromisoformat(since).timestamp() - ADOPT_MARGIN_S
        page = await self._call(lambda: self.api.batches.list(limit=100))
        async for batch in page:
            if batch.input_file_id == file_id:
                return batch
            if batch.created_at < cutoff:
                break
        return None

    # -- 2. poll and collect -----------------------------------------------------------------

    async def poll(self) -> None:
        for row in self.store.open_batches(self.job.name):
            if not row["batch_id"] or self.stop_event.is_set():
                continue
            batch_id = str(row["batch_id"])
            batch = await self._call(partial(self.api.batches.retrieve, batch_id))
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
            else:
                self.summary.waiting += row["requests"] or 0

    async def collect(self, row: dict[str, Any], batch: openai.types.Batch) -> None:
        """Write every line of a finished batch's output and error files, then close the row."""
        outcomes: list[Outcome] = []
        for file_id in (row["output_file_id"], row["error_file_id"]):
            if not file_id:
                continue
            content = await self._call(partial(self.api.files.content, file_id))
            for line in content.content.splitlines():
                if not line.strip():
                    continue
                outcome = self._outcome(row, orjson.loads(line))
                if outcome is not None:
                    outcomes.append(outcome)
                if len(outcomes) >= WRITE_EVERY:
                    self._write(outcomes)
                    outcomes = []
        self._write(outcomes)
        if batch.status == "failed":
            errors = (
                "; ".join(e.message or e.code or "" for e in (batch.errors.data or []))
                if (batch.errors)
                else "no reason given"
            )
            self._note(FAILED_BATCH.format(batch_id=batch.id, errors=errors))
        self.store.update_batch(row["id"], {"collected_at": utc_now()})
        self.summary.collected_batches += 1
        self.report(f"collected {batch.id} ({batch.status})")

    def _outcome(self, row: dict[str, Any], line: dict[str, Any]) -> Outcome | None:
        custom_id = str(line.get("custom_id"))
        found = self.store.batch_item(self.job.name, row["input_file_id"], custom_id)
        if found is None:
            self._note(f"{row['batch_id']}: a result for unknown custom_id {custom_id!r} ignored")
            return None
        request_hash, request, attempts_before = found
        item = Item(custom_id, json.loads(request), request_hash, 0)
        if self.store.is_answered(self.job.name, item.id, item.request_hash):
            self.summary.late += 1
            return None
        now = utc_now()
        response, error = line.get("response"), line.get("error")
        if response and response.get("status_code") == 200:
            try:
                reply = _reply_from(response["body"], {})
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                failure = BatchLineError(200, "malformed", f"unparseable response body: {exc}")
                return self._failed_line(item, failure, attempts_before, now)
            status = TRUNCATED if reply.finish_reason == "length" else OK
            return Outcome(
                item,
                status,
                now,
                now,
                attempts=(Attempt(1, now, 0.0, status_code=200),),
                content=reply.content,
                finish_reason=reply.finish_reason,
                usage=reply.usage,
                response_model=reply.model,
            )
        if response:
            body = (response.get("body") or {}).get("error") or {}
            failure = BatchLineError(
                int(response.get("status_code") or 500),
                body.get("code"),
                str(body.get("message") or "no message"),
            )
        else:
            error = error or {}
            code = error.get("code")
            failure = BatchLineError(0, code, str(error.get("message") or code))
        return self._failed_line(item, failure, attempts_before, now)

    def _failed_line(
        self, item: Item, failure: BatchLineError, attempts_before: int, now: str
    ) -> Outcome:
        """The error policy, applied to a line: fail it, or leave it pending for the next run."""
        status = FAILED
        if failure.code in NOT_RUN_CODES:
            status = PENDING
        elif failure.status_code:
            kind = policy.classify_status(failure.status_code, failure.code)
            if kind is policy.ErrorClass.RUN_FATAL:
                self.stop(policy.run_stop_error(failure, str(item.body.get("model"))))
                status = PENDING
            elif (
                kind is policy.ErrorClass.TRANSIENT
                and attempts_before + 1 < self.config.max_attempts
            ):
                status = PENDING
        where = f"{failure.status_code}: " if failure.status_code else ""
        attempt = Attempt(
            1,
            now,
            0.0,
            status_code=failure.status_code or None,
            error_code=failure.error_code,
            error=f"{where}{failure.message}",
        )
        return Outcome(
            item,
            status,
            now,
            now,
            attempts=(attempt,),
            error=f"{where}{failure.message}",
            error_code=failure.error_code,
        )

    def _write(self, outcomes: list[Outcome]) -> None:
        if not outcomes:
            return
        self.store.record_results(self.run_id, self.job.name, BATCH, outcomes)
        for outcome in outcomes:
            if outcome.status == OK:
                self.summary.ok += 1
            elif outcome.status == TRUNCATED:
                self.summary.truncated += 1
            elif outcome.status == FAILED:
                self.summary.failed += 1
            else:
                self.summary.requeued += 1
            if outcome.usage:
                self.summary.prompt_tokens += outcome.usage.prompt_tokens
                self.summary.completion_tokens += outcome.usage.completion_tokens

    # -- 3. submit ---------------------------------------------------------------------------

    async def submit(self) -> None:
        """Split what is left to send into input files and turn each into a batch."""
        splitter = Splitter(self._queue)
        skipped = waiting = 0
        for count, item in enumerate(self.job.items(), 1):
            if count % YIELD_EVERY_ITEMS == 0:
                await asyncio.sleep(0)
            if self.stop_event.is_set():
                return
            state = self.store.submission_state(self.job.name, item.id, item.request_hash)
            if state is not None:
                status, run_id, in_open_batch = state
                if status in ANSWERED:
                    skipped += 1
                    continue
                if in_open_batch:
                    waiting += 1
                    continue
                if run_id == self.run_id:
                    continue  # sent or collected by this invocation: the next one retries
            tokens = prompt_tokens(str(item.body.get("model", "")), item.body["messages"])
            for full in splitter.add(item, tokens):
                await self._submit_file(full)
        for rest in splitter.finish():
            await self._submit_file(rest)
        self.summary.skipped = skipped
        self.summary.deferred, self.summary.too_big = splitter.deferred, splitter.too_big
        if splitter.deferred:
            self._note(DEFERRED.format(count=splitter.deferred), once=True)
        if splitter.too_big:
            self._note(TOO_BIG.format(count=splitter.too_big), once=True)

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
        uploaded = await self._call(
            lambda: self.api.files.create(file=(filename, data), purpose="batch")
        )
        self.store.record_upload(
            row,
            input_file_id=uploaded.id,
            job=self.job.name,
            run_id=self.run_id,
            items=input_file.items,
        )
        batch = await self._create_batch(uploaded.id, filename)
        self.store.record_batch_created(row, batch_id=batch.id, status=batch.status)
        self.summary.submitted_batches += 1
        self.summary.submitted_items += len(input_file.items)
        self.report(
            f"submitted {batch.id}: {len(input_file.items):,} requests for {input_file.model} "
            f"({input_file.size:,} bytes, ~{input_file.tokens:,} prompt tokens)"
        )

    async def _create_batch(self, file_id: str, filename: str) -> openai.types.Batch:
        """Create the batch; after a failed try, first look whether it was created anyway."""
        tries = 0

        async def create() -> openai.types.Batch:
            nonlocal tries
            tries += 1
            if tries > 1:
                found = await self._find_batch(file_id, since=utc_now())
                if found is not None:
                    return found
            return await self.api.batches.create(
                input_file_id=file_id,
                endpoint=ENDPOINT,
                completion_window="24h",
                metadata={"batchbot_job": self.job.name[:512], "batchbot_file": filename},
            )

        return await self._call(create)

    # -- plumbing ----------------------------------------------------------------------------

    async def _call(self, make: Callable[[], Awaitable[T]]) -> T:
        """One API call under the error policy: transient errors retried, run-fatal ones stop."""
        try:
            async for attempt in policy.retrying(max_attempts=self.config.max_attempts):
                with attempt:
                    return await make()
        except Exception as exc:
            if policy.classify_error(exc) is policy.ErrorClass.RUN_FATAL:
                raise policy.run_stop_error(exc, self.config.model or "") from exc
            raise
        raise AssertionError("retrying either returns or raises")

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop_event.wait(), seconds)

    def _note(self, note: str, *, once: bool = False) -> None:
        if once and note in self.summary.notes:
            return
        self.summary.notes.append(note)
        self.report(note)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name)[:64] or "job"


def _progress(rows: list[dict[str, Any]], interval: float) -> str:
    parts = [
        f"{r['batch_id']} {r['status']} {r['completed'] or 0:,}/{r['requests'] or 0:,}"
        + (f" ({r['failed']:,} failed)" if r["failed"] else "")
        for r in rows
    ]
    listed = ", ".join(parts)
    return f"waiting for {len(rows)} batch(es): {listed}; next check in {interval:.3g} s"


async def cancel_open(job: str, store: Store, client: ChatClient) -> list[dict[str, Any]]:
    """Ask the API to cancel every batch of `job` still in progress; the updated rows.

    A cancelled batch is collected by the next run like any other: what it answered is kept,
    the rest goes back to pending.
    """
    cancelled = []
    for row in store.open_batches(job):
        if not row["batch_id"] or row["status"] not in ALIVE - {"cancelling"}:
            continue
        batch = await client.api.batches.cancel(row["batch_id"])
        store.update_batch(row["id"], {"status": batch.status})
        cancelled.append({**row, "status": batch.status})
    return cancelled
