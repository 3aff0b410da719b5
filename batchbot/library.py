"""batchbot from Python: load a job, run it, read its answers and what they cost. `batchbot`
re-exports these.

Settings resolve as on the command line: the job file's first, then the environment's
(OPENAI_API_KEY, OPENAI_BASE_URL, BATCHBOT_DB, BATCHBOT_PRICES; a `.env` file in the working
directory too, under the process's own variables), then the keyword arguments, which are
`batchbot run`'s options by their Python names (`db_path`, `fake`, `model`, `rpm`, `tpm`,
`max_cost_usd`, `mode`, `wait`, ...). Nothing is printed: warnings go to the `batchbot` logger.
An error is one line saying what to do, in these words: `fake=True`, not `--fake`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from batchbot.batch.messages import Cancelled
from batchbot.config import DEFAULT_DB, Config, Flags, resolve_config
from batchbot.environment import environment
from batchbot.errors import BatchbotError, MissingKeyError
from batchbot.jobs.job import JSONL_SUFFIXES, YAML_SUFFIXES, Job, load_job
from batchbot.modes import ModeChoice
from batchbot.reports.export import answer_rows, check_unchanged, current_job
from batchbot.run import runner
from batchbot.run.engine import resolve_mode
from batchbot.run.estimate import Estimate, estimate_job
from batchbot.run.lock import job_lock
from batchbot.run.progress import Display
from batchbot.store.read import open_reader, reading
from batchbot.tally import RunSummary

JOBS = YAML_SUFFIXES + JSONL_SUFFIXES  # what names a job file rather than a job
BOTH = "give the settings either as config= or as keyword arguments, not both"
LOADED = "allow_params is read with the job file: pass it to load_job(path, allow_params=...)"
MISSING_KEY = (
    "No OpenAI API key: set OPENAI_API_KEY in the environment or in .env in the working "
    "directory, or pass fake=True to try the job against the simulated API."
)
AZURE_MISSING_KEY = (
    "No Azure OpenAI API key: set AZURE_OPENAI_API_KEY in the environment or in .env in the "
    "working directory, or pass fake=True to try the job against the simulated API."
)
# The command line's flags that errors name, as the keyword arguments of this module.
KEYWORDS = {
    "--fake": "fake=True",
    "--model": "model=",
    "--allow-param": "allow_params=",
    "--max-cost": "max_cost_usd=",
    "--max-cost-per-day": "max_cost_per_day_usd=",
    "--max-tokens-cap": "max_tokens_cap=",
    "--on-invalid": "on_invalid=",
    "--on-length": "on_length=",
    "--base-url": "base_url=",
    "--azure-endpoint": "azure_endpoint=",
    "--db": "db_path=",
    "--prices": "prices_file=",
    "--mode": "mode=",
    "--wait-lock": "wait_lock=True",
    "--outage-wait": "outage_wait_s=",
    "--latest": "latest=True",
}
FLAG = re.compile(r"--[a-z][a-z-]*")


def in_python_words(error: BatchbotError) -> BatchbotError:
    """`error` with the flags its message names put as this module's keyword arguments."""
    text = FLAG.sub(lambda flag: KEYWORDS.get(flag[0], flag[0]), str(error))
    error.args = (text,)
    return error


def run_job(
    job: Job | str | Path,
    *,
    config: Config | None = None,
    display: Display | None = None,
    report: Callable[[str], None] | None = None,
    command_line: bool = False,
    **flags: Any,
) -> RunSummary:
    """Send every unanswered item of `job` (a Job or a job file) and say what the run did.

    Blocks until the run ends. Raises an InputError (a bad job or setting, no key) before
    anything is sent, and JobLocked while another run of the job is going. A run that stopped
    early (the API, a budget, a dead worker, unreadable items, a signal: see RunStopped)
    returns, with `stopped` set; `exit_code` is what the CLI would exit with.

    For a front end of its own (the CLI is one): `display` shows the run's progress as it
    goes (batchbot.run.progress), `report` gets Batch mode's progress lines, and
    `command_line=True` keeps errors in the words of `batchbot run`'s flags (`--fake`).
    """
    try:
        job, config = _prepare(job, config, flags, check_key=not command_line)
        # Signal handlers can only be set from the main thread (not, say, an Airflow worker's).
        main_thread = threading.current_thread() is threading.main_thread()
        summary = runner.run_job(
            job, config, display=display, report=report, handle_signals=main_thread
        )
        return summary if command_line else _worded(summary)
    except BatchbotError as error:
        if not command_line:
            in_python_words(error)
        raise


async def run_job_async(
    job: Job | str | Path, *, config: Config | None = None, **flags: Any
) -> RunSummary:
    """`run_job` for code already in an event loop (a notebook cell, an async service)."""
    try:
        job, config = _prepare(job, config, flags)
        with job_lock(config.db_path, job.name, wait=config.wait_lock):
            return _worded(await runner.run_job_async(job, config, handle_signals=False))
    except BatchbotError as error:
        in_python_words(error)
        raise


@dataclass(frozen=True)
class DryRun:
    """What a run would do, with nothing sent: its estimate and the engine it would use."""

    estimate: Estimate
    mode: ModeChoice


def dry_run(
    job: Job | str | Path, *, config: Config | None = None, command_line: bool = False, **flags: Any
) -> DryRun:
    """Count, price and time the items of `job` still to answer (`batchbot run --dry-run`)."""
    try:
        job, config = _prepare(job, config, flags, check_key=False)
        estimate = estimate_job(job, config)
        return DryRun(estimate, resolve_mode(job, config, estimate))
    except BatchbotError as error:
        if not command_line:
            in_python_words(error)
        raise


def cancel_batches(
    job: Job | str | Path, *, config: Config | None = None, command_line: bool = False, **flags: Any
) -> Cancelled:
    """Cancel the job's batches still in progress (`batchbot cancel`); the next run collects
    them, keeping the answers they have."""
    try:
        job, config = _prepare(job, config, flags, check_key=not command_line)
        return runner.cancel_batches(job, config)
    except BatchbotError as error:
        if not command_line:
            in_python_words(error)
        raise


def _worded(summary: RunSummary) -> RunSummary:
    """The summary, its stop (if any) in this module's words."""
    if summary.stopped is not None:
        in_python_words(summary.stopped)
    return summary


def open_store(path: str | Path = DEFAULT_DB) -> sqlite3.Connection:
    """The database at `path`, migrated, as a plain sqlite3 connection to read from.

    Pass it to `spend_report`, or run your own SQL on the `runs`, `requests` and `attempts`
    tables; close it when done.
    """
    return open_reader(path)


@dataclass(frozen=True, slots=True)
class Answer:
    """One item's answer, as `read_answers` gives it.

    `parsed` is the structured answer once it validated: an instance of the job's Pydantic
    model when its `schema:` names one, else plain JSON values (a dict, mostly); None when the
    answer is not structured, or invalid (`validation_error` says why) or refused (`refusal`).
    """

    id: str
    status: str  # ok, truncated, invalid or refused
    answer: str | None  # the text, or a tool call's arguments when there is none
    parsed: Any
    prompt: str
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    refusal: str | None = None
    validation_error: str | None = None
    reasks: int = 0
    cost_usd: float | None = None
    choices: list[dict[str, Any]] = field(default_factory=list)  # every choice of `n` > 1
    metadata: Any = None  # the item's own metadata, as its JSONL line gave it


def read_answers(
    job: Job | str | Path, *, db_path: str | Path = DEFAULT_DB, latest: bool = False
) -> Iterator[Answer]:
    """The answer to each item of `job` (a Job, a job file, or a job's name) as it is now, as
    `batchbot export` writes them: one per item that has one, in the job's order.

    Raises JobChanged (an InputError) when the job file changed since its items were answered;
    `latest=True` gives the newest answer of each item as it was asked instead.
    """
    if not isinstance(job, Job) and (Path(job).is_file() or Path(job).suffix in JOBS):
        job = load_job(Path(job))
    with reading(db_path) as db:
        target = current_job(db, job if isinstance(job, Job) else str(job)) or str(job)
        schema = target.settings.schema if isinstance(target, Job) else None
        model = schema.model if schema else None
        if isinstance(target, Job) and latest:
            target = target.name
        elif isinstance(target, Job):
            check_unchanged(db, target, latest="pass latest=True")
        for row in answer_rows(db, target):
            yield _answer(row, model)


def _answer(row: dict[str, Any], model: Any) -> Answer:
    parsed = json.loads(row["parsed"]) if row["parsed"] else None
    if model is not None and parsed is not None:
        parsed = model.model_validate(parsed)
    return Answer(
        id=row["id"],
        status=row["status"],
        answer=row["answer"],
        parsed=parsed,
        prompt=row["prompt"],
        finish_reason=row["finish_reason"],
        tool_calls=json.loads(row["tool_calls"] or "[]"),
        refusal=row["refusal"],
        validation_error=row["validation_error"],
        reasks=row["reasks"] or 0,
        cost_usd=row["cost_usd"],
        choices=row.get("choices", []),
        metadata=json.loads(row["metadata"]) if row["metadata"] else None,
    )


def _prepare(
    job: Job | str | Path, config: Config | None, flags: dict[str, Any], *, check_key: bool = True
) -> tuple[Job, Config]:
    """The job and its settings; `check_key`: raise this module's MissingKeyError (else the
    run raises the command line's)."""
    allow_params = flags.pop("allow_params", ())
    if not isinstance(job, Job):
        job = load_job(Path(job), model=flags.get("model"), allow_params=allow_params)
    elif allow_params:
        raise TypeError(LOADED)
    if config is None:
        config = resolve_config(job, Flags(**flags), environment())
    elif flags:
        raise TypeError(BOTH)
    if check_key and config.needs_key and not config.api_key:
        raise MissingKeyError(AZURE_MISSING_KEY if config.azure else MISSING_KEY)
    return job, config
