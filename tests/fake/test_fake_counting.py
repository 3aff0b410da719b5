"""The fake server counts on its own: OpenAI's published numbers, and its TPM counting modes."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import openai
import pytest
from golden import IMAGES, REQUESTS

from batchbot.fake.counting import prompt_tokens, rate_limit_tokens
from batchbot.fake.server import FakeServer

HI = [{"role": "user", "content": "What is a chatbot?"}]


@pytest.fixture
async def client(fake_api: FakeServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=fake_api.url, api_key="sk-test", max_retries=0) as c:
        yield c


@pytest.mark.parametrize(("body", "model", "published"), REQUESTS)
async def test_reports_the_prompt_tokens_openai_reported(client, body, model, published):
    """The notebook's requests get the prompt_tokens the real API reported for each model."""
    completion = await client.chat.completions.create(model=model, **body)
    assert completion.usage is not None
    assert completion.usage.prompt_tokens == published


@pytest.mark.parametrize("case", IMAGES)
async def test_bills_images_as_the_vision_guide_says(client, image_url, case):
    """An image part adds the tokens the vision guide works out for its size, model and detail."""
    url = image_url(case["width"], case["height"])
    part = {"type": "image_url", "image_url": {"url": url, "detail": case["detail"]}}
    text = {"type": "text", "text": "What is this?"}
    model = case["model"]
    plain = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": [text]}]
    )
    pictured = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": [text, part]}]
    )
    assert plain.usage is not None
    assert pictured.usage is not None
    added = pictured.usage.prompt_tokens - plain.usage.prompt_tokens
    assert added == pytest.approx(case["tokens"], rel=case["within"])


@pytest.mark.parametrize("kind", ["png", "gif", "webp", "jpeg"])
def test_reads_the_size_from_each_image_format(image_url, kind):
    """PNG, GIF, WebP and JPEG headers all give the size: 2048 x 4096 is 1105 on gpt-4o."""
    part = {"type": "image_url", "image_url": {"url": image_url(2048, 4096, kind)}}
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": [part]}]}
    assert prompt_tokens(body) == 3 + 3 + 1 + 1105  # priming, message, role "user", image


def test_remote_image_size_comes_from_the_fragment():
    """A remote image is billed at the size its URL fragment names, else as 1024 x 1024."""

    def cost(url: str) -> int:
        part = {"type": "image_url", "image_url": {"url": url, "detail": "high"}}
        return prompt_tokens({"model": "gpt-4o", "messages": [{"role": "user", "content": [part]}]})

    assert cost("https://example.com/a.png#2048x4096") - cost("https://example.com/a.png") == (
        1105 - 765
    )


def test_counting_modes():
    """exact: prompt plus allowance; chars: a token per 4 characters; xF: exact times F."""
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 400}]}
    body["max_tokens"] = 100
    exact = prompt_tokens(body) + 100
    assert rate_limit_tokens(body) == rate_limit_tokens(body, "exact") == exact
    assert rate_limit_tokens(body, "chars") == math.ceil((400 + len("user")) / 4) + 100
    assert rate_limit_tokens(body, "x1.15") == round(exact * 1.15)
    assert rate_limit_tokens(body, "x0.85") == round(exact * 0.85)


@pytest.mark.parametrize("mode", ["fast", "x", "x0", "x-1", "xnan", "1.15"])
def test_unknown_counting_mode_is_refused(mode):
    """A mode the fake does not know is a ValueError naming the ones it does."""
    with pytest.raises(ValueError, match=r"unknown counting mode .*exact, chars or x<factor>"):
        rate_limit_tokens({"model": "gpt-4o", "messages": HI}, mode)


async def test_count_mode_set_by_constructor_control_route_and_reset(fake_api: FakeServer):
    """The mode charges TPM as it says, switches over /_fake/limits, and reset restores it."""
    body = {"model": "gpt-4o-mini", "messages": HI, "max_tokens": 10}
    charged: list[int] = []

    async def send(http: aiohttp.ClientSession) -> None:
        before = fake_api.stats.tokens_charged
        async with http.post(f"{fake_api.url}/chat/completions", json=body) as r:
            assert r.status == 200
            usage = (await r.json())["usage"]
            assert usage["prompt_tokens"] == prompt_tokens(body)  # usage stays exact
        charged.append(fake_api.stats.tokens_charged - before)

    headers = {"Authorization": "Bearer sk-test"}
    base = fake_api.url.removesuffix("/v1")
    async with aiohttp.ClientSession(headers=headers) as http:
        await send(http)
        async with http.post(f"{base}/_fake/limits", json=_limits(count="x2")) as r:
            assert r.status == 200
        await send(http)
        async with http.post(f"{base}/_fake/limits", json=_limits(count="sometimes")) as r:
            assert r.status == 400
            assert "unknown counting mode 'sometimes'" in (await r.json())["error"]
        fake_api.reset()
        await send(http)
    exact = rate_limit_tokens(body)
    assert charged == [exact, 2 * exact, exact]
    assert FakeServer(count="chars").count == "chars"


def _limits(**extra: Any) -> dict[str, Any]:
    return {"rpm": None, "tpm": None, **extra}


def test_cli_refuses_an_unknown_count(invoke: Callable[..., Any]):
    """`batchbot fake-server --count` takes exact, chars or a factor, and says so."""
    result = invoke("fake-server", "--count", "roughly")
    assert result.exit_code == 2
    assert "unknown counting mode 'roughly'" in result.output
