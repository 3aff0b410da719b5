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
import sys
from collections.abc import Awaitable, Callable, Mapping
from enum import StrEnum
from typing import TypeVar

import openai
from tenacity import (
    AsyncRetrying,
    DoAttempt,
    DoSleep,
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
from batchbot.api.replies import ResponseFailed
from batchbot.money.pricing import did_you_mean
from batchbot.pace.headers import wait_hint

DEFAULT_MAX_RETRY_SECONDS = 600.0
BACKOFF_MULTIPLIER_S = 0.5
BACKOFF_MAX_S = 60.0

TRANSIENT_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
QUOTA_CODE = "insufficient_quota"
RESOURCE_UNAVAILABLE = "resource unavailable"

T = TypeVar("T")


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
    if isinstance(exc, ResponseFailed) and exc.code == "server_error":
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
    return (
        isinstance(exc, openai.RateLimitError)
        and exc.code != QUOTA_CODE
        and not is_resource_unavailable(exc)
    )


def is_resource_unavailable(exc: BaseException) -> bool:
    """Flex processing's 429 "Resource Unavailable": OpenAI had no Flex capacity for this
    request right now. It is not billed and says nothing about our pace: the request is
    retried with backoff, and the rest of the run goes on at the same pace."""
    if not isinstance(exc, openai.RateLimitError):
        return False
    said = " ".join(str(part or "") for part in (exc.code, exc.type, exc.message))
    return RESOURCE_UNAVAILABLE in said.lower().replace("_", " ")


def response_headers(exc: BaseException) -> Mapping[str, str]:
    if isinstance(exc, openai.APIStatusError):
        return exc.response.headers
    if isinstance(exc, MalformedResponse | ResponseFailed):
        return exc.headers
    return {}


def server_wait_hint(exc: BaseException) -> float | None:
    """Seconds the server asked us to wait, from retry-after(-ms) or "try again in 90ms"."""
    message = exc.message if isinstance(exc, openai.APIError) else str(exc)
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
    max_attempts: int,
    max_seconds: float = DEFAULT_MAX_RETRY_SECONDS,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> AsyncRetrying:
    """Retry transient errors only; re-raise the last error when attempts or time run out."""
    backoff = wait_random_exponential(multiplier=BACKOFF_MULTIPLIER_S, max=BACKOFF_MAX_S)
    return AsyncRetrying(
        retry=retry_if_exception(lambda exc: classify_error(exc) is ErrorClass.TRANSIENT),
        stop=stop_after_attempt(max_attempts) | stop_after_delay(max_seconds),
        wait=wait_none() if _testing else wait_for_server(backoff),
        sleep=sleep,
        reraise=True,
    )


async def retry_after_first(
    policy: AsyncRetrying, first_error: Exception, attempt: Callable[[float], Awaitable[T]]
) -> T:
    """Go on with `policy` after a first attempt made without it failed with `first_error`.

    Most requests are answered the first time, and setting tenacity up costs more than the
    rest of our work on an item, so the first attempt is made bare. tenacity takes over from
    its error (the same stop, wait and count as if it had made that attempt itself) and calls
    `attempt` with the seconds it waited before each further try. Raises the last error.
    """
    retrying = policy.copy()  # tenacity keeps a call's state on the object, so one per item
    retrying.begin()
    state = RetryCallState(retrying, fn=None, args=(), kwargs={})
    state.set_exception((type(first_error), first_error, first_error.__traceback__))
    wait_s = 0.0
    while True:
        action = await retrying.iter(state)
        if isinstance(action, DoAttempt):
            try:
                state.set_result(await attempt(wait_s))
            except Exception:
                state.set_exception(sys.exc_info())  # type: ignore[arg-type]
        elif isinstance(action, DoSleep):
            wait_s = float(action)
            state.prepare_for_next_attempt()
            await retrying.sleep(action)  # type: ignore[misc]  # the async sleep it was built with
        else:
            return action  # type: ignore[no-any-return]
