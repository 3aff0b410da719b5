"""batchbot from Python: load a job, run it, read what it cost. `batchbot` re-exports these.

Settings resolve as on the command line: the job file's first, then the environment's
(OPENAI_API_KEY, OPENAI_BASE_URL, BATCHBOT_DB, BATCHBOT_PRICES), then the keyword arguments,
which are `batchbot run`'s options by their Python names (`db_path`, `fake`, `model`, `rpm`,
`tpm`, `max_cost_usd`, `mode`, `wait`, ...). Nothing is printed: warnings go to the
`batchbot` logger.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from batchbot.config import DEFAULT_DB, Config, Flags, resolve_config
from batchbot.jobs.job import Job, load_job
from batchbot.run import runner
from batchbot.run.lock import job_lock
from batchbot.store.read import open_reader
from batchbot.summary import RunSummary

BOTH = "give the settings either as config= or as keyword arguments, not both"


def run_job(job: Job | str | Path, *, config: Config | None = None, **flags: Any) -> RunSummary:
    """Send every unanswered item of `job` (a Job or a job file) and say what the run did.

    Blocks until the run ends. Raises an InputError (a bad job or setting, no key) before
    anything is sent, and JobLocked while another run of the job is going. A run that stopped
    early (the API, a budget, a dead worker, unreadable items, a signal: see RunStopped)
    returns, with `stopped` set; `exit_code` is what the CLI would exit with.
    """
    job, config = _prepare(job, config, flags)
    # Signal handlers can only be set from the main thread (not, say, an Airflow worker's).
    main_thread = threading.current_thread() is threading.main_thread()
    return runner.run_job(job, config, handle_signals=main_thread)


async def run_job_async(
    job: Job | str | Path, *, config: Config | None = None, **flags: Any
) -> RunSummary:
    """`run_job` for code already in an event loop (a notebook cell, an async service)."""
    job, config = _prepare(job, config, flags)
    with job_lock(config.db_path, job.name, wait=config.wait_lock):
        return await runner.run_job_async(job, config, handle_signals=False)


def open_store(path: str | Path = DEFAULT_DB) -> sqlite3.Connection:
    """The database at `path`, migrated, as a plain sqlite3 connection to read from.

    Pass it to `spend_report`, or run your own SQL on the `runs`, `requests` and `attempts`
    tables; close it when done.
    """
    return open_reader(path)


def _prepare(
    job: Job | str | Path, config: Config | None, flags: dict[str, Any]
) -> tuple[Job, Config]:
    if not isinstance(job, Job):
        job = load_job(Path(job), model=flags.get("model"))
    if config is None:
        config = resolve_config(job, Flags(**flags), os.environ)
    elif flags:
        raise TypeError(BOTH)
    return job, config
