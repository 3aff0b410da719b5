"""The command line: parse options, build one Config, call the library, render the result.

This is the only module that imports click, and the only place exit codes are decided.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from batchbot import __version__
from batchbot.errors import EXIT_OK, EXIT_SOME_FAILED, BatchbotError, redact_secrets

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
F = TypeVar("F", bound=Callable[..., Any])

UNEXPECTED = (
    "unexpected error: {error}. Answers already received are saved; "
    "set BATCHBOT_RAISE_ERRORS=1 to see the traceback and please report it."
)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="batchbot")
def cli() -> None:
    """Run many prompts through the OpenAI Chat Completions API, at the rate limit, within
    budget and resumable, with every answer and token count kept in SQLite.

    \b
    Try it with no key:   batchbot run jobs/faq.yaml --fake
    Exit codes: 0 all answered, 1 some items failed, 2 bad input or usage, 3 run stopped.
    """


def limit_options(func: F) -> F:
    """--tier, --rpm, --tpm, --concurrency: shared by every command that sends."""
    for option in reversed(
        [
            click.option("--tier", help="Rate-limit preset (see tiers.yaml); default tier-1."),
            click.option(
                "--rpm",
                type=click.FloatRange(min=0, min_open=True),
                help="Requests per minute (overrides the tier).",
            ),
            click.option(
                "--tpm",
                type=click.FloatRange(min=0, min_open=True),
                help="Tokens per minute (overrides the tier).",
            ),
            click.option(
                "--concurrency", type=click.IntRange(min=1), help="Most requests in flight at once."
            ),
        ]
    ):
        func = option(func)
    return func


@cli.command(name="run")
@click.argument("job_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--fake", is_flag=True, help="Use the built-in simulated OpenAI API (no key, no cost)."
)
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    help="Any OpenAI-compatible API, e.g. http://localhost:8000/v1.",
)
@click.option(
    "--db",
    "db_path",
    envvar="BATCHBOT_DB",
    type=click.Path(dir_okay=False),
    help="SQLite database for results  [default: batchbot.db]",
)
@click.option("--model", help="Model for every item (overrides the job file).")
@limit_options
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds before one request is abandoned and retried  [default: 120]",
)
@click.option(
    "--max-attempts",
    type=click.IntRange(min=1),
    help="HTTP attempts per item for transient errors  [default: 6]",
)
@click.option(
    "--grace",
    "grace_s",
    type=click.FloatRange(min=0),
    help="Seconds in-flight requests may take to finish after Ctrl-C  [default: 30]",
)
@click.option(
    "--dry-run", is_flag=True, help="Check the job, estimate tokens and time; send nothing."
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success; one line per problem.")
@click.option("-v", "--verbose", is_flag=True, help="Log every failed attempt to stderr.")
def run_command(
    job_file: Path,
    *,
    fake: bool,
    dry_run: bool,
    base_url: str | None,
    db_path: str | None,
    model: str | None,
    quiet: bool,
    verbose: bool,
    **limits: Any,
) -> None:
    """Send every unanswered prompt of JOB_FILE (.yaml or .jsonl) and store the answers.

    Running the same job again sends only what is not answered yet: an interrupted run resumes,
    and a changed prompt is a new request.
    """
    from batchbot.config import Flags, resolve_config
    from batchbot.jobs import load_job
    from batchbot.progress import make_display
    from batchbot.runner import run_job

    _setup_logging(verbose)
    with _friendly_errors():
        job = load_job(job_file, model=model)
        flags = Flags(db_path=db_path, base_url=base_url, fake=fake, model=model, **limits)
        config = resolve_config(job, flags, _environment())
        if dry_run:
            _report_estimate(job, config)
            return
        summary = run_job(job, config, display=make_display(quiet=quiet))
    _report_summary(summary, quiet=quiet)


def _report_estimate(job: Any, config: Any) -> None:
    from batchbot.estimate import estimate_job

    estimate = estimate_job(job, config)
    limits = f"{_number(estimate.rpm)} RPM / {_number(estimate.tpm)} TPM"
    click.echo(
        f"{estimate.job}: {estimate.items:,} items, "
        f"{estimate.already_answered:,} already answered, {estimate.to_send:,} to send\n"
        f"  prompt tokens:        {estimate.prompt_tokens:,}\n"
        f"  completion allowance: {estimate.completion_allowance:,} (max_tokens x n; the most "
        f"answers may use)\n"
        f"  time at {limits}: about {_duration(estimate.minutes)}\n"
        "Nothing was sent (dry run)."
    )


def _number(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:,.0f}"


def _duration(minutes: float) -> str:
    seconds = minutes * 60
    if seconds < 90:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def _report_summary(summary: Any, *, quiet: bool) -> None:
    from batchbot.summary import exit_code, summary_line

    code = exit_code(summary)
    if summary.stopped:
        click.echo(f"batchbot: {summary.stopped}", err=True)
    if not quiet or code != EXIT_OK:
        click.echo(summary_line(summary), err=code != EXIT_OK and quiet)
    sys.exit(code)


LIMITS_NOTE = (
    "Presets are only where a run starts: the limits the server reports in its x-ratelimit-*\n"
    "headers win, and batchbot says so once when they differ. (default): the family does not\n"
    "list that tier, so the default family's figures apply. Your own limits:\n"
    "https://platform.openai.com/settings/organization/limits"
)


@cli.command(name="limits")
@click.option("--model", help="Only this model's family (snapshots and fine-tunes included).")
@click.option("--tier", help="Only this tier.")
def limits_command(model: str | None, tier: str | None) -> None:
    """Print the rate-limit presets: requests and tokens per minute by tier and model family.

    The figures come from tiers.yaml (OpenAI's usage tiers and the tutorial's tiers); pick
    one with --tier or the job's tier:, or set your own with --rpm/--tpm or limits:.
    """
    from batchbot.tiers import preset_rows

    with _friendly_errors():
        rows = preset_rows(model, tier)
    header = ("family", "tier", "RPM", "TPM", "batch queue")
    lines = [header] + [
        (
            row.family + (" (default)" if row.inherited else ""),
            row.tier,
            f"{row.limits.rpm:,}",
            f"{row.limits.tpm:,}",
            f"{row.limits.batch_queue_tokens:,}" if row.limits.batch_queue_tokens else "-",
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for line in lines:
        cells = [
            cell.ljust(width) if i < 2 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        click.echo("  ".join(cells).rstrip())
    click.echo(f"\n{LIMITS_NOTE}")


@cli.command(name="fake-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535))
@click.option("--rpm", type=click.IntRange(min=1), help="Requests per minute before 429s.")
@click.option("--tpm", type=click.IntRange(min=1), help="Tokens per minute before 429s.")
@click.option("--latency-ms", default=0.0, show_default=True, type=click.FloatRange(min=0))
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of requests answered with a transient fault (500/502/503/reset/bad body).",
)
def fake_server_command(
    host: str, port: int, rpm: int | None, tpm: int | None, latency_ms: float, fail_rate: float
) -> None:
    """Serve the simulated OpenAI API until Ctrl-C (for trying clients and for benchmarks)."""
    from batchbot.fake_server import serve

    click.echo(
        f"fake OpenAI API on http://{host}:{port}/v1 (any key works); Ctrl-C stops it", err=True
    )
    serve(host=host, port=port, rpm=rpm, tpm=tpm, latency_ms=latency_ms, fail_rate=fail_rate)


def _environment() -> dict[str, str]:
    """The process environment over ./.env: a variable set in the shell wins."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    return {**values, **os.environ}


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        format="batchbot: %(message)s",
        stream=sys.stderr,
        level=logging.DEBUG if verbose else logging.WARNING,
    )
    # The HTTP libraries log request lines (never our key) at DEBUG; keep their noise out.
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "aiohttp"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextlib.contextmanager
def _friendly_errors() -> Iterator[None]:
    """Our own errors become one line and their exit code; anything else one line and exit 1."""
    try:
        yield
    except BatchbotError as exc:
        _fail(str(exc), exc.exit_code)
    except Exception as exc:
        if os.environ.get("BATCHBOT_RAISE_ERRORS"):
            raise
        _fail(
            UNEXPECTED.format(error=redact_secrets(f"{type(exc).__name__}: {exc}")),
            EXIT_SOME_FAILED,
        )


def _fail(message: str, exit_code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(exit_code)
