"""One request through the official client against the fake API: the answer read raw, only
the limit headers kept, a broken body raised as batchbot's error, a model looked up (how each
fault becomes an error of batchbot's tree: test_exceptions.py)."""

from __future__ import annotations

import pytest

from batchbot.api.client import KEPT_HEADERS, ChatClient
from batchbot.api.exceptions import MalformedResponse, StatusError
from batchbot.endpoints import EMBEDDINGS, RESPONSES
from batchbot.fake.server import FakeServer


def body(text: str, **params: object) -> dict[str, object]:
    """A chat request for one user message."""
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}], **params}


async def test_an_answer_is_read_with_its_limit_headers_only(fake_api):
    """The reply has the text, usage and model, and of the headers only the rate-limit ones."""
    client = ChatClient(api_key="sk-test", base_url=fake_api.url, timeout=10)
    try:
        reply = await client.complete(body("Hello there?", max_tokens=5))
    finally:
        await client.close()
    assert reply.finish_reason == "length"
    assert reply.usage.completion_tokens == 5
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 5
    assert str(reply.model).startswith("gpt-4o-mini")
    assert int(reply.headers["x-ratelimit-remaining-requests"]) >= 0
    assert set(reply.headers) <= set(KEPT_HEADERS)  # no content-type, date, server...
    assert fake_api.stats.requests == 1
    assert client.url == f"{fake_api.url}/chat/completions"


@pytest.mark.parametrize(
    ("endpoint", "request_body"),
    [
        (RESPONSES, {"model": "gpt-4o-mini", "input": "Hi?", "max_output_tokens": 500}),
        (EMBEDDINGS, {"model": "text-embedding-3-small", "input": ["one", "two"]}),
    ],
)
async def test_each_endpoint_goes_to_its_own_path(fake_api, endpoint, request_body):
    """A Responses job posts to /responses and gets a choice; embeddings get a vector an input."""
    client = ChatClient(api_key="sk-test", base_url=fake_api.url, timeout=10, endpoint=endpoint)
    try:
        reply = await client.complete(request_body)
    finally:
        await client.close()
    assert client.url.endswith(endpoint.removeprefix("/v1"))
    if endpoint == EMBEDDINGS:
        assert [len(vector) for vector in reply.vectors] == [1536 * 4, 1536 * 4]
    else:
        assert reply.status == "completed"
        assert reply.content


async def test_a_body_cut_in_half_is_a_malformed_response(fake_api):
    """A 200 whose JSON is cut off raises MalformedResponse (a retry), keeping the headers."""
    client = ChatClient(api_key="sk-test", base_url=fake_api.url, timeout=10)
    try:
        with pytest.raises(MalformedResponse, match="unparseable response body") as caught:
            await client.complete(body("Break me [[fake:malformed]]"))
    finally:
        await client.close()
    assert caught.value.status_code == 200
    assert "x-ratelimit-limit-requests" in caught.value.headers


async def test_has_model_is_false_only_for_a_404(fake_api):
    """GET /models/{model}: a model the API serves is there, a misspelt one is not (a 404);
    any other refusal, here a wrong key, is raised as batchbot's StatusError."""
    client = ChatClient(api_key="sk-test", base_url=fake_api.url, timeout=10)
    try:
        assert await client.has_model("gpt-4o-mini")
        assert not await client.has_model("gpt-4o-mni")
    finally:
        await client.close()
    strict = FakeServer(api_key="sk-right").start_in_thread()
    wrong = ChatClient(api_key="sk-wrong", base_url=strict.url, timeout=10)
    try:
        with pytest.raises(StatusError) as caught:
            await wrong.has_model("gpt-4o-mini")
    finally:
        await wrong.close()
        strict.stop()
    assert caught.value.status_code == 401
    assert "sk-wrong" not in str(caught.value)
