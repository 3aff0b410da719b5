"""The fake checks `metadata` and unknown parameters as the API does, on every endpoint."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

HI = [{"role": "user", "content": "Hi"}]
CHAT = {"model": "gpt-4o-mini", "messages": HI, "store": True}


def post(url: str, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{url}/{path}", data=json.dumps(body).encode(), headers={"Authorization": "Bearer sk-t"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.load(exc)


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        (
            "chat/completions",
            {**CHAT, "store": False, "metadata": {"a": "b"}},
            "The 'metadata' parameter is only allowed when 'store' is enabled.",
        ),
        (
            "chat/completions",
            {**CHAT, "metadata": {"row_id": 7}},
            "Invalid type for 'metadata.row_id': expected a string, but got an integer instead.",
        ),
        (
            "chat/completions",
            {**CHAT, "metadata": "tag"},
            "Invalid type for 'metadata': expected an object, but got a string instead.",
        ),
        (
            "chat/completions",
            {**CHAT, "metadata": {f"k{n}": "v" for n in range(17)}},
            "Invalid 'metadata': too many properties. Expected an object with at most 16 "
            "properties, but got an object with 17 properties instead.",
        ),
        (
            "chat/completions",
            {**CHAT, "metadata": {"k" * 65: "v"}},
            "Invalid 'metadata': string too long. Expected a key with maximum length 64, but got "
            "a key with length 65 instead.",
        ),
        (
            "chat/completions",
            {**CHAT, "metadata": {"k": "v" * 513}},
            "Invalid 'metadata.k': string too long. Expected a string with maximum length 512, "
            "but got a string with length 513 instead.",
        ),
        (
            "responses",
            {"model": "gpt-4.1", "input": "Hi", "metadata": {"n": 1}},
            "Invalid type for 'metadata.n': expected a string, but got an integer instead.",
        ),
        (
            "responses",
            {"model": "gpt-4.1", "input": "Hi", "max_tokens": 5},
            "Unknown parameter: 'max_tokens'.",
        ),
        (
            "embeddings",
            {"model": "text-embedding-3-small", "input": "0\n", "metadata": {"row_id": 0}},
            "Unrecognized request argument supplied: metadata",
        ),
    ],
)
def test_what_the_api_refuses_is_a_400(fake_api, path, body, message):
    """Each body the API refuses gets its 400 and its words."""
    status, answer = post(fake_api.url, path, body)
    assert (status, answer["error"]["message"]) == (400, message)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("chat/completions", {**CHAT, "metadata": {f"k{n}": "v" * 512 for n in range(16)}}),
        ("responses", {"model": "gpt-4.1", "input": "Hi", "metadata": {"topic": "faq"}}),
    ],
)
def test_metadata_the_api_takes_is_answered(fake_api, path, body):
    """Up to 16 string values of up to 512 characters pass (with store, for chat)."""
    assert post(fake_api.url, path, body)[0] == 200


def test_batchbot_lets_through_no_parameter_the_api_reference_lacks() -> None:
    """Each parameter batchbot's own table allows is one the fake, reading the `openai`
    package's request types, knows too: a job never passes a field the API would refuse."""
    from batchbot.fake import known
    from batchbot.jobs import params

    for endpoint, allowed in params.PARAMETERS.items():
        assert allowed <= known.PARAMETERS[endpoint], (
            endpoint,
            allowed - known.PARAMETERS[endpoint],
        )
