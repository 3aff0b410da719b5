"""One line of a finished batch's output or error file, read into the Outcome a sync run writes.

    {"id": "batch_req_…", "custom_id": "q1", "response": {"status_code": 200, "request_id": "…",
     "body": {chat.completion}}, "error": null}                      -> an answer (checked later)
    {..., "response": {"status_code": 400, "body": {"error": {...}}}, "error": null}
                                                                     -> the error policy
    {..., "response": null, "error": {"code": "batch_expired", "message": "…"}}
                                                                     -> pending: it never ran

Failed lines follow the same policy as a sync request (policy.classify_status): item errors
fail the item; transient ones leave it pending for the next run until `max_attempts` lines have
failed; run-fatal ones (bad key, no quota, unknown model) leave it pending and stop the run. A
failed line that re-asked about an item leaves the item with the answer it had.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchbot.answers.reask import Reask, allowance
from batchbot.api import policy
from batchbot.api.exceptions import ResponseFailed
from batchbot.api.replies import answered, reply_from
from batchbot.endpoints import CHAT
from batchbot.errors import RunStopped
from batchbot.jobs.job import Item
from batchbot.outcome import FAILED, PENDING, Attempt, Outcome, utc_now

NOT_RUN_CODES = frozenset({"batch_expired", "batch_cancelled"})  # the line never ran
MALFORMED = "malformed"  # a 200 whose body is no chat completion: transient, as in sync runs

# What the openai client would have raised for the status: a sync run's error_code when the
# API gives no code of its own, so both modes group the same failures together.
STATUS_ERRORS = {
    400: "BadRequestError",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    409: "ConflictError",
    422: "UnprocessableEntityError",
    429: "RateLimitError",
}


class BatchLineError(Exception):
    """A failed line of a batch's error file, shaped like the API error it records."""

    def __init__(self, status_code: int, code: str | None, message: str) -> None:
        super().__init__(message)
        self.status_code, self.code, self.message = status_code, code, message

    @property
    def error_code(self) -> str | None:
        if self.code or not self.status_code:
            return self.code
        if self.status_code >= 500:
            return "InternalServerError"
        return STATUS_ERRORS.get(self.status_code, "APIStatusError")

    @property
    def text(self) -> str:
        return f"{self.status_code}: {self.message}" if self.status_code else self.message


@dataclass(frozen=True, slots=True)
class LineResult:
    """The row to write for one line, and the stop it calls for (run-fatal errors only)."""

    outcome: Outcome
    stop: RunStopped | None = None


def read_line(
    line: Mapping[str, Any],
    item: Item,
    *,
    attempts_before: int,
    max_attempts: int,
    endpoint: str = CHAT,
    ask: Reask | None = None,
) -> LineResult:
    """The outcome of `item` from its result line; `attempts_before` counts earlier tries,
    `ask` is the re-ask the line answers (None: the item's first ask)."""
    now = utc_now()
    response, error = line.get("response"), line.get("error")
    reason = ask.reason if ask else None
    if response and response.get("status_code") == 200:
        try:
            reply = reply_from(endpoint, response["body"], {})
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            failure = BatchLineError(200, MALFORMED, f"unparseable response body: {exc!r}")
            return _failed(item, failure, attempts_before, max_attempts, now, ask)
        except ResponseFailed as exc:
            failure = BatchLineError(200, exc.code, exc.message)
            return _failed(item, failure, attempts_before, max_attempts, now, ask)
        outcome = answered(
            item,
            reply,
            created_at=now,
            attempts=(Attempt(1, now, 0.0, status_code=200, reask=reason),),
            max_tokens=ask.max_tokens if ask else allowance(item.body, endpoint),
            reask=reason,
            before=ask.previous.totals if ask else None,
        )
        return LineResult(outcome)
    if response:
        body = (response.get("body") or {}).get("error") or {}
        failure = BatchLineError(
            int(response.get("status_code") or 500),
            body.get("code"),
            str(body.get("message") or "no message"),
        )
    else:
        error = error or {}
        code = error.get("code")
        failure = BatchLineError(0, code, str(error.get("message") or code or "no message"))
    return _failed(item, failure, attempts_before, max_attempts, now, ask)


def _failed(
    item: Item,
    failure: BatchLineError,
    attempts_before: int,
    max_attempts: int,
    now: str,
    ask: Reask | None,
) -> LineResult:
    status, stop = FAILED, None
    if failure.code in NOT_RUN_CODES:
        status = PENDING
    elif failure.status_code:
        kind = (
            policy.ErrorClass.TRANSIENT
            if failure.code == MALFORMED
            else policy.classify_status(failure.status_code, failure.code)
        )
        if kind is policy.ErrorClass.RUN_FATAL:
            status, stop = PENDING, policy.run_stop_error(failure, str(item.body.get("model")))
        elif kind is policy.ErrorClass.TRANSIENT and attempts_before + 1 < max_attempts:
            status = PENDING
    attempt = Attempt(
        1,
        now,
        0.0,
        status_code=failure.status_code or None,
        error_code=failure.error_code,
        error=failure.text,
        reask=ask.reason if ask else None,
    )
    if ask is not None:  # a re-ask that got no answer: the item keeps the one it has
        status = ask.previous.status
    outcome = Outcome(
        item,
        status,
        now,
        now,
        attempts=(attempt,),
        error=failure.text,
        error_code=failure.error_code,
        reask=ask.reason if ask else None,
    )
    return LineResult(outcome, stop)
