"""`batchbot doctor`, `limits` and `fake-server`: the server a run talks to, its presets, the
simulated API."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from batchbot.cli.common import (
    F,
    cli,
    db_or_environment,
    echo,
    fake_api,
    friendly_errors,
    setting,
)
from batchbot.errors import EXIT_OK, EXIT_SOME_FAILED

if TYPE_CHECKING:
    from collections.abc import Callable

    from batchbot.sync.neighbours import Neighbour


@cli.command(name="doctor")
@click.option(
    "--fake", is_flag=True, help="Check against the built-in simulated OpenAI API (no key)."
)
@click.option("--base-url", help="The API to check  [default: OpenAI]")
@click.option(
    "--db",
    "db_path",
    callback=db_or_environment,
    type=click.Path(dir_okay=False),
    help="The database runs will write to.  [default: batchbot.db]",
)
@click.option("--model", default="gpt-4o-mini", show_default=True, help="Model to try.")
@click.option(
    "--timeout",
    "timeout_s",
    default=20.0,
    show_default=True,
    type=setting("timeout_s"),
    help="Seconds to wait for the API's answer.",
)
def doctor_command(
    fake: bool, base_url: str | None, db_path: str, model: str, timeout_s: float
) -> None:
    """Check the key is set (never shown), the database is writable, the API answers and
    what limits it reports; one line each. Sends one 1-token request (a tiny fraction of a
    cent). Exit 0 if every check passes, 1 if not.
    """
    from batchbot.api.doctor import run_checks
    from batchbot.config import checked_base_url
    from batchbot.environment import API_KEY, BASE_URL, environment, from_process

    env = environment()
    with friendly_errors(), fake_api(fake, base_url or env.get(BASE_URL) or None) as url:
        base_url = checked_base_url(url)
        api_key = None if fake else env.get(API_KEY) or None
        checks = run_checks(
            api_key=api_key,
            key_source="environment" if from_process(API_KEY) else ".env",
            base_url=base_url,
            db_path=Path(db_path),
            model=model,
            timeout_s=timeout_s,
            key_needed="the simulated API (--fake) takes any key" if fake else None,
        )
    for check in checks:
        echo(check.line())
    sys.exit(EXIT_OK if all(check.ok for check in checks) else EXIT_SOME_FAILED)


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
    """Print the rate-limit presets: requests and tokens per minute by tier and model family,
    then the runs on this machine sharing a key now.

    The figures come from tiers.yaml (OpenAI's usage tiers and the tutorial's tiers); pick
    one with --tier or the job's tier:, or set your own with --rpm/--tpm or limits:.
    """
    from batchbot.limits.tiers import preset_rows, unknown_model_note
    from batchbot.reports.table import render_table

    with friendly_errors():
        rows = preset_rows(model, tier)
        note = unknown_model_note(model) if model else None
    if note:
        echo(f"batchbot: {note}", err=True)
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
    echo("\n".join(render_table(headings, cells, numeric={2, 3, 4})))
    echo(f"\n{LIMITS_NOTE}")
    _echo_neighbours()


def _echo_neighbours() -> None:
    """The runs sharing a key on this machine now, and the share of it each uses."""
    import time

    from batchbot.environment import API_KEY, environment
    from batchbot.reports.table import render_table
    from batchbot.sync.neighbours import key_hash, neighbours

    runs = neighbours()
    if not runs:
        echo("\nNo run on this machine is sending now.")
        return
    mine = key_hash(environment().get(API_KEY) or "")
    headings = ("key", "base URL", "model", "job", "pid", "RPM share", "TPM share", "for")
    cells = [
        (
            "yours" if run.key == mine else run.key,
            run.base_url,
            run.model,
            run.job,
            str(run.pid),
            *(_share(run, kind) for kind in ("requests", "tokens")),
            f"{time.time() - run.started:.0f} s",
        )
        for run in runs
    ]
    echo("\nRuns on this machine sharing a key now (+: would take more of it):")
    echo("\n".join(render_table(headings, cells, numeric={4, 5, 6, 7})))


def _share(run: Neighbour, kind: str) -> str:
    """A run's share of one kind of the key; + if it would take more."""
    if not run.limits.get(kind):
        return "-"
    return f"{run.share[kind]:.0%}" + ("+" if kind in run.bound else "")


def _count_mode(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from batchbot.fake.counting import check_count_mode

    try:
        return check_count_mode(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def share_option(flag: str, help_text: str) -> Callable[[F], F]:
    """A --*-rate option of the fake server: a share of requests, from 0 to 1, none by default."""
    return click.option(
        flag, default=0.0, show_default=True, type=click.FloatRange(0, 1), help=help_text
    )


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
@share_option(
    "--fail-rate", "Share of requests answered with a transient fault (500/502/503/reset/bad body)."
)
@share_option(
    "--invalid-rate", "Share of structured answers (JSON schema, tool calls) that do not validate."
)
@share_option("--refusal-rate", "Share of requests the model refuses.")
@share_option("--length-rate", "Share of answers cut off at max_tokens (finish_reason length).")
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
    invalid_rate: float,
    refusal_rate: float,
    length_rate: float,
) -> None:
    """Serve the simulated OpenAI API until Ctrl-C (for trying clients and for benchmarks)."""
    from batchbot.fake.server import serve

    if invalid_rate + refusal_rate + length_rate > 1:
        raise click.UsageError("--invalid-rate, --refusal-rate and --length-rate add up past 1.")
    serve(
        on_ready=lambda url: echo(f"fake OpenAI API on {url} (any key works); Ctrl-C stops it"),
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
        invalid=invalid_rate,
        refusal=refusal_rate,
        length=length_rate,
    )
