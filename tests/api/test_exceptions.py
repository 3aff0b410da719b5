"""The one exception tree at the API boundary: each fault the fake acts out becomes the same
batchbot error, policy row and stop (with its exit code) as the SDK's error always meant."""

from __future__ import annotations

from dataclasses import dataclass

import openai
import pytest

from batchbot import errors
from batchbot.api import policy
from batchbot.api.client import ChatClient
from batchbot.api.exceptions import (
    ApiError,
    MalformedResponse,
    NoConnection,
    StatusError,
    TimedOut,
    error_name,
)
from batchbot.api.outage import server_answered
from batchbot.api.policy import ErrorClass

MODEL = "gpt-4o-mini"
BODY = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 5}


@dataclass(frozen=True)
class Case:
    fault: str
    error: type[ApiError]
    name: str  # stored as the attempt's error_code when the API gives no code
    status: int | None
    row: ErrorClass
    stop: type[errors.RunStopped] | None = None  # what a run-fatal error stops the run with
    exit_code: int | None = None


CASES = [
    Case("500", StatusError, "InternalServerError", 500, ErrorClass.TRANSIENT),
    Case("503", StatusError, "InternalServerError", 503, ErrorClass.TRANSIENT),
    Case("429", StatusError, "RateLimitError", 429, ErrorClass.TRANSIENT),
    Case("resource_unavailable", StatusError, "RateLimitError", 429, ErrorClass.TRANSIENT),
    Case("context_length_exceeded", StatusError, "BadRequestError", 400, ErrorClass.ITEM_FATAL),
    Case("reset", NoConnection, "APIConnectionError", None, ErrorClass.TRANSIENT),
    Case("hang", TimedOut, "APITimeoutError", None, ErrorClass.TRANSIENT),
    Case("malformed", MalformedResponse, "MalformedResponse", 200, ErrorClass.TRANSIENT),
    Case("401", StatusError, "AuthenticationError", 401, ErrorClass.RUN_FATAL, errors.AuthError, 2),
    Case(
        "403", StatusError, "PermissionDeniedError", 403, ErrorClass.RUN_FATAL, errors.AuthError, 2
    ),
    Case(
        "model_not_found",
        StatusError,
        "NotFoundError",
        404,
        ErrorClass.RUN_FATAL,
        errors.ModelNotFound,
        2,
    ),
    Case(
        "insufficient_quota",
        StatusError,
        "RateLimitError",
        429,
        ErrorClass.RUN_FATAL,
        errors.QuotaExhausted,
        3,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.fault)
async def test_each_fault_becomes_one_batchbot_error(fake_api, case):
    """A fault the server acts out raises the tree's error, named as the SDK named it, in the
    policy row (and, when run-fatal, with the stop and exit code) that the fault always had."""
    client = ChatClient(api_key="sk-test", base_url=fake_api.url, timeout=0.5)
    fake_api.inject(case.fault)
    try:
        with pytest.raises(ApiError) as caught:
            await client.complete(BODY)
    finally:
        await client.close()
    exc = caught.value
    assert type(exc) is case.error
    assert (error_name(exc), exc.status_code) == (case.name, case.status)
    assert policy.classify_error(exc) is case.row
    assert server_answered(exc) is (case.status is not None)
    if case.fault != "malformed":
        assert isinstance(exc.__cause__, openai.APIError)  # the SDK's error stays in the chain
    if case.stop is not None:
        stop = policy.run_stop_error(exc, MODEL)
        assert (type(stop), stop.exit_code) == (case.stop, case.exit_code)
        assert "sk-test" not in str(stop)


async def test_429s_tell_pacing_from_capacity_and_carry_the_hint(fake_api):
    """A rate limit pauses the limiter with the server's hint; Flex's "resource unavailable"
    and an empty account do not."""
    client = ChatClient(api_key="sk-test", base_url=fake_api.url, timeout=5)
    seen = {}
    try:
        for fault in ("429", "resource_unavailable", "insufficient_quota"):
            fake_api.inject(fault)
            with pytest.raises(StatusError) as caught:
                await client.complete(BODY)
            seen[fault] = caught.value
    finally:
        await client.close()
    assert [policy.is_rate_limited(exc) for exc in seen.values()] == [True, False, False]
    assert policy.is_resource_unavailable(seen["resource_unavailable"])
    assert policy.server_wait_hint(seen["429"]) == pytest.approx(0.05)
    assert "x-ratelimit-remaining-requests" in policy.response_headers(seen["429"])


async def test_a_closed_port_is_no_connection(unused_tcp_port):
    """Nothing listening is a failure to connect (an outage's sign), not a timeout."""
    client = ChatClient(
        api_key="sk-test", base_url=f"http://127.0.0.1:{unused_tcp_port}/v1", timeout=5
    )
    try:
        with pytest.raises(NoConnection) as caught:
            await client.complete(BODY)
    finally:
        await client.close()
    assert error_name(caught.value) == "APIConnectionError"
    assert policy.classify_error(caught.value) is ErrorClass.TRANSIENT
