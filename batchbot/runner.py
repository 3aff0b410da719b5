"""run_job(): validate, open the store, start the API (real or fake), dispatch, summarise."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sqlite3
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from batchbot.client import ChatClient
from batchbot.config import Config
from batchbot.dispatch import MODE, Dispatcher
from batchbot.errors import ConfigError, Interrupted, MissingKeyError, RunStopped
from batchbot.jobs import Job
from batchbot.lock import job_lock, opening
from batchbot.progress import Display, RunStats, Silent
from batchbot.store import Store

log = logging.getLogger("batchbot")

REFRESH_EVERY_S = 0.25
NOT_A_DATABASE = (
    "{path} cannot be used as the database ({error}): point --db or BATCHBOT_DB at "
    "another file, or move this one aside; nothing was sent."
)
INTERRUPTED = "Interrupted: what was answered is saved; run the same command again to resume."


@dataclass(frozen=True, slots=True)
class RunSummary:
    run_id: int
    job: str
    total: int
    skipped: int
    ok: int
    truncated: int
    failed: int
    prompt_tokens: int
    completion_tokens: int
    elapsed_s: float
    db_path: str
    stopped: RunStopped | None = None

    @property
    def answered(self) -> int:
        return self.ok + self.truncated

    @property
    def unsent(self) -> int:
        return self.total - self.skipped - self.answered - self.failed

    @property
    def status(self) -> str:
        if isinstance(self.stopped, Interrupted):
            return "interrupted"
        if self.stopped:
            return "stopped"
        return "failed" if self.failed else "done"


# -- entry points ---------------------------------------------------------------------------

FAKE_KEY = "sk-fake-batchbot"


def run_job(job: Job, config: Config, *, display: Display | None = None) -> RunSummary:
    """Run every unanswered item of `job`; blocking. Raises InputError before sending.

    Holds the job's lock for the whole run (JobLocked if another run has it), taken before
    the event loop starts so a long --wait-lock still answers Ctrl-C at once.
    """
    _check_key(config)
    with job_lock(config.db_path, job.name, wait=config.wait_lock):
        return asyncio.run(run_job_async(job, config, display=display))


def _check_key(config: Config) -> None:
    if not config.fake and not config.api_key:
        raise MissingKeyError()


async def run_job_async(
    job: Job, config: Config, *, display: Display | None = None, handle_signals: bool = True
) -> RunSummary:
    _check_key(config)
    total = job.validate()
    display = display or Silent()
    store = _open_store(config)
    try:
        async with _api(config) as client:
            run_id = store.start_run(
                job=job.name, job_path=str(job.path), mode=MODE, settings=config.settings()
            )
            run = Dispatcher(
                job, config, store, client, run_id, RunStats(job=job.name, total=total)
            )
            log.info(
                "run %d of job %s started: %d items",
                run_id,
                job.name,
                total,
                extra={"run_id": run_id, "job": job.name, "items": total},
            )
            with _signals_stop(run, enabled=handle_signals):
                summary = await _execute(run, display)
            store.finish_run(run_id, status=summary.status, totals=_totals(summary))
            if summary.stopped:
                log.info("run %d stopped: %s", run_id, summary.stopped, extra={"run_id": run_id})
            return summary
    finally:
        store.close()


def _open_store(config: Config) -> Store:
    """The run's store; a file that is not a usable database is a plain input error."""
    try:
        with opening(config.db_path):
            return Store.open(config.db_path)
    except sqlite3.DatabaseError as exc:
        raise ConfigError(NOT_A_DATABASE.format(path=config.db_path, error=exc)) from None


async def _execute(run: Dispatcher, display: Display) -> RunSummary:
    display.start(run.stats)
    ticker = asyncio.create_task(_tick(run, display))
    try:
        await run.feed(run.job.items())
        await run.finish_in_flight()
        await run.writer.close()
    finally:
        ticker.cancel()
        display.stop(run.stats)
    stats = run.stats
    return RunSummary(
        run_id=run.run_id,
        job=run.job.name,
        total=stats.total,
        skipped=stats.skipped,
        ok=stats.ok,
        truncated=stats.truncated,
        failed=stats.failed,
        prompt_tokens=stats.prompt_tokens,
        completion_tokens=stats.completion_tokens,
        elapsed_s=stats.elapsed,
        db_path=str(run.config.db_path),
        stopped=run.stopped,
    )


async def _tick(run: Dispatcher, display: Display) -> None:
    while True:
        await asyncio.sleep(REFRESH_EVERY_S)
        display.refresh(run.stats)


def _totals(summary: RunSummary) -> dict[str, object]:
    return {
        "items": summary.total,
        "skipped": summary.skipped,
        "sent": summary.answered + summary.failed,
        "ok": summary.ok,
        "truncated": summary.truncated,
        "failed": summary.failed,
        "prompt_tokens": summary.prompt_tokens,
        "completion_tokens": summary.completion_tokens,
        "error": str(summary.stopped) if summary.stopped else None,
    }


@contextlib.asynccontextmanager
async def _api(config: Config) -> AsyncIterator[ChatClient]:
    """A client for the real API, or for the built-in fake one started for this run."""
    server = None
    base_url, api_key = config.base_url, config.api_key
    if config.fake:
        from batchbot.fake_server import FakeServer

        server = FakeServer(
            rpm=_int(config.rpm), tpm=_int(config.tpm), latency_ms=config.fake_latency_ms
        )
        await server.start()
        base_url, api_key = server.url, FAKE_KEY
    client = ChatClient(api_key=api_key or "", base_url=base_url, timeout=config.timeout_s)
    try:
        yield client
    finally:
        await client.close()
        if server:
            await server.close()


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)


@contextlib.contextmanager
def _signals_stop(run: Dispatcher, *, enabled: bool) -> Iterator[None]:
    """SIGINT/SIGTERM stop the run gracefully; a second one stops it now."""
    if not enabled:
        yield
        return
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, run.stop, Interrupted(INTERRUPTED))
    try:
        yield
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
