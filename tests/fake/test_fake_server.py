"""The fake OpenAI API, checked through the real openai client and raw HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import openai
import orjson
import pytest
from openai.types import CompletionUsage
from openai.types.chat import ChatCompletion

import batchbot
from batchbot.fake import content as fake_content
from batchbot.fake.counting import prompt_tokens as fake_prompt_tokens
from batchbot.fake.counting import rate_limit_tokens
from batchbot.fake.faults import FaultPlan
from batchbot.fake.limits import RateLimits, format_duration
from batchbot.fake.server import FakeServer
from batchbot.tokens.count import count_text, prompt_tokens

MODEL = "gpt-4o-mini"
HI = [{"role": "user", "content": "What is a chatbot?"}]


class Clock:
    """A clock the rate-limit buckets read and the test winds forward."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# The server speaks plain HTTP, but every client builds a TLS context (~35 ms of loading CA
# certificates) unless handed one: share one to keep the file fast.
TLS = ssl.create_default_context()


def client_for(server: FakeServer, **options: Any) -> openai.AsyncOpenAI:
    """The real client, retries off, as batchbot configures it."""
    options.setdefault("http_client", openai.DefaultAsyncHttpxClient(verify=TLS))
    options = {"api_key": "sk-test", "max_retries": 0, **options}
    return openai.AsyncOpenAI(base_url=server.url, **options)


@contextlib.asynccontextmanager
async def running(**settings: Any) -> AsyncIterator[FakeServer]:
    """A server of its own, in the test's event loop."""
    server = FakeServer(**settings)
    await server.start()
    try:
        yield server
    finally:
        await server.close()


@pytest.fixture
async def client(fake_api: FakeServer) -> AsyncIterator[openai.AsyncOpenAI]:
    async with client_for(fake_api) as client:
        yield client


def ask(content: object) -> list[dict[str, Any]]:
    return [{"role": "user", "content": content}]


def usage_of(completion: ChatCompletion) -> CompletionUsage:
    assert completion.usage is not None
    return completion.usage


def seconds(duration: str) -> float:
    """Parse OpenAI's `1m30.5s` / `120ms` durations."""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    return sum(float(n) * units[u] for n, u in re.findall(r"([\d.]+)(ms|h|m|s)", duration))


def try_again_in(message: str) -> float:
    match = re.search(r"Please try again in ([\dhms.]+)\. ", message)
    assert match, message
    return seconds(match.group(1))


# -- answers ------------------------------------------------------------------------------


async def test_answer_parses_as_typed_chat_completion(client):
    """An answer is a complete ChatCompletion with the real API's fields and usage details."""
    raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    completion = raw.parse()
    assert isinstance(completion, ChatCompletion)
    assert completion.id.startswith("chatcmpl-")
    assert (completion.object, completion.model) == ("chat.completion", MODEL)
    assert completion.service_tier == "default"
    assert (completion.system_fingerprint or "").startswith("fp_")
    (choice,) = completion.choices
    assert (choice.index, choice.finish_reason, choice.message.role) == (0, "stop", "assistant")
    assert (choice.message.refusal, choice.message.annotations) == (None, [])
    usage = usage_of(completion)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    sent = json.loads(raw.http_response.text)["usage"]
    assert sent["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert sent["completion_tokens_details"] == {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    }


@pytest.mark.parametrize(
    "messages",
    [
        HI,
        [{"role": "system", "content": "Be brief."}, *HI],
        [{"role": "user", "name": "ada", "content": "Hello there"}],
        [*HI, {"role": "assistant", "content": "A program."}, {"role": "user", "content": "More?"}],
        ask([{"type": "text", "text": "Describe"}, {"type": "text", "text": " it"}]),
    ],
)
async def test_prompt_tokens_match_batchbot_count(client, messages):
    """usage.prompt_tokens, from the fake's own counting code, agrees with batchbot's estimate."""
    completion = await client.chat.completions.create(model=MODEL, messages=messages)
    assert usage_of(completion).prompt_tokens == prompt_tokens(MODEL, messages)


async def test_answer_is_deterministic_and_quotes_the_user(client):
    """The same messages get the same answer, which mentions the last user message."""
    first = await client.chat.completions.create(model=MODEL, messages=HI)
    second = await client.chat.completions.create(model=MODEL, messages=HI, temperature=0.2)
    assert first.id != second.id
    assert first.choices[0].message.content == second.choices[0].message.content
    assert "What is a chatbot?" in (first.choices[0].message.content or "")


def test_natural_length_is_20_to_120_tokens():
    """Untruncated answers run 20–120 tokens, counted exactly, even for a very long question."""
    for seed in range(200):
        question = ask("word " * (seed * 10) + f"question {seed}?")
        choice = fake_content.make_choice(MODEL, question, seed, None)
        assert 20 <= choice.completion_tokens <= 120
        assert choice.completion_tokens == count_text(MODEL, choice.content)


@pytest.mark.parametrize("param", ["max_tokens", "max_completion_tokens"])
async def test_small_limit_cuts_to_exactly_that_many_tokens(client, param):
    """A limit under the natural length gives finish_reason length and exactly that many tokens."""
    full = await client.chat.completions.create(model=MODEL, messages=HI)
    cut = await client.chat.completions.create(model=MODEL, messages=HI, **{param: 5})
    assert cut.choices[0].finish_reason == "length"
    assert usage_of(cut).completion_tokens == 5
    assert (full.choices[0].message.content or "").startswith(cut.choices[0].message.content or "-")
    roomy = await client.chat.completions.create(model=MODEL, messages=HI, **{param: 500})
    assert roomy.choices[0].finish_reason == "stop"


async def test_n_choices(client):
    """n=3 gives three indexed choices whose tokens add up to completion_tokens."""
    completion = await client.chat.completions.create(model=MODEL, messages=HI, n=3)
    assert [c.index for c in completion.choices] == [0, 1, 2]
    counted = sum(count_text(MODEL, c.message.content or "") for c in completion.choices)
    assert usage_of(completion).completion_tokens == counted


async def test_reasoning_models_spend_reasoning_tokens(client):
    """o-series and gpt-5 report reasoning tokens inside completion_tokens, from the same budget."""
    roomy = await client.chat.completions.create(
        model="o4-mini", messages=HI, max_completion_tokens=2000
    )
    usage = usage_of(roomy)
    assert usage.completion_tokens_details is not None
    reasoning = usage.completion_tokens_details.reasoning_tokens or 0
    assert reasoning in (64, 128, 192, 256)
    visible = count_text("o4-mini", roomy.choices[0].message.content or "")
    assert usage.completion_tokens == reasoning + visible
    tight = await client.chat.completions.create(
        model="gpt-5", messages=HI, max_completion_tokens=10
    )
    assert (tight.choices[0].finish_reason, tight.choices[0].message.content) == ("length", "")
    assert usage_of(tight).completion_tokens == 10


# -- faults -------------------------------------------------------------------------------

INVALID = "invalid_request_error"
# fault -> the exception the openai client raises, status, error code, error type
FAULT_TABLE = [
    ("500", openai.InternalServerError, 500, None, "server_error"),
    ("502", openai.InternalServerError, 502, None, "server_error"),
    ("503", openai.InternalServerError, 503, None, "server_error"),
    ("401", openai.AuthenticationError, 401, "invalid_api_key", INVALID),
    (
        "403",
        openai.PermissionDeniedError,
        403,
        "unsupported_country_region_territory",
        "request_forbidden",
    ),
    ("insufficient_quota", openai.RateLimitError, 429, "insufficient_quota", "insufficient_quota"),
    ("context_length_exceeded", openai.BadRequestError, 400, "context_length_exceeded", INVALID),
    ("model_not_found", openai.NotFoundError, 404, "model_not_found", INVALID),
    ("429", openai.RateLimitError, 429, "rate_limit_exceeded", "requests"),
]


@pytest.mark.parametrize("source", ["inject", "marker"])
@pytest.mark.parametrize(("fault", "error", "status", "code", "kind"), FAULT_TABLE)
async def test_fault_raises_what_the_real_api_would(
    fake_api, client, source, fault, error, status, code, kind
):
    """Each queued or marked fault surfaces as the openai exception the real error produces."""
    messages = HI
    if source == "inject":
        fake_api.inject(fault)
    else:
        messages = ask(f"Break me [[fake:{fault}]]")
    with pytest.raises(error) as caught:
        await client.chat.completions.create(model=MODEL, messages=messages)
    assert type(caught.value) is error
    assert (caught.value.status_code, caught.value.code, caught.value.type) == (status, code, kind)
    assert isinstance(caught.value.body, dict)
    assert caught.value.body["message"]
    assert "x-ratelimit-remaining-requests" in caught.value.response.headers
    assert fake_api.stats.by_status == {status: 1}


def test_fault_messages_are_the_api_wording(fake_api):
    """Messages clients and people match on are copied from the real API."""
    body = {"model": "gpt-9", "messages": ask("x [[fake:model_not_found]]")}
    assert post_json(fake_api.url, body)[1]["error"]["message"] == (
        "The model `gpt-9` does not exist or you do not have access to it."
    )
    body = {"model": MODEL, "messages": ask("[[fake:insufficient_quota]]")}
    quota = post_json(fake_api.url, body)
    assert quota[1]["error"]["message"].startswith("You exceeded your current quota, please check")
    limited = post_json(fake_api.url, {"model": MODEL, "messages": ask("[[fake:429]]")})
    assert try_again_in(limited[1]["error"]["message"]) == 0.05


# fault, client transport -> what the openai client raises
CONNECTION_TABLE = [
    ("reset", "httpx", openai.APIConnectionError),
    # openai's vendored aiohttp transport maps every disconnect to a connect timeout.
    ("reset", "aiohttp", openai.APITimeoutError),
    ("hang", "httpx", openai.APITimeoutError),
    ("hang", "aiohttp", openai.APITimeoutError),
    ("malformed", "httpx", json.JSONDecodeError),  # the client does not wrap a bad 200 body
    ("malformed", "aiohttp", json.JSONDecodeError),
]


@pytest.mark.parametrize(("fault", "transport", "error"), CONNECTION_TABLE)
async def test_connection_fault_raises(fake_api, fault, transport, error):
    """Dropped connections, hangs and truncated bodies surface as the client's own errors."""
    http = {"http_client": openai.DefaultAioHttpClient()} if transport == "aiohttp" else {}
    fake_api.inject(fault)
    async with client_for(fake_api, **http) as client:
        with pytest.raises(error) as caught:
            await client.with_options(timeout=0.2).chat.completions.create(model=MODEL, messages=HI)
        assert type(caught.value) is error
        assert (await client.chat.completions.create(model=MODEL, messages=HI)).choices
    assert fake_api.stats.answered == 1


async def test_injected_fault_hits_the_next_n_requests(fake_api, client):
    """inject(fault, times) fails exactly the next `times` requests, in the order queued."""
    fake_api.inject("503", times=2)
    fake_api.inject("500")
    statuses = []
    for _ in range(4):
        try:
            await client.chat.completions.create(model=MODEL, messages=HI)
            statuses.append(200)
        except openai.APIStatusError as exc:
            statuses.append(exc.status_code)
    assert statuses == [503, 503, 500, 200]
    assert fake_api.stats.by_status == {503: 2, 500: 1, 200: 1}


async def test_counted_marker_fails_first_attempts_of_that_body(client):
    """[[fake:500x2]] fails the first two attempts of that exact body, then answers."""
    for text in ("Retry me [[fake:500x2]]", "Me too [[fake:500x2]]"):
        for _ in range(2):
            with pytest.raises(openai.InternalServerError):
                await client.chat.completions.create(model=MODEL, messages=ask(text))
        completion = await client.chat.completions.create(model=MODEL, messages=ask(text))
        assert "[[fake" not in (completion.choices[0].message.content or "")


@pytest.mark.parametrize(
    ("text", "error"),
    [("[[fake:503]]", openai.InternalServerError), ("[[fake:401x1]]", openai.AuthenticationError)],
)
async def test_uncounted_marker_fails_every_attempt(client, text, error):
    """A transient marker without a count, or a permanent one even with a count, always fails."""
    for _ in range(3):
        with pytest.raises(error):
            await client.chat.completions.create(model=MODEL, messages=ask(text))


async def test_marker_fails_only_its_own_request(fake_api, client):
    """Among concurrent requests, only the marked one fails; an unknown marker is plain text."""
    texts = [f"Question {i}" for i in range(9)] + ["Question [[fake:502]]", "[[fake:nope]]"]
    results = await asyncio.gather(
        *(client.chat.completions.create(model=MODEL, messages=ask(t)) for t in texts),
        return_exceptions=True,
    )
    failed = [t for t, r in zip(texts, results, strict=True) if isinstance(r, Exception)]
    assert failed == ["Question [[fake:502]]"]
    assert fake_api.stats.by_status == {200: 10, 502: 1}


async def outcomes(server: FakeServer, count: int) -> list[object]:
    """Send `count` distinct requests over raw HTTP; note each status, `reset` or `malformed`."""
    seen: list[object] = []
    async with aiohttp.ClientSession(headers={"Authorization": "Bearer sk-test"}) as http:
        for i in range(count):
            body = {"model": MODEL, "messages": ask(f"Question {i}")}
            try:
                async with http.post(f"{server.url}/chat/completions", json=body) as response:
                    data = await response.read()
                    malformed = response.status == 200 and not _is_json(data)
                    seen.append("malformed" if malformed else response.status)
            except aiohttp.ServerDisconnectedError:
                seen.append("reset")
    return seen


def _is_json(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


async def test_fail_rate_is_seeded_and_transient():
    """fail_rate fails about that share with transient faults, the same ones for the same seed."""
    async with running(fail_rate=0.5, seed=7) as one, running(fail_rate=0.5, seed=7) as two:
        first, second = await outcomes(one, 40), await outcomes(two, 40)
    assert first == second
    assert 8 <= sum(o != 200 for o in first) <= 32
    assert set(first) <= {200, 500, 502, 503, "reset", "malformed"}
    assert len(set(first)) >= 4


def test_unknown_fault_is_refused(fake_api):
    """inject() and FaultPlan refuse what they cannot act out."""
    with pytest.raises(ValueError, match="unknown fault"):
        fake_api.inject("504")
    with pytest.raises(ValueError, match="fail_rate"):
        FaultPlan(fail_rate=1.5)


# -- requests the API refuses ---------------------------------------------------------------


def post_json(
    base_url: str, body: object, headers: dict[str, str] | None = None
) -> tuple[int, Any, Any]:
    """POST a chat request with urllib: (status, JSON body, headers)."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{base_url}/chat/completions",
        data=data,
        headers=headers if headers is not None else {"Authorization": "Bearer sk-test"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response), response.headers
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc), exc.headers


M, MISSING = MODEL, "missing_required_parameter"
NO_SUCH_ROLE = [{"role": "ai", "content": "x"}]
INVALID_BODIES = [
    (b"{not json", None, None),
    ({"messages": HI}, "model", None),
    ({"model": 4, "messages": HI}, "model", "invalid_type"),
    ({"model": M}, "messages", MISSING),
    ({"model": M, "messages": "hi"}, "messages", "invalid_type"),
    ({"model": M, "messages": []}, "messages", "empty_array"),
    ({"model": M, "messages": ["hi"]}, "messages[0]", "invalid_type"),
    ({"model": M, "messages": [{"content": "x"}]}, "messages[0].role", MISSING),
    ({"model": M, "messages": NO_SUCH_ROLE}, "messages[0].role", "invalid_value"),
    ({"model": M, "messages": [{"role": "user"}]}, "messages[0].content", MISSING),
    ({"model": M, "messages": HI, "n": 0}, "n", "integer_below_min_value"),
    ({"model": M, "messages": HI, "max_tokens": "9"}, "max_tokens", "invalid_type"),
    ({"model": "o3-mini", "messages": HI, "max_tokens": 9}, "max_tokens", "unsupported_parameter"),
    ({"model": "gpt-5", "messages": HI, "temperature": 0.2}, "temperature", "unsupported_value"),
    ({"model": M, "messages": HI, "temperature": 5}, "temperature", "decimal_above_max_value"),
    ({"model": M, "messages": HI, "top_p": -0.1}, "top_p", "decimal_below_min_value"),
    ({"model": M, "messages": HI, "frequency_penalty": 2.5}, "frequency_penalty",
     "decimal_above_max_value"),
    ({"model": M, "messages": HI, "temperature": "0.2"}, "temperature", "invalid_type"),
    ({"model": M, "messages": HI, "tools": 0.5}, "tools", "invalid_type"),
    ({"model": M, "messages": HI, "tools": [7]}, "tools[0]", "invalid_type"),
    ({"model": M, "messages": HI, "tools": [{"type": "function", "function": 5}]},
     "tools[0].function", "invalid_type"),
    ({"model": M, "messages": HI, "tools": [{"type": "function", "function": {"name": "f",
      "parameters": {"properties": {"a": 1}}}}]}, "tools[0].function.parameters.properties.a",
     "invalid_type"),
    ({"model": M, "messages": HI, "response_format": {"type": "json_schema", "json_schema": 5}},
     "response_format.json_schema", "invalid_type"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"model": M, "messages": HI, "max_token": 300},
            400,
            {
                "message": "Unrecognized request argument supplied: max_token",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            },
        ),
        (
            {"model": "gpt-4o-mni", "messages": HI},
            404,
            {
                "message": "The model `gpt-4o-mni` does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": None,
                "code": "model_not_found",
            },
        ),
    ],
    ids=["unknown-parameter", "unknown-model"],
)
def test_typos_are_refused_as_openai_refuses_them(fake_api, body, status, error):
    """An unknown parameter or model gets OpenAI's own status and error object, not an answer."""
    got_status, data, _ = post_json(fake_api.url, body)
    assert (got_status, data) == (status, {"error": error})


@pytest.mark.parametrize(
    "model",
    ["gpt-4o-mini-2024-07-18", "gpt-4o-mini-search-preview", "gpt-3.5-turbo-0125",
     "ft:gpt-4o-mini-2024-07-18:acme::abc123", "chatgpt-4o-latest", "o3"],
)  # fmt: skip
def test_snapshots_and_fine_tunes_are_served(fake_api, model):
    """Dated snapshots, variants and fine-tunes of a known model are answered."""
    status, data, _ = post_json(fake_api.url, {"model": model, "messages": HI})
    assert status == 200, data


def test_sampling_ranges_take_their_edges(fake_api):
    """The edges of each range are accepted, as the API accepts them."""
    edges = {"temperature": 2, "top_p": 0, "presence_penalty": -2, "frequency_penalty": 2.0}
    status, data, _ = post_json(fake_api.url, {"model": MODEL, "messages": HI, **edges})
    assert status == 200, data


@pytest.mark.parametrize(("body", "param", "code"), INVALID_BODIES)
def test_invalid_request_is_400_naming_the_field(fake_api, body, param, code):
    """A malformed request gets 400 invalid_request_error with `param` naming the field."""
    status, data, headers = post_json(fake_api.url, body)
    assert status == 400
    assert data["error"]["type"] == "invalid_request_error"
    assert (data["error"]["param"], data["error"]["code"]) == (param, code)
    assert headers["x-ratelimit-limit-requests"]
    assert fake_api.stats.by_status == {400: 1}


async def test_invalid_request_through_the_client(client):
    """Through the client, a bad request is a BadRequestError naming the parameter."""
    with pytest.raises(openai.BadRequestError) as caught:
        await client.chat.completions.create(model=MODEL, messages=[])
    assert (caught.value.param, caught.value.code) == ("messages", "empty_array")


def test_missing_key_is_401(fake_api):
    """No Authorization header: 401 with the API's 'You didn't provide an API key' body."""
    status, data, _ = post_json(fake_api.url, {"model": MODEL, "messages": HI}, headers={})
    assert status == 401
    assert data["error"]["message"].startswith("You didn't provide an API key.")
    assert data["error"]["code"] is None


async def test_wrong_key_is_invalid_api_key():
    """With api_key set, another key gets 401 invalid_api_key that does not echo the key."""
    async with running(api_key="sk-right-key-123") as server:
        async with openai.AsyncOpenAI(
            base_url=server.url, api_key="sk-wrong-key-456", max_retries=0
        ) as wrong:
            with pytest.raises(openai.AuthenticationError) as caught:
                await wrong.chat.completions.create(model=MODEL, messages=HI)
        assert caught.value.code == "invalid_api_key"
        assert "sk-wrong-key-456" not in str(caught.value.body)
        async with client_for(server, api_key="sk-right-key-123") as right:
            assert (await right.chat.completions.create(model=MODEL, messages=HI)).choices


async def test_context_window_exceeded():
    """A prompt over context_window gets 400 context_length_exceeded in the API's words."""
    messages = ask("lorem ipsum " * 40)
    tokens = fake_prompt_tokens({"model": MODEL, "messages": messages})
    async with running(context_window=50) as server, client_for(server) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.chat.completions.create(model=MODEL, messages=messages)
    assert (caught.value.code, caught.value.param) == ("context_length_exceeded", "messages")
    assert caught.value.body["message"] == (  # type: ignore[index]
        f"This model's maximum context length is 50 tokens. However, your messages resulted in "
        f"{tokens} tokens. Please reduce the length of the messages."
    )


def test_unknown_route_is_openai_404(fake_api):
    """Routes the API lacks answer 404 'Invalid URL' in the error shape."""
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{fake_api.url}/assistants", timeout=5)
    with caught.value as response:
        assert response.code == 404
        assert json.load(response)["error"]["message"] == "Invalid URL (GET /v1/assistants)"


# -- rate limits ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0, "0s"),
        (0.0004, "1ms"),
        (0.12, "120ms"),
        (0.999, "999ms"),
        (1, "1s"),
        (8.64, "8.64s"),
        (60, "1m0s"),
        (90.5, "1m30.5s"),
        (360, "6m0s"),
        (3725.25, "1h2m5.25s"),
    ],
)
def test_durations_are_formatted_like_openai(value, text):
    """Durations read like OpenAI's headers and messages, rounded up to the millisecond."""
    assert format_duration(value) == text


async def test_ratelimit_headers_track_the_buckets():
    """Every response reports both buckets: limits, what remains, and time until full."""
    clock = Clock()
    body = {"model": MODEL, "messages": HI}
    cost = rate_limit_tokens(body)
    async with running(rpm=100, tpm=10_000, clock=clock) as server, client_for(server) as client:
        for sent in (1, 2):
            raw = await client.chat.completions.with_raw_response.create(**body)
            assert raw.headers["x-ratelimit-limit-requests"] == "100"
            assert raw.headers["x-ratelimit-limit-tokens"] == "10000"
            assert raw.headers["x-ratelimit-remaining-requests"] == str(100 - sent)
            assert raw.headers["x-ratelimit-remaining-tokens"] == str(10_000 - sent * cost)
            assert seconds(raw.headers["x-ratelimit-reset-requests"]) == pytest.approx(0.6 * sent)
            reset_tokens = seconds(raw.headers["x-ratelimit-reset-tokens"])
            assert reset_tokens == pytest.approx(sent * cost * 60 / 10_000, abs=0.001)
            assert raw.headers["x-request-id"].startswith("req_")
            assert int(raw.headers["openai-processing-ms"]) >= 0
        clock.now += 0.6
        raw = await client.chat.completions.with_raw_response.create(**body)
        assert raw.headers["x-ratelimit-remaining-requests"] == "98"
    assert server.stats.tokens_charged == 3 * cost


async def test_rpm_limit_answers_429_with_the_real_wait():
    """Past the RPM bucket: OpenAI's 429 body, and after exactly the advertised wait it fits."""
    clock = Clock()
    async with running(rpm=3, clock=clock) as server, client_for(server) as client:
        for _ in range(3):
            await client.chat.completions.create(model=MODEL, messages=HI)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI)
        error = caught.value
        assert (error.code, error.type, error.param) == ("rate_limit_exceeded", "requests", None)
        assert error.body["message"] == (  # type: ignore[index]
            f"Rate limit reached for {MODEL} in organization org-fake on requests per min (RPM): "
            "Limit 3, Used 3, Requested 1. Please try again in 20s. "
            "Visit https://platform.openai.com/account/rate-limits to learn more."
        )
        assert "retry-after" not in error.response.headers
        clock.now += try_again_in(error.message) - 0.002
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model=MODEL, messages=HI)
        clock.now += 0.002
        await client.chat.completions.create(model=MODEL, messages=HI)
    assert server.stats.by_status == {200: 4, 429: 2}


async def test_tpm_limit_answers_429_with_the_real_wait():
    """Past the TPM bucket: a tokens 429 quoting limit, used and requested, and a true wait."""
    clock = Clock()
    body = {"model": MODEL, "messages": HI, "max_tokens": 100}
    cost = rate_limit_tokens(body)
    fits = 1000 // cost
    async with running(tpm=1000, clock=clock) as server, client_for(server) as client:
        for _ in range(fits):
            await client.chat.completions.create(**body)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(**body)
        error = caught.value
        assert (error.code, error.type) == ("rate_limit_exceeded", "tokens")
        used, left = fits * cost, 1000 - fits * cost
        wait = format_duration((cost - left) * 60 / 1000)
        quoted = f"on tokens per min (TPM): Limit 1000, Used {used}, Requested {cost}. "
        assert quoted in error.message
        assert f"Please try again in {wait}. " in error.message
        clock.now += try_again_in(error.message)
        await client.chat.completions.create(**body)
        assert server.stats.tokens_charged == (fits + 1) * cost


async def test_request_larger_than_tpm_is_too_large():
    """A request that can never fit the TPM bucket gets the API's 'Request too large' 429."""
    async with running(tpm=100) as server, client_for(server) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI)
    cost = rate_limit_tokens({"model": MODEL, "messages": HI})
    assert f"Request too large for {MODEL}" in caught.value.message
    assert f"Limit 100, Requested {cost}." in caught.value.message


async def test_retry_after_headers_on_request():
    """With retry_after_header, 429s also carry retry-after-ms and retry-after."""
    async with running(rpm=1, retry_after_header=True, clock=Clock()) as server:
        server.inject("429")
        async with client_for(server) as client:
            with pytest.raises(openai.RateLimitError) as injected:
                await client.chat.completions.create(model=MODEL, messages=HI)
            await client.chat.completions.create(model=MODEL, messages=HI)
            with pytest.raises(openai.RateLimitError) as limited:
                await client.chat.completions.create(model=MODEL, messages=HI)
    headers = injected.value.response.headers
    assert (headers["retry-after-ms"], headers["retry-after"]) == ("50", "1")
    headers = limited.value.response.headers
    assert (headers["retry-after-ms"], headers["retry-after"]) == ("60000", "60")


async def test_no_limits_means_large_limits_never_enforced(client):
    """Without rpm/tpm the headers show tier-5-sized limits and nothing is ever refused."""
    raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
    assert raw.headers["x-ratelimit-limit-requests"] == "30000"
    assert raw.headers["x-ratelimit-limit-tokens"] == "150000000"
    limits = RateLimits(None, None, Clock())
    assert all(limits.admit(10**9) is None for _ in range(50_000))
    assert limits.headers()["x-ratelimit-remaining-tokens"] == "0"


async def test_set_limits_and_reset(fake_api, client):
    """set_limits() swaps in new full buckets; reset() restores the constructor's (none)."""
    fake_api.set_limits(rpm=1, tpm=None)
    await client.chat.completions.create(model=MODEL, messages=HI)
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model=MODEL, messages=HI)
    fake_api.reset()
    assert fake_api.stats.requests == 0
    await client.chat.completions.create(model=MODEL, messages=HI)


# -- stats, control routes, lifecycle -------------------------------------------------------


async def test_stats_count_requests_answers_and_duplicates(fake_api, client):
    """stats counts every POST, each status, resent answered bodies, and tokens charged."""
    bodies = [ask("A"), ask("A"), ask("B"), ask("A"), ask("boom [[fake:500]]")]
    for messages in bodies:
        with contextlib.suppress(openai.InternalServerError):
            await client.chat.completions.create(model=MODEL, messages=messages)
    await client.chat.completions.create(model=MODEL, messages=ask("A"), max_tokens=9)
    stats = fake_api.stats
    assert (stats.requests, stats.answered, stats.duplicates) == (6, 5, 2)
    assert stats.by_status == {200: 5, 500: 1}
    answered = [{"model": MODEL, "messages": m} for m in bodies[:4]]
    answered.append({"model": MODEL, "messages": ask("A"), "max_tokens": 9})
    assert stats.tokens_charged == sum(rate_limit_tokens(b) for b in answered)
    with pytest.raises(AttributeError):
        stats.answered = 0  # type: ignore[misc]


async def test_billed_counts_every_answer_made_even_for_a_client_gone(fake_api, client):
    """billed sums the usage of every answer made, by model, a timed-out client's included."""
    first = await client.chat.completions.create(model=MODEL, messages=ask("A"), max_tokens=30)
    fake_api.latency_ms = 2000.0
    try:
        with pytest.raises(openai.APITimeoutError):
            await client.with_options(timeout=0.3).chat.completions.create(
                model=MODEL, messages=ask("A"), max_tokens=30
            )  # the same answer, made and billed, never received
    finally:
        fake_api.latency_ms = 0.0
    with contextlib.suppress(openai.InternalServerError):
        await client.chat.completions.create(model=MODEL, messages=ask("boom [[fake:500]]"))
    assert first.usage is not None
    billed = fake_api.stats.billed
    for _ in range(100):  # let the abandoned answer end inside this test
        if fake_api.stats.answered == 2:
            break
        await asyncio.sleep(0.05)
    assert billed == {
        MODEL: {
            "requests": 2,
            "input_tokens": 2 * first.usage.prompt_tokens,
            "cached_tokens": 0,
            "output_tokens": 2 * first.usage.completion_tokens,
        }
    }
    # gpt-4o-mini: $0.15 per million input tokens, $0.60 per million output tokens
    usd = 2 * (first.usage.prompt_tokens * 0.15 + first.usage.completion_tokens * 0.60) / 1e6
    assert fake_api.stats.billed_usd == pytest.approx(usd)


async def test_control_routes_drive_the_server_over_http(fake_api, client):
    """Another process can queue faults, set limits, read stats and reset over HTTP."""
    base = fake_api.url.removesuffix("/v1")
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{base}/_fake/faults", json={"fault": "503", "times": 1}) as r:
            assert r.status == 200
        with pytest.raises(openai.InternalServerError):
            await client.chat.completions.create(model=MODEL, messages=HI)
        async with http.get(f"{base}/_fake/stats") as r:
            assert await r.json() == {
                "requests": 1,
                "answered": 0,
                "by_status": {"503": 1},
                "duplicates": 0,
                "tokens_charged": 0,
                "billed": {},
                "billed_usd": 0.0,
            }
        async with http.post(f"{base}/_fake/limits", json={"rpm": 1}) as r:
            assert r.status == 200
        await client.chat.completions.create(model=MODEL, messages=HI)
        with pytest.raises(openai.RateLimitError):
            await client.chat.completions.create(model=MODEL, messages=HI)
        async with http.post(f"{base}/_fake/faults", json={"fault": "nope"}) as r:
            assert r.status == 400
        async with http.post(f"{base}/_fake/limits", json={"rpm": 0}) as r:
            assert r.status == 400
        async with http.post(f"{base}/_fake/reset") as r:
            assert r.status == 200
    assert fake_api.stats.requests == 0
    await client.chat.completions.create(model=MODEL, messages=HI)


async def test_latency_delays_without_blocking():
    """latency_ms delays each answer, concurrently: ten requests take about one latency."""
    async with running(latency_ms=100) as server, client_for(server) as client:
        await client.chat.completions.create(model=MODEL, messages=HI)  # tokenizer warm
        started = time.perf_counter()
        await asyncio.gather(
            *(client.chat.completions.create(model=MODEL, messages=ask(str(i))) for i in range(10))
        )
        elapsed = time.perf_counter() - started
    assert 0.1 <= elapsed < 0.9  # one after another would take 1 s


def test_thread_server_stops_idempotently_and_releases_hangs():
    """stop() ends a hanging request at once, closes the port, and may be called twice."""
    server = FakeServer().start_in_thread()
    url = server.url
    server.inject("hang")
    outcome: list[object] = []

    def hang() -> None:
        try:
            post_json(server.url, {"model": MODEL, "messages": HI})
        except OSError as exc:  # the connection is dropped, not answered
            outcome.append(exc)

    waiter = threading.Thread(target=hang)
    waiter.start()
    while server.stats.requests == 0:
        time.sleep(0.005)
    started = time.perf_counter()
    server.stop()
    waiter.join(timeout=5)
    assert time.perf_counter() - started < 1.5
    assert len(outcome) == 1
    server.stop()
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/_fake/stats", timeout=1)


def test_start_in_thread_reports_a_busy_port(fake_server):
    """A port already in use raises in the caller, not silently in the thread."""
    port = int(fake_server.url.split(":")[2].split("/")[0])
    with pytest.raises(OSError, match="address already in use"):
        FakeServer(port=port).start_in_thread()
    with pytest.raises(RuntimeError, match="not running"):
        _ = FakeServer().url


def test_serve_runs_in_another_process_until_ctrl_c():
    """serve() blocks, reports its URL through on_ready, prints nothing, and Ctrl-C stops it."""
    code = "from batchbot.fake.server import serve; serve(on_ready=lambda u: print(u, flush=True))"
    env = {**os.environ, "PYTHONPATH": str(Path(batchbot.__file__).parents[1])}
    pipe = subprocess.PIPE
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=pipe, stderr=pipe, env=env, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert post_json(url, {"model": MODEL, "messages": HI})[0] == 200
        with urllib.request.urlopen(url.removesuffix("/v1") + "/_fake/stats", timeout=5) as r:
            assert json.load(r)["answered"] == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert (proc.returncode, out, err) == (0, "", "")


# -- stricter limits: 1-second windows, reported limits, mid-run changes, a shared key -----


def test_one_second_windows_hold_a_second_of_the_limit():
    """With window_s=1, 120 RPM lets 2 requests through at once, then one every 0.5 s."""
    clock = Clock()
    limits = RateLimits(120, None, clock, window_s=1)
    assert [limits.admit(0) for _ in range(2)] == [None, None]
    refusal = limits.admit(0)
    assert refusal is not None
    assert (refusal.kind, refusal.wait) == ("requests", pytest.approx(0.5))
    assert limits.headers()["x-ratelimit-remaining-requests"] == "0"
    assert limits.headers()["x-ratelimit-limit-requests"] == "120"  # still per minute
    clock.now += 0.5
    assert limits.admit(0) is None
    clock.now += 1.0
    # A full one-second bucket is reported as a full minute's worth.
    assert limits.headers()["x-ratelimit-remaining-requests"] == "120"


def test_request_bigger_than_a_window_needs_a_full_bucket_and_leaves_debt():
    """At 600 TPM over 1 s windows (10 tokens), 50 tokens pass into a full bucket only."""
    clock = Clock()
    limits = RateLimits(None, 600, clock, window_s=1)
    assert limits.admit(50) is None
    refusal = limits.admit(1)
    assert refusal is not None
    assert refusal.wait == pytest.approx(4.1)  # 40 tokens of debt plus the 1 asked for
    assert limits.headers()["x-ratelimit-remaining-tokens"] == "0"
    assert limits.admit(601) == RateLimits(None, 600, clock).admit(601)  # too large either way


def test_reported_limits_can_differ_from_the_enforced_ones():
    """`reported` changes what the headers say, not what is enforced."""
    limits = RateLimits(2, 1000, Clock(), reported=(5000, None))
    headers = limits.headers()
    assert headers["x-ratelimit-limit-requests"] == "5000"
    assert headers["x-ratelimit-limit-tokens"] == "1000"
    assert [limits.admit(1) is None for _ in range(3)] == [True, True, False]


def test_changed_limits_keep_what_was_used():
    """A limit lowered mid-run still counts the requests of the last minute."""
    clock = Clock()
    limits = RateLimits(100, 10_000, clock)
    for _ in range(40):
        assert limits.admit(100) is None
    lower = limits.changed(50, 5000, clock)
    assert lower.headers()["x-ratelimit-remaining-requests"] == "10"
    assert lower.headers()["x-ratelimit-remaining-tokens"] == "1000"
    assert lower.window_s == 60


def test_another_client_spends_the_same_budget():
    """spend() takes from the same buckets, so our requests find less room."""
    clock = Clock()
    limits = RateLimits(10, None, clock)
    limits.spend(9, 500)
    assert limits.headers()["x-ratelimit-remaining-requests"] == "1"
    assert limits.admit(0) is None
    assert limits.admit(0) is not None
    limits.spend(100, 0)  # never below empty
    assert limits.headers()["x-ratelimit-remaining-requests"] == "0"


@pytest.mark.parametrize("settings", [{"window_s": 0}, {"window_s": 61}, {"reported": (0, None)}])
def test_bad_strict_settings_are_refused(settings):
    """Impossible windows and reported limits fail when the limits are built."""
    with pytest.raises(ValueError, match=r"window_s|reported rpm"):
        RateLimits(10, None, Clock(), **settings)


async def test_limits_spend_and_timeline_over_http():
    """A benchmark in another process sets windows and reported limits, spends, reads a timeline."""
    clock = Clock()
    async with running(rpm=600, clock=clock) as server, client_for(server) as client:
        base = server.url.removesuffix("/v1")
        async with aiohttp.ClientSession() as http:
            settings = {"rpm": 120, "window_s": 1, "reported_rpm": 100, "keep_usage": True}
            async with http.post(f"{base}/_fake/limits", json=settings) as r:
                assert r.status == 200
            raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=HI)
            assert raw.headers["x-ratelimit-limit-requests"] == "100"
            async with http.post(f"{base}/_fake/spend", json={"requests": 1}) as r:
                assert r.status == 200
            with pytest.raises(openai.RateLimitError):
                await client.chat.completions.create(model=MODEL, messages=HI)
            clock.now += 1.5
            await client.chat.completions.create(model=MODEL, messages=HI)
            async with http.get(f"{base}/_fake/timeline") as r:
                timeline = await r.json()
            async with http.post(f"{base}/_fake/spend", json={"requests": "x"}) as r:
                assert r.status == 400
            async with http.post(f"{base}/_fake/limits", json={"rpm": 5, "window_s": 99}) as r:
                assert r.status == 400
    tokens = rate_limit_tokens({"model": MODEL, "messages": HI})
    assert timeline == [[1, tokens], [1, tokens]]


# -- sliding windows ---------------------------------------------------------------------------


def test_sliding_window_holds_the_share_of_any_second_whatever_the_lull():
    """120 RPM over sliding 1-s windows: 2 a second, however they are spread, never 3."""
    clock = Clock()
    limits = RateLimits(120, None, clock, windows="sliding")  # its minute bucket starts full
    assert limits.admit(0) is None
    clock.now += 0.75
    assert limits.admit(0) is None
    refusal = limits.admit(0)
    assert refusal is not None
    assert refusal.wait == pytest.approx(0.25)  # the first one leaves the window at t=1
    clock.now += 0.25
    assert limits.admit(0) is None
    clock.now += 0.5
    assert limits.admit(0) is not None  # the one at 0.75 is still inside (0.75, 1.75]
    clock.now += 0.25
    assert limits.admit(0) is None


def test_a_refilling_bucket_lets_more_through_a_second_than_a_sliding_window():
    """After a lull, a 1-s bucket passes its capacity plus a second's refill; a window does not."""
    clock = Clock()
    bucket = RateLimits(600, None, clock, window_s=1)
    window = RateLimits(600, None, clock, windows="sliding")  # a full minute bucket behind it
    passed = {"bucket": 0, "window": 0}
    for _ in range(100):  # 10 ms steps over one second, asking 5 times a step
        for name, limits in (("bucket", bucket), ("window", window)):
            passed[name] += sum(limits.admit(0) is None for _ in range(5))
        clock.now += 0.01
    assert passed["window"] == 10
    assert passed["bucket"] >= 19


def test_sliding_tokens_bigger_than_the_share_need_an_empty_window():
    """At 600 TPM (10 tokens a second) 50 tokens pass only when nothing else is in the window."""
    clock = Clock()
    limits = RateLimits(None, 600, clock, windows="sliding", sliding_s=1.0)
    assert limits.admit(3) is None
    clock.now += 0.5
    refusal = limits.admit(50)
    assert refusal is not None
    assert refusal.wait == pytest.approx(0.5)
    clock.now += 0.5
    assert limits.admit(50) is None
    clock.now += 0.999
    assert limits.admit(1) is not None
    clock.now += 0.001
    assert limits.admit(1) is None


def test_sliding_windows_follow_a_limit_changed_mid_run():
    """A lower limit keeps the window's log: what was sent this second counts against it."""
    clock = Clock()
    limits = RateLimits(600, None, clock, windows="sliding")
    for _ in range(6):
        assert limits.admit(0) is None
    lower = limits.changed(300, None, clock)
    assert (lower.windows, lower.sliding_s) == ("sliding", 1.0)
    assert lower.admit(0) is not None  # 6 already this second, 5 allowed
    clock.now += 1.0
    assert lower.admit(0) is None


async def test_sliding_windows_through_the_server_and_its_control_route():
    """/_fake/limits turns sliding windows on; then the server refuses the third of a second."""
    clock = Clock()
    async with running(clock=clock) as server, client_for(server) as client:
        base = server.url.removesuffix("/v1")
        async with aiohttp.ClientSession() as http:
            settings = {"rpm": 120, "windows": "sliding", "sliding_s": 1.0}
            async with http.post(f"{base}/_fake/limits", json=settings) as r:
                assert r.status == 200
            async with http.post(f"{base}/_fake/limits", json={"windows": "tumbling"}) as r:
                assert r.status == 400
        for _ in range(2):
            await client.chat.completions.create(model=MODEL, messages=HI)
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(model=MODEL, messages=HI)
        assert "Please try again in 1s." in caught.value.message
