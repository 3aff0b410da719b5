"""What every command shares: the group, option bundles, the environment, friendly errors.

The CLI is the only part that imports click and the only one that exits: errors carry their
exit codes, and a run's summary says its own (`RunSummary.exit_code`).
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
    """--tier, --rpm, --tpm, --concurrency, --token-count: shared by every command that sends."""
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
            click.option(
                "--token-count",
                type=click.Choice(["chars", "exact"]),
                help="How the server counts a request against TPM: chars (about 4 characters a "
                "token, as OpenAI's rate limiter), exact (tiktoken's count)  [default: as the "
                "server's answers show, starting exact]",
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


@contextlib.contextmanager
def fake_api(fake: bool, base_url: str | None) -> Iterator[str | None]:
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


def environment() -> dict[str, str]:
    """The process environment over ./.env: a variable set in the shell wins."""
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(Path.cwd() / ".env").items() if v is not None}
    return {**values, **os.environ}


def start_logging(verbose: bool, quiet: bool, log_file: Path | None, log_format: str) -> None:
    from batchbot.errors import ConfigError
    from batchbot.logs import setup_logging

    try:
        setup_logging(verbose=verbose, quiet=quiet, log_file=log_file, log_format=log_format)
    except OSError as exc:
        raise ConfigError(f"cannot write the log file {log_file}: {exc.strerror}") from None


@contextlib.contextmanager
def friendly_errors() -> Iterator[None]:
    """Our own errors become one line and their exit code; anything else one line and exit 1."""
    try:
        yield
    except BatchbotError as exc:
        fail(str(exc), exc.exit_code)
    except BrokenPipeError:
        # The reader went away (`batchbot export faq | head`): nothing is wrong on our side.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(EXIT_OK)
    except Exception as exc:
        if os.environ.get("BATCHBOT_RAISE_ERRORS"):
            raise
        fail(
            UNEXPECTED.format(error=redact_secrets(f"{type(exc).__name__}: {exc}")),
            EXIT_SOME_FAILED,
        )


def fail(message: str, exit_code: int) -> NoReturn:
    from batchbot.logs import FILE_ONLY

    click.echo(f"Error: {message}", err=True)
    if log.handlers:  # only `run` sets up logging; elsewhere Python would print this twice
        extra = {FILE_ONLY: True, "exit_code": exit_code}
        log.error("%s (exit %d)", message, exit_code, extra=extra)
    sys.exit(exit_code)
