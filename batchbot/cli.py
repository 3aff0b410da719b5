"""The command line: parse options, build one Config, call the library, render the result.

This is the only module that imports click and the only one that exits: errors carry their
exit codes, and a run's summary says its own (`RunSummary.exit_code`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from batchbot import modes
from batchbot.errors import EXIT_OK, EXIT_SOME_FAILED, BatchbotError, redact_secrets
from batchbot.version import __version__

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("batchbot")

UNEXPECTED = (
    "unexpected error: {error}. Answers already received are saved; "
    "set BATCHBOT_RAISE_ERRORS=1 to see the traceback and please report it."
)


@click.group(context_settings=CONTEXT_SETTINGS)
@click.version_option(__version__, "-V", "--version", prog_name="batchbot")
def cli() -> None:
    """Run many prompts through the OpenAI API (chat, Responses, embeddings; Azure or any
    compatible server) at the rate limit, within budget and resumable, with every answer,
    vector and token count kept in SQLite.

    \b
    Try it with no key:   batchbot run jobs/faq.yaml --fake
    Exit codes: 0 all answered, 1 some items failed, 2 bad input or usage, 3 run stopped,
    4 another run of the same job is going.
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


def log_options(func: F) -> F:
    """-v/--verbose, --log-file, --log-format: where a command's log goes."""
    for option in reversed(
        [
            click.option(
                "-v", "--verbose", is_flag=True, help="Log every failed attempt to stderr."
            ),
            click.option(
                "--log-file",
                type=click.Path(dir_okay=False, path_type=Path),
                envvar="BATCHBOT_LOG_FILE",
                help="Also append the log to this file (run start and end, every problem).",
            ),
            click.option(
                "--log-format",
                type=click.Choice(["text", "json"]),
                default="text",
                show_default=True,
                help="Format of --log-file: text lines, or one JSON object a line.",
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
@click.option(
    "--endpoint",
    type=click.Choice(["/v1/chat/completions", "/v1/responses", "/v1/embeddings"]),
    help="The API every item calls  [default: the job's endpoint:, else /v1/chat/completions]",
)
@click.option(
    "--azure-endpoint",
    envvar="AZURE_OPENAI_ENDPOINT",
    help="Call Azure OpenAI at https://NAME.openai.azure.com (key: AZURE_OPENAI_API_KEY); "
    "the job's model is the deployment.",
)
@click.option(
    "--api-version",
    envvar="OPENAI_API_VERSION",
    help="Azure OpenAI api-version  [default: 2025-04-01-preview]",
)
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
    "--max-cost",
    "max_cost_usd",
    type=click.FloatRange(min=0),
    help="Never spend more than this many USD in this run (overrides budget_usd).",
)
@click.option(
    "--max-cost-per-day",
    "max_cost_per_day_usd",
    type=click.FloatRange(min=0),
    help="Never let this job spend more than this many USD a day (UTC), over all its runs.",
)
@click.option(
    "--prices",
    "prices_file",
    envvar="BATCHBOT_PRICES",
    type=click.Path(dir_okay=False),
    help="YAML/JSON file of prices {model: {input, output, cached_input}} in USD per MTok.",
)
@click.option(
    "--mode",
    type=click.Choice(modes.MODES),
    help="sync: send now at the rate limit; batch: OpenAI's Batch API (half price, within "
    "24 h; rerun to collect); auto: batch for large jobs  [default: the job's mode:, else sync]",
)
@click.option(
    "--wait", is_flag=True, help="Batch mode: keep polling until every batch is collected."
)
@click.option(
    "--poll-interval",
    "poll_s",
    type=click.FloatRange(min=0, min_open=True),
    help="Batch mode with --wait: seconds before the first poll; the pauses grow from there  "
    "[default: 30]",
)
@click.option(
    "--batch-queue-tokens",
    type=click.IntRange(min=1),
    help="Batch mode: the org's enqueued-token limit per model (overrides the tier).",
)
@click.option(
    "--deadline",
    "deadline_minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Minutes the answers are needed within; --mode auto stays sync under 24 h.",
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
    type=click.FloatRange(min=0),
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
    from batchbot.jobs.job import load_job
    from batchbot.run.progress import make_display
    from batchbot.run.runner import run_job

    if as_json and not dry_run:
        raise click.UsageError("--json prints the --dry-run estimate: add --dry-run.")
    with _friendly_errors():
        _setup_logging(verbose, quiet, log_file, log_format)
        job = load_job(job_file, model=model, endpoint=endpoint)
        flags = Flags(db_path=db_path, base_url=base_url, fake=fake, model=model, **limits)
        config = resolve_config(job, flags, _environment())
        if dry_run:
            _report_estimate(job, config, as_json=as_json)
            return
        report = None if quiet else click.echo
        summary = run_job(job, config, display=make_display(quiet=quiet), report=report)
    _report_summary(summary, quiet=quiet)


def _report_estimate(job: Any, config: Any, *, as_json: bool) -> None:
    from batchbot.run.estimate import estimate_job
    from batchbot.run.runner import resolve_mode
    from batchbot.summary import items

    estimate = estimate_job(job, config)
    choice = resolve_mode(job, config, estimate)
    if as_json:
        mode = {"mode": choice.mode, "mode_reason": choice.reason}
        click.echo(json.dumps({**estimate.as_dict(), **mode}, indent=2))
        return
    limits = f"{_number(estimate.rpm)} RPM / {_number(estimate.tpm)} TPM"
    assumed = "".join(f"  assumed: {note}\n" for note in estimate.assumptions())
    click.echo(
        f"{estimate.job}: {items(estimate.items)}, "
        f"{estimate.already_answered:,} already answered, {estimate.to_send:,} to send\n"
        f"  prompt tokens:        {estimate.prompt_tokens:,}{_parts(estimate.tokens)}\n"
        f"  completion allowance: {estimate.completion_allowance:,} (max_tokens x n; the most "
        f"answers may use)\n"
        f"{assumed}"
        f"  cost: at most ${estimate.worst_cost_usd:,.4f} (every allowance used), "
        f"expected about ${estimate.expected_cost_usd:,.4f}{_unpriced(estimate)}\n"
        f"  time at {limits}: about {_duration(estimate.minutes)}\n"
        f"  mode: {choice.mode} ({choice.reason})"
    )
    if choice.mode == modes.BATCH:
        from batchbot.batch.summary import batch_plan_line

        click.echo("  " + batch_plan_line(estimate.to_send, estimate.prompt_tokens, config))
    for warning in estimate.warnings():
        click.echo(f"  warning: {warning}")
    click.echo("Nothing was sent (dry run).")


def _parts(tokens: Any) -> str:
    """The prompt's parts; schema and files only when a job has them."""
    parts = [f"text {tokens.text:,}", f"tools {tokens.tools:,}", f"images {tokens.images:,}"]
    if tokens.schema:
        parts.append(f"schema {tokens.schema:,}")
    if tokens.files:
        parts.append(f"audio and files {tokens.files:,}")
    return f" ({', '.join(parts)})"


def _unpriced(estimate: Any) -> str:
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


def _report_summary(summary: Any, *, quiet: bool) -> None:
    """Print a run's closing lines (quiet: only when something is wrong) and exit with its code."""
    from batchbot.logs import FILE_ONLY
    from batchbot.run.summary import stop_line, summary_lines

    code = summary.exit_code
    text = "\n".join(summary_lines(summary))
    if summary.stopped:
        click.echo(f"batchbot: {stop_line(summary)}", err=True)
        log.warning("%s", summary.stopped, extra={FILE_ONLY: True})
    for note in summary.notes if quiet else ():
        click.echo(f"batchbot: {note}", err=True)
    if not quiet or code != EXIT_OK:
        click.echo(text, err=quiet)
    level = logging.INFO if code == EXIT_OK else logging.WARNING
    log.log(level, "%s (exit %d)", text, code, extra={FILE_ONLY: True, "exit_code": code})
    sys.exit(code)


def db_option(func: F) -> F:
    """--db / BATCHBOT_DB for the commands besides run."""
    return click.option(
        "--db",
        "db_path",
        envvar="BATCHBOT_DB",
        default="batchbot.db",
        show_default=True,
        type=click.Path(dir_okay=False),
        help="SQLite database.",
    )(func)


def _split_by(
    ctx: click.Context, param: click.Parameter, values: tuple[str, ...]
) -> tuple[str, ...]:
    from batchbot.reports.report import GROUPS

    names = tuple(name.strip() for value in values for name in value.split(",") if name.strip())
    for name in names:
        if name not in GROUPS:
            raise click.BadParameter(f"{name!r} is not one of {', '.join(GROUPS)}.")
    return tuple(dict.fromkeys(names))


DAY = click.DateTime(formats=["%Y-%m-%d"])


@cli.command(name="report")
@db_option
@click.option(
    "--by",
    multiple=True,
    callback=_split_by,
    help="Group by job, model, day, run or endpoint; repeat or comma-separate to combine.",
)
@click.option("--job", help="Only this job.")
@click.option("--since", type=DAY, help="From this UTC day on (YYYY-MM-DD, inclusive).")
@click.option("--until", type=DAY, help="Up to this UTC day (YYYY-MM-DD, inclusive).")
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
@click.option("--csv", "as_csv", is_flag=True, help="CSV with a header row.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write a self-contained HTML page with charts to this file.",
)
def report_command(
    db_path: str,
    by: tuple[str, ...],
    job: str | None,
    since: Any,
    until: Any,
    as_json: bool,
    as_csv: bool,
    html_file: str | None,
) -> None:
    """Spend so far: requests, failures, tokens, cost and latency, in total or grouped.

    \b
    batchbot report --by day --since 2026-11-01
    batchbot report --by job,model --json
    """
    from batchbot.reports.report import ReportQuery, build_report, render
    from batchbot.store.read import reading

    if as_json and as_csv:
        raise click.UsageError("--json and --csv are two formats: choose one.")
    query = ReportQuery(by, job, _day(since), _day(until))
    with _friendly_errors(), reading(db_path) as db:
        report = build_report(
            db, query, detail=bool(html_file), source=str(Path(db_path).resolve())
        )
    if html_file:
        Path(html_file).write_text(render(report, "html"), encoding="utf-8")
        click.echo(f"wrote {html_file}", err=True)
    click.echo(render(report, "json" if as_json else "csv" if as_csv else "table"), nl=False)


def _day(value: Any) -> str | None:
    return None if value is None else str(value.date())


@cli.command(name="runs")
@db_option
@click.option("--job", help="Only runs of this job.")
@click.option(
    "-n",
    "--limit",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many runs to list, newest first.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON list of objects.")
def runs_command(db_path: str, job: str | None, limit: int, as_json: bool) -> None:
    """Recent runs, newest first: status, items, ok/failed, cost and duration."""
    import json

    from batchbot.reports.export import recent_runs, render_runs
    from batchbot.store.read import reading

    with _friendly_errors(), reading(db_path) as db:
        runs = recent_runs(db, job=job, limit=limit)
    click.echo(json.dumps(runs, indent=2) if as_json else render_runs(runs), nl=as_json)


@cli.command(name="export")
@click.argument("job")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "npy"]),
    default="jsonl",
    show_default=True,
    help="JSON lines or CSV; npy: an embeddings job's vectors as one NumPy array (needs -o).",
)
@click.option(
    "-o", "--output", type=click.File("w", encoding="utf-8"), default="-", help="File [stdout]."
)
@click.option(
    "--all",
    "history",
    is_flag=True,
    help="Every row of the job: failed and pending items, and earlier answers too.",
)
def export_command(job: str, db_path: str, fmt: str, output: Any, history: bool) -> None:
    """Write the answers of JOB (a job file or a job's name), one per item of the job as it is
    now: id, prompt, answer, finish_reason, tokens, cost, error.
    """
    from batchbot.reports.export import export_answers, export_vectors
    from batchbot.store.read import reading

    if fmt == "npy" and output.name == "<stdout>":
        raise click.UsageError("--format npy writes a binary file: give it with -o vectors.npy.")
    with _friendly_errors(), reading(db_path) as db:
        target = _export_target(db, job, db_path)
        if fmt == "npy":
            count = export_vectors(db, target, output.buffer, history=history)
        else:
            count = export_answers(db, target, output, fmt=fmt, history=history)
    if count == 0:
        click.echo(f"No answers for job {job!r} in {db_path}.", err=True)


def _export_target(db: Any, job: str, db_path: str) -> Any:
    """A job file is loaded; a job's name must be one the database knows."""
    from batchbot.errors import InputError
    from batchbot.jobs.job import load_job
    from batchbot.reports.export import current_job, job_names

    if Path(job).is_file() or Path(job).suffix.lower() in (".yaml", ".yml", ".jsonl"):
        return current_job(db, load_job(job))
    names = job_names(db)
    if job not in names:
        known = ", ".join(names) if names else "none yet"
        raise InputError(
            f"no job named {job!r} in {db_path} (its jobs: {known}): give one of those "
            "names or the job file."
        )
    found = current_job(db, job)
    if found is None:
        click.echo(
            f"batchbot: the job file of {job!r} cannot be read: exporting the newest answer "
            "of every item ever sent; give the job file for the job as it is now.",
            err=True,
        )
    return found or job


@cli.command(name="batches")
@click.option("--job", "job_name", help="Only this job's batches (the job's name).")
@db_option
def batches_list(job_name: str | None, db_path: str | None) -> None:
    """List the Batch API batches batchbot submitted: id, status, counts, created, cost.

    Statuses are as of the last `batchbot run` of their job, which polls them.
    """
    from batchbot.config import resolve_db_path
    from batchbot.reports.batches import batches_table
    from batchbot.store.read import list_batches, reading

    with _friendly_errors():
        path = resolve_db_path(db_path, _environment())
        rows = []
        if path.exists():
            with reading(path) as db:
                rows = list_batches(db, job_name)
        click.echo("\n".join(batches_table(rows)))


@cli.command(name="cancel")
@click.argument("job_file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--fake", is_flag=True, help="Batches of the built-in simulated OpenAI API (no key).")
@click.option(
    "--base-url",
    envvar="OPENAI_BASE_URL",
    help="Any OpenAI-compatible API, e.g. http://localhost:8000/v1.",
)
@db_option
def batches_cancel(job_file: Path, fake: bool, base_url: str | None, db_path: str | None) -> None:
    """Cancel the running batches of JOB_FILE.

    The next `batchbot run` collects them: answers they already have are kept, the rest of
    their items go back to pending and are submitted again.
    """
    from batchbot.config import Flags, resolve_config
    from batchbot.jobs.job import load_job
    from batchbot.run.runner import cancel_batches

    with _friendly_errors():
        job = load_job(job_file)
        flags = Flags(db_path=db_path, base_url=base_url, fake=fake)
        config = resolve_config(job, flags, _environment())
        rows = cancel_batches(job, config)
    for row in rows:
        click.echo(f"{row['batch_id']}: {row['status']}")
    click.echo(f"{job.name}: {len(rows)} batch(es) cancelled; rerun the job to collect them.")


@cli.command(name="doctor")
@click.option(
    "--fake", is_flag=True, help="Check against the built-in simulated OpenAI API (no key)."
)
@click.option("--base-url", envvar="OPENAI_BASE_URL", help="The API to check  [default: OpenAI]")
@click.option(
    "--db",
    "db_path",
    envvar="BATCHBOT_DB",
    default="batchbot.db",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The database runs will write to.",
)
@click.option("--model", default="gpt-4o-mini", show_default=True, help="Model to try.")
@click.option(
    "--timeout",
    "timeout_s",
    default=20.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Seconds to wait for the API's answer.",
)
def doctor_command(
    fake: bool, base_url: str | None, db_path: Path, model: str, timeout_s: float
) -> None:
    """Check the key is set (never shown), the database is writable, the API answers and
    what limits it reports; one line each. Sends one 1-token request (a tiny fraction of a
    cent). Exit 0 if every check passes, 1 if not.
    """
    from batchbot.api.doctor import run_checks
    from batchbot.config import checked_base_url

    with _friendly_errors(), _fake_api(fake, base_url) as url:
        base_url = checked_base_url(url)
        shell_key = os.environ.get("OPENAI_API_KEY")
        api_key = None if fake else _environment().get("OPENAI_API_KEY") or None
        checks = run_checks(
            api_key=api_key,
            key_source="environment" if shell_key else ".env",
            base_url=base_url,
            db_path=db_path,
            model=model,
            timeout_s=timeout_s,
            key_needed="the simulated API (--fake) takes any key" if fake else None,
        )
    for check in checks:
        click.echo(check.line())
    sys.exit(EXIT_OK if all(check.ok for check in checks) else EXIT_SOME_FAILED)


@contextlib.contextmanager
def _fake_api(fake: bool, base_url: str | None) -> Iterator[str | None]:
    """With --fake, the simulated API's URL while the block runs; else `base_url`."""
    if not fake:
        yield base_url
        return
    from batchbot.fake.server import FakeServer

    server = FakeServer().start_in_thread()
    try:
        yield server.url
    finally:
        server.stop()


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
    from batchbot.pace.tiers import preset_rows, unknown_model_note
    from batchbot.reports.table import render_table

    with _friendly_errors():
        rows = preset_rows(model, tier)
        note = unknown_model_note(model) if model else None
    if note:
        click.echo(f"batchbot: {note}", err=True)
    headings = ("family", "tier", "RPM", "TPM", "batch queue")
    cells = [
        (
            row.family + (" (default)" if row.inherited else ""),
            row.tier,
            f"{row.limits.rpm:,}",
            f"{row.limits.tpm:,}",
            f"{row.limits.batch_queue_tokens:,}" if row.limits.batch_queue_tokens else "-",
        )
        for row in rows
    ]
    click.echo("\n".join(render_table(headings, cells, numeric={2, 3, 4})))
    click.echo(f"\n{LIMITS_NOTE}")


def _count_mode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from batchbot.fake.counting import check_count_mode

    try:
        return check_count_mode(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@cli.command(name="fake-server")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8000,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to listen on (0: any free one).",
)
@click.option("--rpm", type=click.IntRange(min=1), help="Requests per minute before 429s.")
@click.option("--tpm", type=click.IntRange(min=1), help="Tokens per minute before 429s.")
@click.option(
    "--latency-ms",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Milliseconds each answer takes, as a real API's would.",
)
@click.option(
    "--fail-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of requests answered with a transient fault (500/502/503/reset/bad body).",
)
@click.option(
    "--windows",
    type=click.Choice(["buckets", "sliding"]),
    default="buckets",
    show_default=True,
    help="sliding: also enforce the limits over every span of --sliding-seconds, as a strict "
    "server does.",
)
@click.option(
    "--sliding-seconds",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 60, min_open=True),
    help="Length of the sliding windows.",
)
@click.option(
    "--dialect",
    default="openai",
    show_default=True,
    type=click.Choice(["openai", "fixed-minute", "none"]),
    help="Rate-limit headers: OpenAI's refilling buckets, per-minute counters with no reset "
    "(as LiteLLM's proxy), or none at all (as vLLM).",
)
@click.option(
    "--batch-delay",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Seconds a Batch API batch stays in progress before it is answered.",
)
@click.option(
    "--count",
    default="exact",
    show_default=True,
    callback=_count_mode,
    help="How a request is charged against --tpm: exact (the fake's own count), chars "
    "(about 4 characters a token, as OpenAI's rate limiter estimates) or a factor like x1.15.",
)
def fake_server_command(
    host: str,
    port: int,
    rpm: int | None,
    tpm: int | None,
    latency_ms: float,
    fail_rate: float,
    windows: str,
    sliding_seconds: float,
    batch_delay: float,
    count: str,
    dialect: str,
) -> None:
    """Serve the simulated OpenAI API until Ctrl-C (for trying clients and for benchmarks)."""
    from batchbot.fake.server import serve

    click.echo(
        f"fake OpenAI API on http://{host}:{port}/v1 (any key works); Ctrl-C stops it", err=True
    )
    serve(
        host=host,
        port=port,
        rpm=rpm,
        tpm=tpm,
        latency_ms=latency_ms,
        fail_rate=fail_rate,
        windows=windows,
        sliding_s=sliding_seconds,
        batch_delay_s=batch_delay,
        count=count,
        dialect=dialect,
    )


def _environment() -> dict[str, str]:
    """The process environment over ./.env: a variable set in the shell wins."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    return {**values, **os.environ}


def _setup_logging(verbose: bool, quiet: bool, log_file: Path | None, log_format: str) -> None:
    from batchbot.errors import ConfigError
    from batchbot.logs import setup_logging

    try:
        setup_logging(verbose=verbose, quiet=quiet, log_file=log_file, log_format=log_format)
    except OSError as exc:
        raise ConfigError(f"cannot write the log file {log_file}: {exc.strerror}") from None


@contextlib.contextmanager
def _friendly_errors() -> Iterator[None]:
    """Our own errors become one line and their exit code; anything else one line and exit 1."""
    try:
        yield
    except BatchbotError as exc:
        _fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`batchbot export faq | head`): nothing is wrong on our side.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except Exception as exc:
        if os.environ.get("BATCHBOT_RAISE_ERRORS"):
            raise
        _fail(
            UNEXPECTED.format(error=redact_secrets(f"{type(exc).__name__}: {exc}")),
            EXIT_SOME_FAILED,
        )


def _fail(message: str, exit_code: int) -> NoReturn:
    from batchbot.logs import FILE_ONLY

    click.echo(f"Error: {message}", err=True)
    if log.handlers:  # only `run` sets up logging; elsewhere Python would print this twice
        extra = {FILE_ONLY: True, "exit_code": exit_code}
        log.error("%s (exit %d)", message, exit_code, extra=extra)
    sys.exit(exit_code)
