"""A request counted as OpenAI's rate limiter counts it: from its characters, not its tokens.

OpenAI's rate limiter does not tokenise a request on arrival: it estimates the prompt from
its characters, about four a token, and adds the completion allowance (`max_tokens`, or
`max_completion_tokens`, times `n`; docs/limits.md). That is what it refuses by, so a run
paced by tiktoken's exact count charges the wrong amount, a little more or a little less for
each request, and a single learned ratio cannot follow a mix of request sizes.

So `char_tokens` counts a request that way: the characters of every message field (text
parts, roles, names, tool calls), of tool definitions and of a response schema, divided by
4 and rounded up; images at their token cost (an image is no text); plus the allowance. The
limiter charges this or the exact count, as `calibration` learns the server does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES
from batchbot.tokens.count import answer_allowance
from batchbot.tokens.images import image_cost
from batchbot.tokens.responses import chat_shape

CHARS_PER_TOKEN = 4
EXTRAS = ("tools", "functions", "response_format")


def char_tokens(body: Mapping[str, Any], endpoint: str = CHAT) -> int:
    """The tokens a request is charged counted from its characters, allowance included."""
    allowance = answer_allowance(body, endpoint)
    if endpoint == EMBEDDINGS:
        value = body.get("input", "")
        texts = [value] if isinstance(value, str) else value
        chars = sum(len(text) for text in texts if isinstance(text, str))
        return math.ceil(chars / CHARS_PER_TOKEN)
    if endpoint == RESPONSES:
        body = chat_shape(body)
    model = str(body.get("model", ""))
    chars, images = 0, 0
    for message in body.get("messages") or ():
        for key, value in message.items():
            if key == "content" and isinstance(value, list):
                text, pictures = _parts(model, value)
                chars, images = chars + text, images + pictures
            elif value is not None:
                chars += len(value if isinstance(value, str) else json.dumps(value))
    for extra in EXTRAS:
        if body.get(extra):
            chars += len(json.dumps(body[extra], ensure_ascii=False))
    return math.ceil(chars / CHARS_PER_TOKEN) + images + allowance


def _parts(model: str, content: list[Any]) -> tuple[int, int]:
    """A content list's characters of text, and its images' tokens."""
    chars = images = 0
    for part in content:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, Mapping) else {"url": str(image or "")}
            detail = str(image.get("detail") or "auto")
            images += image_cost(model, str(image.get("url", "")), detail).tokens
        else:
            chars += len(str(part.get("text", "")))
    return chars, images
