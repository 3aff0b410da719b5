"""Where the log goes: stderr for whoever watches, and a file for cron and log shippers.

    stderr          warnings; every failed attempt and saved item too with --verbose, and the
                    traceback of a worker that died (the CLI says it in one line otherwise)
    --log-file F    appended to: run start and end, problems, and with --verbose every attempt
                    and saved item; `--log-format json` writes one JSON object a line

Every record passes `redact_secrets` on its way out, whatever handler writes it, so a key
that slipped into an exception text still never reaches a log; and `inert` drops (in text)
or escapes (in JSON) the control characters and escape sequences a job's names, ids or an
API's messages may carry.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from batchbot.errors import redact_secrets
from batchbot.inert import inert_json, printable

LOGGER = "batchbot"
# Record attributes every LogRecord has; anything else came from `extra=` and goes in the JSON.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
FILE_ONLY = "file_only"  # extra={FILE_ONLY: True}: the CLI already printed it to stderr
NOTICE = "notice"  # extra={NOTICE: True}: an INFO line worth showing on stderr, unless --quiet
# extra={DETAIL: True}: a problem the CLI sums up in one line itself; the full record (say, a
# traceback) goes to stderr only with --verbose, and to the log file always.
DETAIL = "detail"
NOISY = ("httpx2", "httpcore2", "openai", "aiohttp", "filelock")


class TextFormatter(logging.Formatter):
    def __init__(self, *, stamped: bool) -> None:
        fmt = "%(asctime)s %(levelname)s %(message)s" if stamped else "batchbot: %(message)s"
        super().__init__(fmt)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return _utc(record)

    def format(self, record: logging.LogRecord) -> str:
        return printable(redact_secrets(super().format(record)))


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC ISO-8601), level, message, and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname.lower(),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and key not in (FILE_ONLY, NOTICE, DETAIL):
                data[key] = value
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return inert_json(redact_secrets(json.dumps(data, ensure_ascii=False, default=str)))


class _ConsoleFilter(logging.Filter):
    """stderr shows problems, notices unless quiet, everything when verbose; never FILE_ONLY,
    and DETAIL only when verbose."""

    def __init__(self, *, quiet: bool, verbose: bool) -> None:
        super().__init__()
        self.quiet, self.verbose = quiet, verbose

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, FILE_ONLY, False):
            return False
        if getattr(record, DETAIL, False):
            return self.verbose
        if self.verbose or record.levelno >= logging.WARNING:
            return True
        return not self.quiet and bool(getattr(record, NOTICE, False))


def setup_logging(
    *,
    verbose: bool = False,
    quiet: bool = False,
    log_file: Path | None = None,
    log_format: str = "text",
    stream: TextIO | None = None,
) -> None:
    """Point the `batchbot` logger at stderr (and `log_file`); replaces any earlier setup."""
    logger = logging.getLogger(LOGGER)
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    logger.propagate = False
    console = logging.StreamHandler(stream or sys.stderr)
    console.setFormatter(TextFormatter(stamped=False))
    console.addFilter(_ConsoleFilter(quiet=quiet, verbose=verbose))
    logger.addHandler(console)
    level = logging.DEBUG if verbose else logging.INFO
    if log_file is not None:
        # As logging tools do: `--log-file logs/batchbot.log` works on the first night too.
        log_file.parent.mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(log_file, encoding="utf-8", delay=False)
        file.setLevel(logging.DEBUG if verbose else logging.INFO)
        file.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(stamped=True))
        logger.addHandler(file)
        level = min(level, file.level)
    logger.setLevel(level)
    # The HTTP libraries log request lines (never our key) at DEBUG; keep their noise out.
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _utc(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
