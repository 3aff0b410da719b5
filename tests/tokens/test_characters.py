"""Counting a request as OpenAI's rate limiter does, by its characters: checked against the
fake server's own count, written apart from batchbot's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from batchbot.endpoints import EMBEDDINGS, RESPONSES
from batchbot.fake.counting import rate_limit_tokens
from batchbot.pace.calibration import CHARS, EXACT, Calibration, ModelCount, estimates
from batchbot.tokens.characters import char_tokens

TOOL = {
    "type": "function",
    "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}},
}
CALL = {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": "{}"}}


def bodies(image_url: Callable[..., str]) -> list[dict[str, Any]]:
    user = {"role": "user", "content": "How do I reset my password? Please be brief."}
    return [
        {"model": "gpt-4o-mini", "messages": [user], "max_tokens": 200},
        {"model": "gpt-4o-mini", "messages": [{"role": "system", "content": "Be kind."}, user]},
        {"model": "gpt-4o-mini", "messages": [{**user, "name": "ann"}], "n": 3, "max_tokens": 9},
        {"model": "gpt-4o-mini", "messages": [user], "tools": [TOOL], "max_tokens": 50},
        {
            "model": "gpt-4o-mini",
            "messages": [
                user,
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "lookup", "arguments": "{}"},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "Found it."},
            ],
            "max_tokens": 80,
        },
        {
            "model": "gpt-4o-mini",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image_url", "image_url": {"url": image_url(1024, 768)}},
                    ],
                }
            ],
            "max_tokens": 100,
        },
        {
            "model": "gpt-4o-mini",
            "messages": [user],
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": {}}},
            "max_completion_tokens": 64,
        },
    ]


def test_batchbots_count_by_characters_is_the_fake_servers(image_url) -> None:
    """Text, names, tool calls and definitions, images, schemas and n: both count the same."""
    for body in bodies(image_url):
        assert char_tokens(body) == rate_limit_tokens(body, "chars"), body


def test_other_endpoints_count_their_texts() -> None:
    """Responses: its messages (instructions as a developer's), plus max_output_tokens;
    embeddings: the texts alone."""
    responses = {"model": "gpt-4o-mini", "instructions": "Be brief.", "input": "Hello there"}
    characters = len("developerBe brief.userHello there")  # 33: 9 tokens
    assert char_tokens({**responses, "max_output_tokens": 20}, RESPONSES) == 9 + 20
    assert characters == 33
    embeddings = {"model": "text-embedding-3-small", "input": ["abcd", "abcdefgh"]}
    assert char_tokens(embeddings, EMBEDDINGS) == 3


@pytest.mark.parametrize(
    ("requested", "chosen"),
    [(330, CHARS), (220, EXACT), (231, EXACT), (500, EXACT)],
)
def test_a_429_that_matches_one_count_chooses_it(requested: int, chosen: str) -> None:
    """Charged exactly (220), a 429 quoting 330, the count by characters, switches to it; one
    that matches neither keeps the count and moves the ratio."""
    count = ModelCount()
    count.refused(0.0, estimates(220, 330), requested, EXACT)
    assert (count.mode or EXACT) == chosen
    assert count.switched == (CHARS if chosen == CHARS else None)


def test_a_count_the_user_set_is_kept_whatever_the_429s_say() -> None:
    """token_count: exact stays exact; only the ratio follows the server."""
    calibration = Calibration(EXACT)
    calibration["m"].refused(0.0, estimates(220, 330), 330, EXACT)
    assert calibration.mode("m") == EXACT
    assert calibration.charge("m", 220, 330) == pytest.approx(330)
    assert calibration["m"].switched is None
