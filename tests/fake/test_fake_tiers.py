"""The fake's service tiers, Flex's "resource unavailable" 429, prompt caching and its bill."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from test_fake_server import Clock

from batchbot.fake.counting import encoder
from batchbot.fake.prompt_cache import COOL_AFTER_S
from batchbot.fake.server import FakeServer

SYSTEM = " ".join(f"Rule {n}: answer kindly, briefly and in plain words." for n in range(150))


@contextlib.asynccontextmanager
async def served(**settings: Any) -> AsyncIterator[tuple[FakeServer, openai.AsyncOpenAI]]:
    """A server of its own in the test's loop, and the real client pointed at it."""
    server = FakeServer(**settings)
    await server.start()
    client = openai.AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0)
    try:
        yield server, client
    finally:
        await client.close()
        await server.close()


def asked(question: str, **params: Any) -> dict[str, Any]:
    messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]
    return {"model": "gpt-5-mini", "messages": messages, "max_completion_tokens": 400, **params}


def cacheable(model: str = "gpt-5-mini") -> int:
    """The longest cacheable prefix of SYSTEM's message: whole steps of 128 tokens."""
    tokens = len(encoder(model).encode_ordinary(f"system\n{SYSTEM}"))
    return tokens // 128 * 128


@pytest.mark.parametrize(
    ("asked_for", "tier"),
    [(None, "default"), ("auto", "default"), ("flex", "flex"), ("priority", "priority"),
     ("fast", "priority"), ("default", "default")],
)  # fmt: skip
async def test_the_answer_says_the_tier_that_served_it(asked_for, tier):
    """service_tier in the answer: Flex and priority as asked, auto as the default tier."""
    params = {} if asked_for is None else {"service_tier": asked_for}
    async with served() as (_, client):
        answer = await client.chat.completions.create(**asked("Hi", **params))
        response = await client.responses.create(
            model="gpt-5-mini", input="Hi", max_output_tokens=300, **params
        )
    assert (answer.service_tier, response.service_tier) == (tier, tier)


async def test_flex_for_a_model_not_offered_on_flex_and_a_made_up_tier_are_refused():
    """Flex for gpt-4o-mini, or a tier that does not exist, is a 400 naming service_tier."""
    async with served() as (server, client):
        with pytest.raises(openai.BadRequestError) as no_flex:
            await client.chat.completions.create(
                **asked("Hi", model="gpt-4o-mini", service_tier="flex")
            )
        with pytest.raises(openai.BadRequestError) as made_up:
            await client.chat.completions.create(**asked("Hi", service_tier="cheapest"))
    assert "Flex processing is not available for model 'gpt-4o-mini'" in no_flex.value.message
    assert made_up.value.param == "service_tier"
    assert server.stats.billed == {}


async def test_resource_unavailable_429_on_demand_is_not_billed():
    """An injected resource_unavailable is a 429 with the API's error body, and costs nothing."""
    async with served() as (server, client):
        server.inject("resource_unavailable", times=1)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(**asked("Hi", service_tier="flex"))
        marked = asked("Hi [[fake:resource_unavailablex1]]", service_tier="flex")
        with pytest.raises(openai.RateLimitError):  # the marker fails this body's first attempt
            await client.chat.completions.create(**marked)
        answer = await client.chat.completions.create(**marked)
    error = caught.value.body
    assert isinstance(error, dict)
    assert error["message"].startswith("Resource unavailable: there is not enough Flex")
    assert (error["type"], error["param"], error["code"]) == (
        "resource_unavailable",
        None,
        "resource_unavailable",
    )
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert server.stats.billed["gpt-5-mini"]["requests"] == 1


async def test_a_long_prefix_is_cached_once_answered_and_billed_at_the_cached_rate():
    """The second request starting with the same 1,024+ tokens has them cached, in 128s, and
    the bill charges them at the cached-input rate of the tier that served it."""
    async with served() as (server, client):
        first = await client.chat.completions.create(**asked("What is a token?"))
        second = await client.chat.completions.create(
            **asked("What is a rate limit?", service_tier="flex")
        )
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert cached == cacheable() >= 1024
    assert cached % 128 == 0
    default = (first.usage.prompt_tokens * 0.25 + first.usage.completion_tokens * 2.0) / 1e6
    flex = (
        (second.usage.prompt_tokens - cached) * 0.125
        + cached * 0.0125
        + second.usage.completion_tokens * 1.0
    ) / 1e6
    assert server.stats.billed_usd == pytest.approx(default + flex)
    assert server.stats.billed["gpt-5-mini"]["cached_tokens"] == cached


async def test_short_prompts_other_keys_and_cooled_prefixes_are_not_cached():
    """Under 1,024 tokens nothing is cached; another prompt_cache_key does not share; a
    prefix unused for five minutes cools."""
    clock = Clock()
    async with served(clock=clock) as (_, client):
        short = {"model": "gpt-5-mini", "messages": [{"role": "user", "content": "Hi"}]}
        await client.chat.completions.create(**short)
        again = await client.chat.completions.create(**short)
        await client.chat.completions.create(**asked("A", prompt_cache_key="one"))
        other_key = await client.chat.completions.create(**asked("B", prompt_cache_key="two"))
        same_key = await client.chat.completions.create(**asked("C", prompt_cache_key="one"))
        clock.now += COOL_AFTER_S + 1
        cooled = await client.chat.completions.create(**asked("D", prompt_cache_key="one"))
    assert again.usage.prompt_tokens_details.cached_tokens == 0
    assert other_key.usage.prompt_tokens_details.cached_tokens == 0
    assert same_key.usage.prompt_tokens_details.cached_tokens == cacheable()
    assert cooled.usage.prompt_tokens_details.cached_tokens == 0


async def test_requests_sent_together_all_miss_the_cache():
    """A prefix is cached once its first request is answered: ten sent at once all miss."""
    async with served(latency_ms=200) as (_, client):
        answers = await asyncio.gather(
            *(client.chat.completions.create(**asked(f"Question {n}")) for n in range(10))
        )
        later = await client.chat.completions.create(**asked("Later"))
    assert [a.usage.prompt_tokens_details.cached_tokens for a in answers] == [0] * 10
    assert later.usage.prompt_tokens_details.cached_tokens == cacheable()


async def test_responses_are_cached_and_tiered_too():
    """The Responses API caches long instructions and reports its tier as chat does."""
    async with served() as (_, client):
        options = {"model": "o4-mini", "instructions": SYSTEM, "max_output_tokens": 300}
        await client.responses.create(input="First", **options)
        second = await client.responses.create(input="Second", service_tier="flex", **options)
    assert second.service_tier == "flex"
    assert second.usage.input_tokens_details.cached_tokens >= 1024
