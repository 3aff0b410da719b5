"""The one error policy (docs/troubleshooting.md, "Errors"), built from tenacity's stock parts.

transient   429 rate_limit_exceeded, 408, 409, 5xx, timeouts, resets, unparseable bodies,
            a response that failed with server_error, Flex's 429 resource unavailable
            -> retry with jittered exponential backoff, or the server's own wait hint
run-fatal   401, 403, 404, 429 insufficient_quota
            -> stop sending at once; never retried
item-fatal  400, 413, 422 and any other 4xx
            -> that item fails with the API's message; the run goes on
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import TypeGuard, TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from batchbot import errors
from batchbot.api.exceptions import ApiError, StatusError
from batchbot.money.pricing import did_you_mean
from batchbot.pace.headers import wait_hint

DEFAULT_MAX_RETRY_SECONDS = 600.0
BACKOFF_MULTIPLIER_S = 0.5
BACKOFF_MAX_S = 60.0

TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
QUOTA_CODE = "insufficient_quota"
RESOURCE_UNAVAILABLE = "resource unavailable"

T = TypeVar("T")
# How long to wait before a retry, as tenacity's `wait=` takes it (any of its strategies).
Wait = Callable[[RetryCallState], float]


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    RUN_FATAL = "run-fatal"
    ITEM_FATAL = "item-fatal"


def classify_error(exc: BaseException) -> ErrorClass:
    """Which row of the policy table an exception from a request falls in."""
    if isinstance(exc, StatusError):
        return classify_status(exc.status_code, exc.code)
    if isinstance(exc, ApiError) and exc.transient:
        return ErrorClass.TRANSIENT
    return ErrorClass.ITEM_FATAL


def classify_status(status_code: int, code: str | None) -> ErrorClass:
    """The policy row of an HTTP error answer; a Batch API error line is classified by this."""
    if code == QUOTA_CODE or status_code in (401, 403, 404):
        return ErrorClass.RUN_FATAL
    if status_code in TRANSIENT_STATUSES or status_code >= 500:
        return ErrorClass.TRANSIENT
    return ErrorClass.ITEM_FATAL


def is_rate_limited(exc: BaseException) -> bool:
    """A 429 that is about pacing (the whole limiter should pause), not about billing, nor
    about Flex's capacity."""
    return _is_429(exc) and exc.code != QUOTA_CODE and not is_resource_unavailable(exc)


def is_resource_unavailable(exc: BaseException) -> bool:
    """Flex processing's 429 "Resource Unavailable": OpenAI had no Flex capacity for this
    request right now. It is not billed and says nothing about our pace: the request is
    retried with backoff, and the rest of the run goes on at the same pace."""
    if not _is_429(exc):
        return False
    said = " ".join(str(part or "") for part in (exc.code, exc.error_type, exc.message))
    return RESOURCE_UNAVAILABLE in said.lower().replace("_", " ")


def _is_429(exc: BaseException) -> TypeGuard[StatusError]:
    return isinstance(exc, StatusError) and exc.status_code == 429


def response_headers(exc: BaseException) -> Mapping[str, str]:
    return exc.headers if isinstance(exc, ApiError) else {}


def server_wait_hint(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from retry-after(-ms) or "try again in 90ms"."""
    message = exc.message if isinstance(exc, ApiError) else str(exc)
    return wait_hint(response_headers(exc), message)


AUTH_FAILED = (
    "The API rejected the key ({status}): check OPENAI_API_KEY (AZURE_OPENAI_API_KEY for "
    "Azure) in the environment or .env, and that the key may use this model; answered items "
    "are kept."
)
QUOTA_EXHAUSTED = (
    "The account is out of credit (429 insufficient_quota): add credit or raise the usage "
    "limit in the OpenAI billing settings, then rerun; answered items are kept."
)
MODEL_NOT_FOUND = (
    "The model {model!r} does not exist or this key cannot use it (404){suggestion}: fix "
    "model: in the job or pass --model; answered items are kept."
)
NOT_FOUND = (
    "The server answered 404 for /chat/completions: check --base-url / OPENAI_BASE_URL "
    "(it usually ends in /v1)."
)


def run_stop_error(exc: BaseException, model: str) -> errors.RunStopped:
    """The friendly RunStopped for a run-fatal exception."""
    status = getattr(exc, "status_code", None)
    code = getattr(exc, "code", None)
    if code == QUOTA_CODE:
        return errors.QuotaExhausted(QUOTA_EXHAUSTED)
    if status in (401, 403):
        return errors.AuthError(AUTH_FAILED.format(status=f"{status} {code or ''}".strip()))
    if code == "model_not_found":
        return errors.ModelNotFound(
            MODEL_NOT_FOUND.format(model=model, suggestion=did_you_mean(model))
        )
    return errors.EndpointNotFound(NOT_FOUND)


class wait_for_server:
    """The server's wait hint (with a little jitter) when it gave one, else `fallback`."""

    def __init__(self, fallback: Wait) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hint = server_wait_hint(exc) if exc else None
        if hint is not None:
            return hint * (1 + 0.1 * random.random())
        return float(self.fallback(retry_state))


def default_wait() -> Wait:
    """The policy's wait: the server's hint, else jittered exponential backoff."""
    return wait_for_server(
        wait_random_exponential(multiplier=BACKOFF_MULTIPLIER_S, max=BACKOFF_MAX_S)
    )


def retrying(
    *,
    max_attempts: int,
    max_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
    wait: Wait | None = None,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncRetrying:
    """Retry transient errors only; re-raise the last error when attempts or time run out.

    `wait`: seconds before each retry, any tenacity wait strategy (`wait_none()` in tests of
    the attempts alone); None: `default_wait()`. `sleep`: how those seconds pass.
    """
    return AsyncRetrying(
        retry=retry_if_exception(lambda exc: classify_error(exc) is ErrorClass.TRANSIENT),
        stop=stop_after_attempt(max_attempts) | stop_after_delay(max_seconds),
        wait=default_wait() if wait is None else wait,
        sleep=sleep,
        reraise=True,
    )


async def retry_after_first(
    policy: AsyncRetrying, first_error: Exception, attempt: Callable[[float], Awaitable[T]]
) -> T:
    """Go on with `policy` after a first attempt made without it failed with `first_error`.

    Most requests are answered the first time, and setting tenacity up costs more than the
    rest of our work on an item, so the first attempt is made bare. tenacity's own first
    attempt only raises `first_error` again, so the same stop, wait and count follow as if it
    had made that attempt itself; then it calls `attempt` with the seconds it waited before
    each further try. Raises the last error.
    """
    async for trying in policy.copy():  # tenacity keeps a call's state on the object
        with trying:
            state = trying.retry_state
            if state.attempt_number == 1:
                raise first_error
            return await attempt(state.upcoming_sleep)
    raise AssertionError("tenacity either returns an attempt's result or raises")
