"""The one error policy (DESIGN.md, "Errors"), built from tenacity's stock parts.

transient   429 rate_limit_exceeded, 408, 409, 5xx, timeouts, resets, unparseable bodies
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

import openai
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_after_delay,
    wait_none,
    wait_random_exponential,
)
from tenacity.wait import wait_base

from batchbot import errors
from batchbot.api.client import MalformedResponse
from batchbot.pace.headers import wait_hint

DEFAULT_MAX_ATTEMPTS = 6
DEFAULT_MAX_RETRY_SECONDS = 600.0
BACKOFF_MULTIPLIER_S = 0.5
BACKOFF_MAX_S = 60.0

TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
QUOTA_CODE = "insufficient_quota"


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    RUN_FATAL = "run-fatal"
    ITEM_FATAL = "item-fatal"


def classify_error(exc: BaseException) -> ErrorClass:
    """Which row of the policy table an exception from a request falls in."""
    if isinstance(exc, openai.APIStatusError):
        return classify_status(exc.status_code, exc.code)
    if isinstance(exc, openai.APIConnectionError | MalformedResponse):
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
    """A 429 that is about pacing (the whole limiter should pause), not about billing."""
    return isinstance(exc, openai.RateLimitError) and exc.code != QUOTA_CODE


def response_headers(exc: BaseException) -> Mapping[str, str]:
    if isinstance(exc, openai.APIStatusError):
        return exc.response.headers
    if isinstance(exc, MalformedResponse):
        return exc.headers
    return {}


def server_wait_hint(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from retry-after(-ms) or "try again in 90ms"."""
    message = exc.message if isinstance(exc, openai.APIError) else str(exc)
    return wait_hint(response_headers(exc), message)


AUTH_FAILED = (
    "The API rejected the key ({status}): check OPENAI_API_KEY in the environment or .env, "
    "then rerun; answered items are kept."
)
QUOTA_EXHAUSTED = (
    "The account is out of credit (429 insufficient_quota): add credit or raise the usage "
    "limit in the OpenAI billing settings, then rerun; answered items are kept."
)
MODEL_NOT_FOUND = (
    "The model {model!r} does not exist or this key cannot use it (404): fix model: in the job "
    "or pass --model."
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
        return errors.ModelNotFound(MODEL_NOT_FOUND.format(model=model))
    return errors.RunStopped(NOT_FOUND)


class wait_for_server(wait_base):
    """The server's wait hint (with a little jitter) when it gave one, else `fallback`."""

    def __init__(self, fallback: wait_base) -> None:
        self.fallback = fallback

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        hint = server_wait_hint(exc) if exc else None
        if hint is not None:
            return hint * (1 + 0.1 * random.random())
        return float(self.fallback(retry_state))


_testing = False


def set_testing(on: bool) -> None:
    """Turn backoff waits off (the attempts and their order stay the same)."""
    global _testing
    _testing = on


def retrying(
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    before_sleep: Callable[[RetryCallState], Awaitable[None] | None] | None = None,
) -> AsyncRetrying:
    """Retry transient errors only; re-raise the last error when attempts or time run out."""
    backoff = wait_random_exponential(multiplier=BACKOFF_MULTIPLIER_S, max=BACKOFF_MAX_S)
    return AsyncRetrying(
        retry=retry_if_exception(lambda exc: classify_error(exc) is ErrorClass.TRANSIENT),
        stop=stop_after_attempt(max_attempts) | stop_after_delay(max_seconds),
        wait=wait_none() if _testing else wait_for_server(backoff),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
