"""How a request to the API can fail, in batchbot's words, whatever the SDK or transport said.

openai's exceptions (and through them httpx2's and aiohttp's) become these where they enter,
in this package (`mapped_errors`, after httpx's `map_exceptions`), so nothing above `api`
imports or catches an SDK type:

    ApiError                   a request failed; never raised itself (the SDK's other errors)
    ├── NoConnection           the request reached no server: refused, reset, unreachable
    ├── TimedOut               no answer within the request's timeout
    ├── StatusError            the server answered an HTTP error status (4xx, 5xx)
    ├── MalformedResponse      it answered 200 with a body that is not the endpoint's answer
    └── ResponseFailed         a Responses answer whose status is `failed`

Each carries what the policy (policy.py) and the stored attempt need: `status_code`, the API's
`code`, `message` and `headers`, and `name`, the kind stored as an attempt's error_code when
the API gave no code: the SDK's class name (InternalServerError, APIConnectionError, ...), so
rows read the same whichever layer named the error.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import aiohttp
import openai

NO_HEADERS: Mapping[str, str] = {}


class ApiError(Exception):
    """Base of the tree; raised itself for an SDK error none of its children describes."""

    transient = False  # worth another try (policy.py): the next attempt may well succeed

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        status_code: int | None = None,
        code: str | None = None,
        error_type: str | None = None,
        headers: Mapping[str, str] = NO_HEADERS,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name or type(self).__name__
        self.status_code = status_code
        self.code = code
        self.error_type = error_type
        self.headers = headers


class NoConnection(ApiError):
    """Raised when the request reached no server: refused, reset, a name that does not resolve."""

    transient = True


class TimedOut(ApiError):
    """Raised when the server took longer than the request's timeout to answer."""

    transient = True


class StatusError(ApiError):
    """Raised for an HTTP error status; policy.classify_status says what it means."""

    status_code: int


class MalformedResponse(ApiError):
    """Raised when the server answered 200 with a body that is not the endpoint's answer."""

    transient = True

    def __init__(self, reason: str, headers: Mapping[str, str]) -> None:
        super().__init__(f"unparseable response body: {reason}", status_code=200, headers=headers)


class ResponseFailed(ApiError):
    """Raised for a Responses answer whose status is `failed`: the model could not produce it.
    Only OpenAI's own `server_error` is worth another try."""

    def __init__(self, error: Mapping[str, Any] | None, headers: Mapping[str, str]) -> None:
        error = error or {}
        code = str(error.get("code") or "response_failed")
        message = f"the response failed: {error.get('message') or code}"
        super().__init__(message, status_code=200, code=code, headers=headers)
        self.transient = code == "server_error"


def error_name(exc: BaseException) -> str:
    """The kind of error `exc` is, as attempts store it (see the module docstring)."""
    return exc.name if isinstance(exc, ApiError) else type(exc).__name__


@contextlib.contextmanager
def mapped_errors() -> Iterator[None]:
    """Raise the SDK's errors from the block as the ApiError that says what happened."""
    try:
        yield
    except openai.APIError as exc:
        raise translated(exc) from exc


def translated(exc: openai.APIError) -> ApiError:
    """The ApiError for one of openai's, its message and the API's code and headers kept."""
    said: dict[str, Any] = {"name": type(exc).__name__, "code": exc.code, "error_type": exc.type}
    if isinstance(exc, openai.APIStatusError):
        headers = exc.response.headers
        return StatusError(exc.message, status_code=exc.status_code, headers=headers, **said)
    if isinstance(exc, openai.APIConnectionError):
        if _reached_no_server(exc):
            return NoConnection(exc.message, **{**said, "name": openai.APIConnectionError.__name__})
        return TimedOut(exc.message, **said)
    return ApiError(exc.message, status_code=getattr(exc, "status_code", None), **said)


def _reached_no_server(exc: openai.APIConnectionError) -> bool:
    """Whether a connection error is a failure to connect rather than a timeout.

    openai's aiohttp transport reports every aiohttp connection error as a connect timeout,
    so look at the error it wrapped.
    """
    for cause in causes(exc):
        if isinstance(cause, aiohttp.ClientConnectionError):
            return not isinstance(cause, TimeoutError)
    return not isinstance(exc, openai.APITimeoutError)


def causes(exc: BaseException) -> Iterator[BaseException]:
    """The errors `exc` wraps, each wrapping the next, down to what the operating system said."""
    seen = {id(exc)}
    while (cause := exc.__cause__ or exc.__context__) is not None and id(cause) not in seen:
        seen.add(id(cause))
        yield cause
        exc = cause
