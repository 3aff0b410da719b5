"""Every error batchbot raises on purpose, with the exit code the CLI turns it into.

One rule: 2 when the job or its settings must change before a run can work (running the same
command again fails the same way), 3 when a run stopped early and running the same command
again resumes it, 4 when another run of the job is going.

    BatchbotError                  exit 1   base class; never raised itself
    ├── InputError                 exit 2   the job or its settings cannot be used; nothing sent
    │   ├── JobFileError                    a job or inputs file is broken (where, which field)
    │   ├── MissingKeyError                 no API key and neither --fake nor --dry-run
    │   ├── ConfigError                     conflicting or impossible settings, an unknown model
    │   └── JobChanged                      an export of a job whose file changed since it ran
    ├── RunStopped                 exit 3   the run stopped early; running it again resumes
    │   ├── QuotaExhausted                  429 insufficient_quota: billing, not pacing
    │   ├── BudgetExhausted                 the next request could overspend --max-cost
    │   │   └── DailyBudgetExhausted        ... or the job's daily budget, new at 00:00 UTC
    │   ├── ServerUnreachable               no connection for longer than --outage-wait
    │   ├── DatabaseBusy                    another program held the database's write lock
    │   ├── WorkerDied                      sending an item died of an unexpected error (a bug)
    │   ├── FeedFailed                      reading the items failed mid-run (a bug)
    │   ├── Interrupted                     SIGINT/SIGTERM
    │   └── RunRefused             exit 2   the run met a problem of its job or settings
    │       ├── AuthError                   401/403: the key is wrong or lacks access
    │       ├── ModelNotFound               404 model_not_found
    │       ├── EndpointNotFound            404 for the endpoint: the base URL is wrong
    │       ├── BudgetUnbounded             a cost has no bound (no price, no max_tokens)
    │       └── JobFileChanged              the job's files changed or broke mid-run
    └── JobLocked                  exit 4   another run of the same job holds its lock

Messages are one friendly line that says what to do: an exit-2 one says what to fix, never
to run the same command again. They never contain the API key.
"""

from __future__ import annotations

import re
from pathlib import Path

# OpenAI's own 401 message quotes a masked key ("Incorrect API key provided: sk-abc***xyz");
# we keep none of it, masked or not.
_KEY_LIKE = re.compile(r"\b(sk|sess|rk)-[A-Za-z0-9_\-*.]{3,}")


def redact_secrets(text: str) -> str:
    """`text` with anything shaped like an API key replaced by `sk-***`."""
    return _KEY_LIKE.sub("sk-***", text)


def described(error: BaseException) -> str:
    """`Type: message` (the type alone when it says nothing), anything key-shaped redacted."""
    return redact_secrets(type(error).__name__ + (f": {error}" if str(error) else ""))


EXIT_OK = 0
EXIT_SOME_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_STOPPED = 3
EXIT_LOCKED = 4


class BatchbotError(Exception):
    """Base of the tree; `exit_code` is what the CLI exits with."""

    exit_code = EXIT_SOME_FAILED


class InputError(BatchbotError):
    """Raised before any request is sent when the input cannot be used."""

    exit_code = EXIT_BAD_INPUT


class JobFileError(InputError):
    """Raised when a job or inputs file is unreadable or invalid; names where and what."""

    def __init__(
        self,
        path: str | Path,
        message: str,
        *,
        line: int | None = None,
        column: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.column = column
        self.field = field
        self.reason = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = self.path
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}:{field} {self.reason}"


MISSING_KEY = (
    "No OpenAI API key: set OPENAI_API_KEY in the environment or in a .env file "
    "(see .env.example), or try the job with --fake (simulated API) or --dry-run (no network)."
)


AZURE_MISSING_KEY = (
    "No Azure OpenAI API key: set AZURE_OPENAI_API_KEY in the environment or in a .env file, "
    "or try the job with --fake (simulated API) or --dry-run (no network)."
)


class MissingKeyError(InputError):
    """Raised when a real run has no API key."""

    def __init__(self, message: str = MISSING_KEY) -> None:
        super().__init__(message)


class ConfigError(InputError):
    """Raised for settings that contradict each other or cannot be met."""


class JobChanged(InputError):
    """Raised by an export (or `read_answers`) of a job whose file changed since its items
    were answered, which would otherwise leave those items out without a word."""


def not_a_database(path: object, error: BaseException) -> ConfigError:
    """A --db file SQLite cannot use (not a database, unreadable): what to do instead."""
    return ConfigError(
        f"{path} cannot be used as the database ({error}): point --db or BATCHBOT_DB at "
        "another file, or move this one aside; nothing was sent."
    )


class RunStopped(BatchbotError):
    """Raised when a run stops early; what was answered is kept and a rerun resumes."""

    exit_code = EXIT_STOPPED


class RunRefused(RunStopped):
    """Raised when a run stops on a problem of its job or settings that every further request
    would meet too: answers already saved are kept, and after the fix a run goes on."""

    exit_code = EXIT_BAD_INPUT


class AuthError(RunRefused):
    """Raised on 401/403: every further request would fail the same way."""


class QuotaExhausted(RunStopped):
    """Raised on 429 insufficient_quota: the account is out of credit, waiting will not help."""


class ModelNotFound(RunRefused):
    """Raised on 404 model_not_found: the job names a model this key cannot use."""


class EndpointNotFound(RunRefused):
    """Raised on a 404 for the endpoint itself: the base URL is not an API's (or the server
    has no such endpoint, such as the Files and Batch APIs)."""


class BudgetExhausted(RunStopped):
    """Raised when the next request's worst-case cost no longer fits the run's or the day's
    budget (or cannot be known); nothing over budget was sent and a rerun resumes."""


class DailyBudgetExhausted(BudgetExhausted):
    """Raised like BudgetExhausted when the job has a daily budget (--max-cost-per-day), so
    waiting for the next UTC day helps too."""


class BudgetUnbounded(RunRefused):
    """Raised under a budget when a request's cost has no upper bound: its model has no
    price, or it sets no max_tokens. Raising the budget would not help; the message says what
    would. The job is checked for this before anything is sent (a ConfigError), so a run only
    meets it when a request changed on the way."""


class Interrupted(RunStopped):
    """Raised after SIGINT/SIGTERM once in-flight requests are finished and written."""


class ServerUnreachable(RunStopped):
    """Raised when no request could connect for longer than the outage wait (--outage-wait)."""


class DatabaseBusy(RunStopped):
    """Raised when another program holds the database's write lock for longer than we wait."""

    def __init__(self, path: str, wait_s: float) -> None:
        super().__init__(
            f"the database {path} stayed locked by another program for {wait_s:g} s (a sqlite3 "
            "shell or a tool in the middle of a write?): close it and run again; answers "
            "already saved are kept"
        )


WORKER_DIED = (
    "sending item {item} died of an unexpected error ({error}): the run stopped and the item "
    "stays pending, so a rerun sends it again. Please report it, with the traceback that "
    "--verbose or --log-file shows"
)


class WorkerDied(RunStopped):
    """Raised when the task sending an item dies of anything but the run's own stop: an
    exception no error policy expects (a bug) or a BaseException. Its item is left unwritten,
    so it stays pending and a rerun sends it again."""

    def __init__(self, item: str, error: BaseException) -> None:
        super().__init__(WORKER_DIED.format(item=item, error=described(error)))


FEED_FAILED_INPUT = (
    "{error} (found during the run: the file changed or became unreadable after it was "
    "checked); the run stopped and answers already saved are kept: fix the file, then run it"
)
FEED_FAILED_CHECKING = (
    "{error} (a job this large is checked while its first items are sent: the items before "
    "this line were sent and their answers are saved, this one and the rest were not); fix "
    "the file, then run it: what is answered is not sent again"
)
FEED_FAILED = (
    "reading the job's items failed ({error}): the run stopped and answers already saved are "
    "kept, so a rerun resumes. If it happens again, please report it with the traceback that "
    "--verbose or --log-file shows"
)


class FeedFailed(RunStopped):
    """Raised when reading the job's items fails during a run, after every item was checked,
    of something unexpected (a bug). Requests already sent are finished and written, batches
    already submitted stand; the items not sent stay pending for the next run."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(FEED_FAILED.format(error=described(error)))


class JobFileChanged(RunRefused):
    """Raised like FeedFailed when the job or inputs file changed or became unreadable after
    it was checked (the JobFileError's file, line and reason are in the message), or when a
    large job, checked while its first items are sent, has a problem further on (a broken
    line, or an item the run's settings refuse: see `run.preflight`)."""

    def __init__(self, error: InputError, *, checking: bool = False) -> None:
        """`checking`: the job was being checked while its first items were sent."""
        message = FEED_FAILED_CHECKING if checking else FEED_FAILED_INPUT
        super().__init__(message.format(error=error))


def feed_error(error: BaseException, *, checking: bool = False) -> FeedFailed | JobFileChanged:
    """The stop for items that could not be read to the end: the file's fault, or a bug;
    `checking`: the job was being checked while its first items were sent."""
    if isinstance(error, JobFileError) or (checking and isinstance(error, InputError)):
        return JobFileChanged(error, checking=checking)
    return FeedFailed(error)


class JobLocked(BatchbotError):
    """Raised before anything is sent when another run of the same job holds its lock."""

    exit_code = EXIT_LOCKED
