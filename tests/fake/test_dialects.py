"""The fake server's rate-limit header dialects, and batchbot run against each of them."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import openai
import pytest
from click.testing import Result

from batchbot.fake.server import FakeServer
from batchbot.pace.dialect import NOTES
from batchbot.pace.limiter import Limiter

MODEL = "gpt-4o-mini"
HI = [{"role": "user", "content": "What is a chatbot?"}]
# limit, remaining, reset: each for requests, then tokens
RATE_HEADERS = tuple(
    f"x-ratelimit-{field}-{unit}"
    for field in ("limit", "remaining", "reset")
    for unit in ("requests", "tokens")
)
TLS = ssl.create_default_context()


class Clock:
    """A clock the server's limits read and the test winds forward: 20 s before a minute turns."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextlib.asynccontextmanager
async def serving(**settings: Any) -> AsyncIterator[openai.AsyncOpenAI]:
    """A server of its own in the test's loop, and the real client pointed at it."""
    server = FakeServer(**settings)
    await server.start()
    http = openai.DefaultAsyncHttpxClient(verify=TLS)
    client = openai.AsyncOpenAI(
        base_url=server.url, api_key="sk-test", max_retries=0, http_client=http
    )
    try:
        yield client
    finally:
        await client.close()
        await server.close()


async def rate_headers(client: openai.AsyncOpenAI) -> dict[str, str]:
    raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    return {name: value for name in RATE_HEADERS if (value := raw.headers.get(name)) is not None}


async def test_fixed_minute_counts_down_and_jumps_back_when_the_minute_turns():
    """LiteLLM's way: limit and remaining, no reset; the count returns to the limit at :00."""
    clock = Clock()
    async with serving(rpm=3, tpm=10_000, dialect="fixed-minute", clock=clock) as client:
        first = await rate_headers(client)
        assert set(first) == set(RATE_HEADERS[:4])
        assert (first["x-ratelimit-limit-requests"], first["x-ratelimit-remaining-requests"]) == (
            "3",
            "2",
        )
        clock.now += 15.0  # nothing refills within the minute
        assert (await rate_headers(client))["x-ratelimit-remaining-requests"] == "1"
        assert (await rate_headers(client))["x-ratelimit-remaining-requests"] == "0"
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI)
        assert "Please try again in 5s." in caught.value.message  # until the minute turns
        clock.now = 1020.0
        assert (await rate_headers(client))["x-ratelimit-remaining-requests"] == "2"


async def test_no_headers_dialect_still_refuses():
    """vLLM's way: not one x-ratelimit-* header, on answers or on 429s; the limit still holds."""
    async with serving(rpm=1, dialect="none", clock=Clock()) as client:
        assert await rate_headers(client) == {}
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI)
    assert not any(name.startswith("x-ratelimit") for name in caught.value.response.headers)


async def test_ten_second_windows_refuse_a_burst_the_minute_would_take():
    """Azure's way: 600 RPM held over 10 s windows lets 100 through at once, not 600."""
    async with serving(rpm=600, windows="sliding", sliding_s=10, clock=Clock()) as client:
        for _ in range(100):
            await client.chat.completions.create(model=MODEL, messages=HI)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model=MODEL, messages=HI)


async def test_the_dialect_is_set_over_http(fake_api: FakeServer):
    """POST /_fake/limits takes a dialect, refuses an unknown one, and reset restores OpenAI's."""
    base = fake_api.url.removesuffix("/v1")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/_fake/limits", json={"rpm": 60, "dialect": "none"}) as r:
            assert r.status == 200
        async with http.post(f"{base}/_fake/limits", json={"rpm": 60, "dialect": "azure"}) as r:
            assert r.status == 400
            assert "dialect must be one of openai, fixed-minute, none" in await r.text()
        body = {"model": MODEL, "messages": HI}
        headers = {"Authorization": "Bearer sk-test"}
        async with http.post(f"{base}/v1/chat/completions", json=body, headers=headers) as r:
            assert not any(name.lower().startswith("x-ratelimit") for name in r.headers)
    fake_api.reset()
    assert "x-ratelimit-reset-requests" in fake_api.gate.headers()


@pytest.fixture
def paces(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The pace batchbot's limiter aimed at as it let each request through."""
    seen: list[float] = []
    wait = Limiter.wait_for_capacity

    async def spy(self: Limiter, *args: Any, **kwargs: Any) -> None:
        await wait(self, *args, **kwargs)
        seen.append(self.pace)

    monkeypatch.setattr(Limiter, "wait_for_capacity", spy)
    return seen


ITEMS = 24
RPM = 1200  # 20 a second: a short run, paced all the same


@pytest.mark.parametrize(
    ("dialect", "sliding_s", "spent", "note", "floor"),
    [
        ("openai", None, 0, None, 1.0),
        ("openai", 10.0, 0, None, 1.0),
        ("fixed-minute", None, 0, NOTES["fixed-minute"], 1.0),
        # Another client spent half the minute: what is left is spread over what is left of
        # the minute, which at worst (the minute just begun) is about half the pace.
        ("fixed-minute", None, RPM // 2, NOTES["fixed-minute"], 0.45),
        ("none", None, 0, NOTES["none"], 1.0),
        ("none", 10.0, 0, NOTES["none"], 1.0),
    ],
    ids=["openai", "openai-10s", "fixed-minute", "fixed-minute-part-used", "none", "none-10s"],
)
def test_a_run_against_each_dialect(
    dialect: str,
    sliding_s: float | None,
    spent: int,
    note: str | None,
    floor: float,
    fake_api: FakeServer,
    paces: list[float],
    write_job: Callable[[str, str], Path],
    invoke: Callable[..., Result],
):
    """Every item answered, no 429, no slowing but for what is left, the inference said once."""
    windows = "sliding" if sliding_s else "buckets"
    fake_api.set_limits(rpm=RPM, tpm=None, dialect=dialect, windows=windows, sliding_s=sliding_s)
    fake_api.spend(requests=spent)
    prompts = "\n".join(f"  - Question {i}?" for i in range(ITEMS))
    job = write_job("job.yaml", f"model: {MODEL}\nprompts:\n{prompts}\n")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--rpm", str(RPM))
    assert result.exit_code == 0, result.output
    stats = fake_api.stats
    assert (stats.answered, stats.by_status.get(429, 0)) == (ITEMS, 0)
    assert min(paces) >= floor
    said = [line for line in result.output.splitlines() if "server " in line]
    assert said == ([f"batchbot: {note}"] if note else [])
