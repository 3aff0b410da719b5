"""`batchbot run`: options -> Config -> run_job (or the dry-run estimate) -> closing lines."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from batchbot import modes
from batchbot.cli.common import (
    cli,
    echo,
    friendly_errors,
    limit_options,
    log,
    log_options,
    setting,
    start_logging,
)
from batchbot.errors import EXIT_OK
from batchbot.inert import inert_json

if TYPE_CHECKING:  # imported when a command runs: `batchbot --help` loads none of this
    from batchbot.config import Config
    from batchbot.library import DryRun
    from batchbot.run.estimate import Estimate
    from batchbot.tally import RunSummary

REASKS_NOT_COUNTED = (
    "re-asks (on_invalid, on_length) are not in these figures: each costs about what its item "
    "does, a longer answer's up to its larger max_tokens; a budget holds them too"
)


@cli.command(name="run")
@click.argument("job_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--fake", is_flag=True, help="Use the built-in simulated OpenAI API (no key, no cost)."
)
@click.option(
    "--base-url",
    help="Any OpenAI-compatible API, e.g. http://localhost:8000/v1.",
)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False),
    help="SQLite database for results  [default: batchbot.db]",
)
@click.option("--model", help="Model for every item (overrides the job file).")
@click.option(
    "--allow-param",
    "allow_params",
    multiple=True,
    metavar="NAME",
    help="Send the parameter NAME although the endpoint has none by that name (a compatible "
    "server's own, such as top_k); repeatable. Otherwise such a name stops the job.",
)
@click.option(
    "--endpoint",
    type=click.Choice(["/v1/chat/completions", "/v1/responses", "/v1/embeddings"]),
    help="The API every item calls  [default: the job's endpoint:, else /v1/chat/completions]",
)
@click.option(
    "--azure-endpoint",
    help="Call Azure OpenAI at https://NAME.openai.azure.com (key: AZURE_OPENAI_API_KEY); "
    "the job's model is the deployment.",
)
@click.option(
    "--api-version",
    help="Azure OpenAI api-version  [default: 2025-04-01-preview]",
)
@limit_options
@click.option(
    "--timeout",
    "timeout_s",
    type=setting("timeout_s"),
    help="Seconds before one request is abandoned and retried  [default: 120; 900 with --mode "
    "flex]",
)
@click.option(
    "--max-attempts",
    type=setting("max_attempts"),
    help="HTTP attempts per item for transient errors  [default: 6]",
)
@click.option(
    "--grace",
    "grace_s",
    type=setting("grace_s"),
    help="Seconds in-flight requests may take to finish after Ctrl-C  [default: 30]",
)
@click.option(
    "--max-cost",
    "max_cost_usd",
    type=setting("max_cost_usd"),
    help="Never spend more than this many USD in this run (overrides budget_usd).",
)
@click.option(
    "--max-cost-per-day",
    "max_cost_per_day_usd",
    type=setting("max_cost_per_day_usd"),
    help="Never let this job spend more than this many USD a day (UTC), over all its runs.",
)
@click.option(
    "--on-invalid",
    type=click.Choice(["keep", "retry"]),
    help="An answer that does not follow its schema: keep it (status invalid) or re-ask with "
    "the validation error  [default: the job's on_invalid:, else keep]",
)
@click.option(
    "--max-reasks",
    type=setting("max_reasks"),
    help="With --on-invalid retry: re-asks per item at most  [default: the job's max_reasks:, "
    "else 2]",
)
@click.option(
    "--on-length",
    type=click.Choice(["keep", "retry"]),
    help="An answer cut off at max_tokens: keep it (status truncated) or re-ask with twice the "
    "max_tokens, up to --max-tokens-cap  [default: the job's on_length:, else keep]",
)
@click.option(
    "--max-tokens-cap",
    type=setting("max_tokens_cap"),
    help="With --on-length retry: the most max_tokens a re-ask may ask for (overrides "
    "max_tokens_cap).",
)
@click.option(
    "--prices",
    "prices_file",
    type=click.Path(dir_okay=False),
    help="YAML/JSON file of prices {model: {input, output, cached_input}} in USD per MTok.",
)
@click.option(
    "--mode",
    type=click.Choice(modes.MODES),
    help="sync: send now at the rate limit; batch: OpenAI's Batch API (half price, within "
    "24 h; rerun to collect); flex: now, on OpenAI's Flex tier (half price, slower); auto: the "
    "cheapest that fits the job's size and --deadline  [default: the job's mode:, else sync]",
)
@click.option(
    "--wait", is_flag=True, help="Batch mode: keep polling until every batch is collected."
)
@click.option(
    "--poll-interval",
    "poll_s",
    type=setting("poll_s"),
    help="Batch mode with --wait: seconds before the first poll; the pauses grow from there  "
    "[default: 30]",
)
@click.option(
    "--batch-queue-tokens",
    type=setting("batch_queue_tokens"),
    help="Batch mode: the org's enqueued-token limit per model (overrides the tier).",
)
@click.option(
    "--deadline",
    "deadline_minutes",
    type=setting("deadline_minutes"),
    help="Minutes the answers are needed within; --mode auto stays sync under 24 h.",
)
@click.option(
    "--no-cache",
    is_flag=True,
    help="Send every request, even one answered before (overrides the job's cache:).",
)
@click.option(
    "--cache",
    "cache_path",
    type=click.Path(dir_okay=False),
    help="A cache database shared across projects: reuse its answers, and keep this run's there.",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check the job, estimate tokens, cost and time; send nothing.",
)
@click.option("--json", "as_json", is_flag=True, help="With --dry-run: the estimate as JSON.")
@click.option(
    "--outage-wait",
    "outage_wait_s",
    type=setting("outage_wait_s"),
    help="Seconds to wait out a server that refuses every connection before stopping  "
    "[default: 300]",
)
@click.option(
    "--wait-lock",
    is_flag=True,
    help="If another run of this job is going, wait for it instead of exiting with code 4.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print nothing on success; one line per problem.")
@log_options
def run_command(
    job_file: Path,
    *,
    fake: bool,
    dry_run: bool,
    as_json: bool,
    base_url: str | None,
    db_path: str | None,
    model: str | None,
    endpoint: str | None,
    allow_params: tuple[str, ...],
    quiet: bool,
    verbose: bool,
    log_file: Path | None,
    log_format: str,
    **limits: Any,
) -> None:
    """Send every unanswered prompt of JOB_FILE (.yaml or .jsonl) and store the answers.

    Running the same job again sends only what is not answered yet: an interrupted run resumes,
    and a changed prompt is a new request. With --mode batch a run submits batches and exits;
    the next run (by hand or from cron) collects them, or --wait does both in one go.
    """
    from batchbot.config import Flags, resolve_config
    from batchbot.environment import environment
    from batchbot.jobs.job import load_job
    from batchbot.library import dry_run as dry_run_of
    from batchbot.library import run_job
    from batchbot.run.progress import make_display

    if as_json and not dry_run:
        raise click.UsageError("--json prints the --dry-run estimate: add --dry-run.")
    if (
        limits["no_cache"]
        and click.get_current_context().get_parameter_source("cache_path")
        is click.core.ParameterSource.COMMANDLINE
    ):
        raise click.UsageError("--no-cache and --cache say opposite things: give one.")
    with friendly_errors():
        start_logging(verbose, quiet, log_file, log_format)
        job = load_job(job_file, model=model, endpoint=endpoint, allow_params=allow_params)
        flags = Flags(db_path=db_path, base_url=base_url, fake=fake, model=model, **limits)
        config = resolve_config(job, flags, environment())
        if dry_run:
            _report_estimate(dry_run_of(job, config=config, command_line=True), config, as_json)
            return
        report = None if quiet else echo
        display = make_display(quiet=quiet)
        summary = run_job(job, config=config, display=display, report=report, command_line=True)
    _report_summary(summary, quiet=quiet)


def _report_estimate(plan: DryRun, config: Config, as_json: bool) -> None:
    from batchbot.money.usd import usd
    from batchbot.tally import items

    estimate, choice = plan.estimate, plan.mode
    if as_json:
        mode = {"mode": choice.mode, "mode_reason": choice.reason}
        echo(inert_json(json.dumps({**estimate.as_dict(), **mode}, indent=2)))
        return
    limits = f"{_number(estimate.rpm)} RPM / {_number(estimate.tpm)} TPM"
    assumed = "".join(f"  assumed: {note}\n" for note in estimate.assumptions())
    echo(
        f"{estimate.job}: {items(estimate.items)}, "
        f"{estimate.already_answered:,} already answered, {estimate.to_send:,} to send\n"
        f"  prompt tokens:        {estimate.prompt_tokens:,}{_parts(estimate)}\n"
        f"  completion allowance: {estimate.completion_allowance:,} (max_tokens x n; the most "
        f"answers may use)\n"
        f"{assumed}"
        f"  cost: at most {usd(estimate.worst_cost_usd)} (every allowance used), "
        f"expected about {usd(estimate.expected_cost_usd)}{_unpriced(estimate)}\n"
        f"  time at {limits}: about {_duration(estimate.minutes)}\n"
        f"  mode: {choice.mode} ({choice.reason})"
    )
    if choice.mode == modes.BATCH:
        from batchbot.batch.messages import batch_plan_line

        echo("  " + batch_plan_line(estimate.to_send, estimate.prompt_tokens, config))
    for warning in estimate.warnings():
        echo(f"  warning: {warning}")
    if config.reask_policy().enabled:
        echo(f"  note: {REASKS_NOT_COUNTED}")
    echo("Nothing was sent (dry run).")


def _parts(estimate: Estimate) -> str:
    """The prompt's parts; schema and files only when a job has them."""
    tokens = estimate.tokens
    parts = [f"text {tokens.text:,}", f"tools {tokens.tools:,}", f"images {tokens.images:,}"]
    if tokens.schema:
        parts.append(f"schema {tokens.schema:,}")
    if tokens.files:
        parts.append(f"audio and files {tokens.files:,}")
    return f" ({', '.join(parts)})"


def _unpriced(estimate: Estimate) -> str:
    models = ", ".join(estimate.unpriced_models)
    return f" (not counting {models}: no price)" if models else ""


def _number(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:,.0f}"


def _duration(minutes: float) -> str:
    seconds = minutes * 60
    if seconds < 90:
        return f"{seconds:.0f} s"
    if minutes < 90:
        return f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h"


def _report_summary(summary: RunSummary, *, quiet: bool) -> None:
    """Print a run's closing lines (quiet: only when something is wrong) and exit with its code."""
    from batchbot.logs import FILE_ONLY
    from batchbot.run.closing import stop_line, summary_lines

    code = summary.exit_code
    text = "\n".join(summary_lines(summary))
    if summary.stopped:
        echo(f"batchbot: {stop_line(summary)}", err=True)
        log.warning("%s", summary.stopped, extra={FILE_ONLY: True})
    for note in summary.notes if quiet else ():
        echo(f"batchbot: {note}", err=True)
    if not quiet or code != EXIT_OK:
        echo(text, err=quiet)
    level = logging.INFO if code == EXIT_OK else logging.WARNING
    log.log(level, "%s (exit %d)", text, code, extra={FILE_ONLY: True, "exit_code": code})
    sys.exit(code)
