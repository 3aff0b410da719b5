"""One ask's attempts against the fake API: retried when a retry may cure it, a run-fatal
answer stopping the run, a 429 pausing the limiter for everyone."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import pytest
from tenacity import wait_none

from batchbot.api.client import ChatClient
from batchbot.config import Config
from batchbot.endpoints import CHAT
from batchbot.errors import AuthError
from batchbot.fake.faults import FAULT_429_WAIT
from batchbot.fake.server import FakeServer
from batchbot.jobs.job import Item
from batchbot.money.pricing import Pricer
from batchbot.outcome import FAILED, OK, PENDING
from batchbot.pace.limiter import Limiter, Settings
from batchbot.store.store import Store
from batchbot.sync.sending import Sender
from batchbot.sync.spending import Spending
from batchbot.sync.stats import RunStats
from batchbot.sync.stopping import StopSwitch
from batchbot.sync.tries import Tries
from batchbot.sync.wire import Wire
from batchbot.tokens.cost import cost_of

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 500}


@contextlib.asynccontextmanager
async def sender_for(api: FakeServer, tmp_path, max_attempts: int = 3) -> AsyncIterator[Sender]:
    """A Sender with no limits and no budget, retrying at once, against `api`."""
    store = Store.open(tmp_path / "a.db")
    client = ChatClient(api_key="sk-test", base_url=api.url, timeout=10.0)
    switch = StopSwitch(grace_s=0.0)
    spending = Spending(
        store, switch, Pricer(), job="job", endpoint=CHAT, run_id=1,
        db_path=tmp_path / "a.db", tier=None, limits=(None, None),
    )  # fmt: skip
    limiter = Limiter(Settings(rpm=None, tpm=None, concurrency=10))
    config = Config(max_attempts=max_attempts, retry_wait=wait_none())
    wire = Wire(CHAT, tier=None, cache_keys=False)
    try:
        yield Sender(
            client, limiter, wire, RunStats(job="job", total=1), spending, switch, config,
            sleep=_no_sleep,
        )  # fmt: skip
    finally:
        await client.close()
        store.close()


async def _no_sleep(seconds: float) -> None:
    return None


def tries() -> Tries:
    return Tries(Item("q1", BODY, request_hash="h1", line=1), cost_of(BODY, CHAT))


async def test_a_transient_error_is_tried_again_and_answered(fake_api, tmp_path) -> None:
    """A 500 then an answer: one outcome, ok, with both attempts recorded and counted."""
    fake_api.inject("500")
    async with sender_for(fake_api, tmp_path) as sender:
        outcome = await sender.answer(asked := tries())
    assert outcome.status == OK
    assert [attempt.error is None for attempt in outcome.attempts] == [False, True]
    assert (asked.counted, sender.stats.requests, sender.stats.retrying) == (2, 2, 0)


async def test_attempts_run_out_and_the_item_fails(fake_api, tmp_path) -> None:
    """As many 500s as attempts: the item fails; the run goes on."""
    fake_api.inject("500", times=2)
    async with sender_for(fake_api, tmp_path, max_attempts=2) as sender:
        outcome = await sender.answer(tries())
    assert (outcome.status, len(outcome.attempts)) == (FAILED, 2)
    assert not sender.switch.is_set


async def test_a_refused_key_stops_the_run_and_leaves_the_item_pending(fake_api, tmp_path) -> None:
    """A 401 is no fault of the item's: tried once, pending for the next run, the run stopped."""
    fake_api.inject("401")
    async with sender_for(fake_api, tmp_path) as sender:
        outcome = await sender.answer(tries())
    assert (outcome.status, len(outcome.attempts)) == (PENDING, 1)
    assert isinstance(sender.switch.reason, AuthError)


async def test_a_429_pauses_the_whole_limiter(fake_api, tmp_path) -> None:
    """A rate-limit 429 pauses every worker's turn, not only the refused one, then answers."""
    fake_api.inject("429")
    async with sender_for(fake_api, tmp_path) as sender:
        paused: list[float] = []
        pause = sender.limiter.pause

        def recorded(seconds: float) -> None:
            paused.append(seconds)
            pause(seconds)

        sender.limiter.pause = recorded  # type: ignore[method-assign]
        outcome = await sender.answer(tries())
    assert outcome.status == OK
    assert FAULT_429_WAIT in paused  # the server's hint, for the whole limiter


@pytest.fixture(autouse=True)
def _quiet(fake_api) -> None:
    """Answers come at once: these tests are about the attempts, not the latency."""
    fake_api.latency_ms = 0
