"""run_job(): validate, open the store, start the API (real or fake), dispatch, summarise."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator

from batchbot import modes
from batchbot.answers.cache import ResponseCache
from batchbot.api.client import ChatClient
from batchbot.batch.api import BatchApi
from batchbot.batch.cancel import cancel_open
from batchbot.batch.messages import Cancelled, ended_line
from batchbot.batch.run import BatchRun, feed_failed
from batchbot.config import Config
from batchbot.errors import (
    AZURE_MISSING_KEY,
    EXIT_SOME_FAILED,
    EXIT_STOPPED,
    MISSING_KEY,
    BatchbotError,
    ConfigError,
    Interrupted,
    MissingKeyError,
    RunStopped,
    described,
)
from batchbot.jobs.job import Job
from batchbot.logs import NOTICE
from batchbot.money.pricing import Pricer
from batchbot.run.connect import connect, open_store
from batchbot.run.engine import check_mode, resolve_mode
from batchbot.run.estimate import pricer_for
from batchbot.run.lock import job_lock
from batchbot.run.preflight import Preflight
from batchbot.run.progress import Display, Silent
from batchbot.run.stale import close_crashed
from batchbot.store.cache import SharedCache
from batchbot.store.failures import failure_reasons
from batchbot.store.store import Store
from batchbot.sync.checking import check_job
from batchbot.sync.dispatch import Dispatcher
from batchbot.sync.neighbours import ServerId, sharing_the_key
from batchbot.sync.remember import keep_limits, recall_limits
from batchbot.sync.stats import RunStats
from batchbot.tally import RunSummary

log = logging.getLogger("batchbot")

REFRESH_EVERY_S = 0.25
INTERRUPTED = "Interrupted: what was answered is saved; run the same command again to resume."
BATCH_INTERRUPTED = (
    "Interrupted: what was collected is saved and submitted batches keep running at OpenAI; "
    "run the same command again to collect them."
)
BY_A_LATER_RUN = "a later run of the job"
FAKE_BATCH_INTERRUPTED = (
    "Interrupted: what was collected is saved; the simulated API's batches end with this run: "
    "run the same command again to send what they held (or close them with `batchbot cancel "
    "--fake`)."
)
OPEN_BATCHES = (
    "{job} has {count} Batch API batch(es) not collected yet, holding items a synchronous run "
    "would send a second time: collect them with --mode batch (add --wait to wait for them), "
    "or cancel them with `batchbot cancel`, then run it synchronously."
)


# -- entry points ---------------------------------------------------------------------------

Report = Callable[[str], None]


def run_job(
    job: Job,
    config: Config,
    *,
    display: Display | None = None,
    report: Report | None = None,
    handle_signals: bool = True,
) -> RunSummary:
    """Run every unanswered item of `job`; blocking. Raises InputError before sending.

    In batch mode this is one submit/poll/collect step (all of them with `config.wait`);
    `report` gets its progress lines. Holds the job's lock for the whole run (JobLocked if
    another run has it), taken before the event loop starts so a long --wait-lock still
    answers Ctrl-C at once.
    """
    _check_key(config)
    with job_lock(config.db_path, job.name, wait=config.wait_lock):
        run = run_job_async(
            job, config, display=display, report=report, handle_signals=handle_signals
        )
        return asyncio.run(run)


def _check_key(config: Config) -> None:
    if config.needs_key and not config.api_key:
        raise MissingKeyError(AZURE_MISSING_KEY if config.azure else MISSING_KEY)


async def run_job_async(
    job: Job,
    config: Config,
    *,
    display: Display | None = None,
    report: Report | None = None,
    handle_signals: bool = True,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> RunSummary:
    """`run_job` inside a running event loop (and without the job's lock: take it first).

    `sleep` waits out every pause the run makes on its own: backoffs, the writer's, and
    Batch mode's polls; tests pass one that records them instead.
    """
    _check_key(config)
    display = display or Silent()
    pricer = pricer_for(job, config)
    preflight = Preflight(job, config, pricer)
    total, check = check_job(
        job,
        sending=config.mode == modes.SYNC,
        checked=lambda count: display.checking(job.name, count),
        check=preflight.check,
    )
    store = open_store(config)
    try:
        close_crashed(store, job.name)
        await _close_ended(job, store)
        choice = resolve_mode(job, config)
        config = dataclasses.replace(config, mode=choice.mode)  # what auto chose, from here on
        check_mode(job, config, pricer)
        async with connect(config, job.endpoint) as client:
            await preflight.check_models(client, config)
            if choice.mode == modes.BATCH:
                return await _run_batches(
                    job,
                    config,
                    store,
                    client,
                    total,
                    report,
                    pricer,
                    handle_signals=handle_signals,
                    sleep=sleep,
                )
            open_batches = store.batches.open(job.name)
            if open_batches:
                raise ConfigError(OPEN_BATCHES.format(job=job.name, count=len(open_batches)))
            run_id = store.start_run(
                job=job.name,
                job_path=str(job.path),
                mode=config.mode,
                settings=config.settings(),
                endpoint=job.endpoint,
            )
            stats = RunStats(job=job.name, total=total)
            cache = response_cache(config, store, job, run_id)
            run = Dispatcher(job, config, store, client, run_id, stats, pricer, cache, sleep=sleep)
            run.check = check
            server = ServerId.of(client.api.api_key, str(client.api.base_url), config.model or "")
            if not config.fake:
                recall_limits(run.limiter, store, server)
            log.info(
                "run %d of job %s started: %d items",
                run_id,
                job.name,
                total,
                extra={"run_id": run_id, "job": job.name, "items": total},
            )
            with (
                _ends_its_row(store, run_id),
                _signals_stop(run.stop, enabled=handle_signals),
                _collector_frozen(),
                contextlib.closing(cache),
            ):
                async with sharing_the_key(run.limiter, server, job.name):
                    summary = await _execute(run, display)
                if not config.fake:
                    keep_limits(run.limiter, store, server)
                summary = _finish(store, summary)
            if summary.stopped:
                log.info("run %d stopped: %s", run_id, summary.stopped, extra={"run_id": run_id})
            return summary
    finally:
        store.close()
        if check is not None:
            check.stop()


def response_cache(config: Config, store: Store, job: Job, run_id: int) -> ResponseCache:
    """Where the run looks answers up: its database, and the shared cache file if given."""
    shared = SharedCache(config.cache_path) if config.cache_path is not None else None
    return ResponseCache(
        store,
        endpoint=job.endpoint,
        policy=config.cache,
        shared=shared,
        job=job.name,
        run_id=run_id,
    )


async def _run_batches(
    job: Job,
    config: Config,
    store: Store,
    client: ChatClient,
    total: int,
    report: Report | None,
    pricer: Pricer,
    *,
    handle_signals: bool,
    sleep: Callable[[float], Awaitable[None]],
) -> RunSummary:
    run_id = store.start_run(
        job=job.name,
        job_path=str(job.path),
        mode=modes.BATCH,
        settings=config.settings(),
        endpoint=job.endpoint,
    )
    report = report or (lambda line: None)
    cache = response_cache(config, store, job, run_id)
    run = BatchRun(
        job, config, store, client, run_id, pricer, total, cache, report=report, sleep=sleep
    )
    message = FAKE_BATCH_INTERRUPTED if config.fake else BATCH_INTERRUPTED
    with (
        _ends_its_row(store, run_id),
        _signals_stop(run.stop, enabled=handle_signals, message=message),
        contextlib.closing(cache),
    ):
        return _finish(store, await run.run())


async def _close_ended(job: Job, store: Store) -> None:
    """Close, as `cancel --fake` does, the batches earlier --fake runs left open: their
    simulated API ended with them, so no server - the real API least of all - knows them,
    and their items are free again."""
    ended = (await cancel_open(job.name, store, None, closed_by=BY_A_LATER_RUN)).ended
    if ended:
        log.info("%s", ended_line(job.name, ended, sender="this run"), extra={NOTICE: True})


def _finish(store: Store, summary: RunSummary) -> RunSummary:
    """Record how the run ended, and say why its failed items failed."""
    if summary.failed:
        reasons = failure_reasons(store.db, run_id=summary.run_id)
        summary = dataclasses.replace(summary, failures=tuple(reasons))
    store.finish_run(summary.run_id, status=summary.status, totals=summary.totals())
    return summary


@contextlib.contextmanager
def _ends_its_row(store: Store, run_id: int) -> Iterator[None]:
    """A run ended by an error of batchbot's own (a bug, say) still ends its row - with that
    error and the exit code the command gives it - rather than stay "running" for ever."""
    try:
        yield
    except BaseException as exc:
        status, code = "stopped", EXIT_SOME_FAILED
        if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
            status, code = "interrupted", EXIT_STOPPED
        elif isinstance(exc, BatchbotError):
            code = exc.exit_code
        totals = {"error": described(exc), "exit_code": code}
        with contextlib.suppress(Exception):  # the database may be what failed
            store.finish_run(run_id, status=status, totals=totals)
        raise


def cancel_batches(job: Job, config: Config) -> Cancelled:
    """Cancel the job's batches still in progress (see `cancel_open`).

    With --fake there is no server to ask: the batches of --fake runs ended with them and are
    closed here, under the job's lock, so never those of a --fake run still going.
    """
    if config.fake:
        with job_lock(config.db_path, job.name):
            store = open_store(config)
            try:
                return asyncio.run(cancel_open(job.name, store, None))
            finally:
                store.close()
    if config.needs_key and not config.api_key:
        raise MissingKeyError()

    async def cancel() -> Cancelled:
        store = open_store(config)
        try:
            async with connect(config) as client:
                api = BatchApi(client.api, max_attempts=config.max_attempts, wait=config.retry_wait)
                return await cancel_open(job.name, store, api)
        finally:
            store.close()

    return asyncio.run(cancel())


async def _execute(run: Dispatcher, display: Display) -> RunSummary:
    display.start(run.stats)
    ticker = asyncio.create_task(_tick(run, display))
    try:
        await _feed(run)
        await run.finish_in_flight()
        await run.writer.close()
    finally:
        ticker.cancel()
        display.stop(_current(run))
    stats = run.stats
    return stats.summary(
        run_id=run.run_id,
        job=run.job.name,
        mode=run.config.mode,
        db_path=str(run.config.db_path),
        total=stats.total,
        skipped=stats.skipped,
        sent=stats.done,
        elapsed_s=stats.elapsed,
        unpriced_models=tuple(sorted(run.pricer.unknown)),
        stopped=run.stopped,
    )


async def _feed(run: Dispatcher) -> None:
    """Feed the run every item. Reading them failing stops it as any stop does (FeedFailed):
    what is in flight finishes and is written, the rest stays pending, the traceback is logged."""
    try:
        await run.feed(run.job.items())
    except Exception as exc:
        run.stop(feed_failed(run.job.name, run.run_id, exc, checking=run.check is not None))


async def _tick(run: Dispatcher, display: Display) -> None:
    while True:
        await asyncio.sleep(REFRESH_EVERY_S)
        display.refresh(_current(run))


def _current(run: Dispatcher) -> RunStats:
    """The run's counters with the limits in force now (the server may have changed them)."""
    stats = run.stats
    stats.rpm_limit, stats.tpm_limit = run.limiter.rpm, run.limiter.tpm
    if run.check is not None and run.check.total is not None:
        stats.total = run.check.total  # a large job's count, once it is checked whole
    if run.budget.enabled:
        stats.budget_left = run.budget.room + run.budget.reserved
    return stats


@contextlib.contextmanager
def _collector_frozen() -> Iterator[None]:
    """Keep what exists before sending (modules, the SDK's models) out of the collector's view.

    It lives for the whole run anyway; walking it in every full collection stalled the event
    loop for 50-90 ms each time.
    """
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


@contextlib.contextmanager
def _signals_stop(
    stop: Callable[[RunStopped], None], *, enabled: bool, message: str = INTERRUPTED
) -> Iterator[None]:
    """SIGINT/SIGTERM stop the run gracefully; a second one stops it now."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop, Interrupted(message))
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
