"""The error policy: built from tenacity's public parts with the wait passed in (the same
attempts, in the same order, whatever the wait), and its waits with backoff on, taken on an
injected sleep instead of the clock."""

from __future__ import annotations

import sqlite3

import pytest
from tenacity import RetryCallState, wait_fixed, wait_none

from batchbot.api import policy
from batchbot.api.exceptions import NoConnection, StatusError
from batchbot.config import Config
from batchbot.jobs.job import load_job
from batchbot.limits.limits import PRESET, Limit, RateLimits
from batchbot.run.runner import run_job_async

# The policy's own waits, made before the suite's fixture sets the default to none.
POLICY_WAIT = policy.default_wait()

JOB = (
    "model: gpt-4o-mini\nprompts:\n"
    "  - {id: good, user: First question}\n"
    "  - {id: bad, user: 'Break me [[fake:%s]]'}\n"
)


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


@pytest.mark.parametrize(
    ("marker", "ceilings_s"),
    [
        ("500x2", [0.5, 1.0]),  # jittered exponential backoff: up to 0.5 s, then up to 1 s
        ("429x2", [0.055, 0.055]),  # the server's hint (50 ms) plus at most 10 % jitter
    ],
)
async def test_waits_are_the_policys_and_go_to_the_sleep(
    tmp_path, write_job, fake_api, marker, ceilings_s
):
    """Each retry waits what the policy says (backoff, or the 429's hint) on the injected
    sleep, and the attempts table records the same waits."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    job = load_job(write_job("faults.yaml", JOB % marker))
    config = Config(
        db_path=tmp_path / "batchbot.db",
        api_key="sk-test",
        base_url=fake_api.url,
        limits=RateLimits(Limit(60_000, PRESET), Limit(100_000_000, PRESET)),
        concurrency=1,
        retry_wait=POLICY_WAIT,
    )
    summary = await run_job_async(job, config, sleep=sleep, handle_signals=False)
    assert (summary.ok, summary.failed) == (2, 0)
    with sqlite3.connect(config.db_path) as conn:
        waits_ms = [
            wait
            for (wait,) in conn.execute(
                "SELECT a.wait_before_ms FROM attempts a JOIN requests r ON r.id = a.request_id "
                "WHERE r.item_id = 'bad' ORDER BY a.number"
            )
        ]
    assert len(waits_ms) == 3
    assert waits_ms[0] == 0
    floor = 0.05 if marker == "429x2" else 0.0
    for wait_ms, ceiling in zip(waits_ms[1:], ceilings_s, strict=True):
        assert floor <= wait_ms / 1000 <= ceiling
        assert wait_ms / 1000 == pytest.approx(min(slept, key=lambda s: abs(s - wait_ms / 1000)))
