"""The retry policy built from tenacity's public parts, with the wait passed in: the same
attempts, in the same order, whatever the wait."""

from __future__ import annotations

import pytest
from tenacity import RetryCallState, wait_fixed, wait_none

from batchbot.api import policy
from batchbot.api.exceptions import NoConnection, StatusError

DOWN = StatusError("Error code: 503 - down", status_code=503)
BAD = StatusError("Error code: 400 - bad", status_code=400)
KEY = StatusError("Error code: 401 - no", status_code=401)


class Flaky:
    """An attempt that fails with `error` its first `failures` times, then answers."""

    def __init__(self, error: Exception, failures: int) -> None:
        self.error, self.failures = error, failures
        self.waits: list[float] = []

    async def __call__(self, wait_s: float) -> str:
        self.waits.append(wait_s)
        if len(self.waits) <= self.failures:
            raise self.error
        return "answer"


@pytest.mark.parametrize(("error", "tries"), [(DOWN, 4), (BAD, 1), (KEY, 1)])
async def test_only_transient_errors_are_retried_up_to_max_attempts(error, tries):
    """A transient error is tried max_attempts times, then raised; an item- or run-fatal one
    once."""
    flaky = Flaky(error, failures=99)

    async def send() -> None:
        async for attempt in policy.retrying(max_attempts=4, wait=wait_none()):
            with attempt:
                await flaky(0.0)

    with pytest.raises(StatusError) as caught:
        await send()
    assert caught.value is error
    assert len(flaky.waits) == tries


async def test_retry_after_first_counts_the_bare_first_attempt():
    """After a bare first attempt, the policy makes max_attempts - 1 more, each after the
    injected wait, on the injected sleep, and raises the last error."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    retrying = policy.retrying(max_attempts=4, wait=wait_fixed(0.25), sleep=sleep)
    flaky = Flaky(NoConnection("Connection error."), failures=99)
    with pytest.raises(NoConnection):
        await policy.retry_after_first(retrying, DOWN, flaky)
    assert flaky.waits == slept == [0.25, 0.25, 0.25]


async def test_retry_after_first_returns_the_first_answer_and_leaves_the_policy_fresh():
    """An answer ends the retries; the same policy object serves the next item from scratch."""
    retrying = policy.retrying(max_attempts=3, wait=wait_none())
    first = Flaky(DOWN, failures=1)
    assert await policy.retry_after_first(retrying, DOWN, first) == "answer"
    assert first.waits == [0.0, 0.0]
    second = Flaky(DOWN, failures=1)
    assert await policy.retry_after_first(retrying, DOWN, second) == "answer"
    assert len(second.waits) == 2


async def test_a_fatal_first_error_is_not_tried_again():
    """A first error the policy does not retry is raised as it is, nothing sent again."""
    flaky = Flaky(BAD, failures=0)
    with pytest.raises(StatusError) as caught:
        await policy.retry_after_first(policy.retrying(max_attempts=6), KEY, flaky)
    assert caught.value is KEY
    assert flaky.waits == []


def test_the_policys_wait_takes_the_servers_hint():
    """The policy's own wait is the server's retry-after when it gave one, a little jittered."""
    limited = StatusError("Rate limit reached", status_code=429, headers={"retry-after": "2"})
    state = RetryCallState(policy.retrying(max_attempts=2), fn=None, args=(), kwargs={})
    state.set_exception((StatusError, limited, None))
    assert 2.0 <= policy.wait_for_server(wait_none())(state) <= 2.2
