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
from batchbot.inert import printable
from batchbot.jobs.values import SETTINGS, Range, checked
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
    Exit codes: 0 all answered, 1 some items failed (or ended invalid or refused), 2 the job
    or its settings must change, 3 the run stopped early (the same command resumes it), 4
    another run of the same job is going.
    """


class Number(click.ParamType):  # type: ignore[type-arg]  # generic only from click 8.3 on
    """A number within one of `jobs.values`' ranges; NaN, infinities and values out of range
    are usage errors (exit 2) that say what is allowed."""

    def __init__(self, allowed: Range) -> None:
        self.allowed = allowed
        self.name = "integer" if allowed.whole else "number"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str):
            try:
                value = int(value) if self.allowed.whole else float(value)
            except ValueError:
                self.fail(f"{value!r} is not {self.allowed.words}", param, ctx)
        try:
            return checked(value, self.allowed)
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


def setting(name: str) -> Number:
    """The type of the run setting `name` (a Config field), from `jobs.values.SETTINGS`."""
    return Number(SETTINGS[name])


def limit_options(func: F) -> F:
    """--tier, --rpm, --tpm, --concurrency, --token-count: shared by every command that sends."""
    for option in reversed(
        [
            click.option("--tier", help="Rate-limit preset (see tiers.yaml); default tier-1."),
            click.option(
                "--rpm", type=setting("rpm"), help="Requests per minute (overrides the tier)."
            ),
            click.option(
                "--tpm", type=setting("tpm"), help="Tokens per minute (overrides the tier)."
            ),
            click.option(
                "--concurrency",
                type=setting("concurrency"),
                help="Most requests in flight at once.",
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
    """--db for the commands besides run (which resolves it with its other settings)."""
    return click.option(
        "--db",
        "db_path",
        callback=db_or_environment,
        type=click.Path(dir_okay=False),
        help="SQLite database.  [default: batchbot.db]",
    )(func)


def db_or_environment(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """--db, else BATCHBOT_DB (batchbot.environment), else batchbot.db."""
    from batchbot.config import DEFAULT_DB
    from batchbot.environment import DB, environment

    return value or environment().get(DB) or DEFAULT_DB


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


def start_logging(verbose: bool, quiet: bool, log_file: Path | None, log_format: str) -> None:
    """Log as --verbose, --quiet and --log-file (else BATCHBOT_LOG_FILE) say."""
    from batchbot.environment import LOG_FILE, environment
    from batchbot.errors import ConfigError
    from batchbot.logs import setup_logging

    if log_file is None and (named := environment().get(LOG_FILE)):
        log_file = Path(named)

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
        from batchbot.environment import raise_errors

        if raise_errors():
            raise
        fail(
            UNEXPECTED.format(error=redact_secrets(f"{type(exc).__name__}: {exc}")),
            EXIT_SOME_FAILED,
        )


def echo(text: str = "", *, err: bool = False, nl: bool = True) -> None:
    """Print `text` with nothing in it a terminal would act on (see `batchbot.inert`): the
    one way commands print, since job names, ids and the API's words may carry anything."""
    click.echo(printable(text), err=err, nl=nl)


def fail(message: str, exit_code: int) -> NoReturn:
    from batchbot.logs import FILE_ONLY

    echo(f"Error: {message}", err=True)
    if log.handlers:  # only `run` sets up logging; elsewhere Python would print this twice
        extra = {FILE_ONLY: True, "exit_code": exit_code}
        log.error("%s (exit %d)", message, exit_code, extra=extra)
    sys.exit(exit_code)
