"""Prompt tokens for function tools, tool calls in the history, and JSON-schema outputs.

Tools follow `num_tokens_for_tools` from OpenAI's cookbook ("How to count tokens with tiktoken",
section 7), which matches what the API reported for its example: 101 prompt tokens on gpt-4o and
gpt-4o-mini, 105 on gpt-4 and gpt-3.5-turbo. OpenAI publishes nothing for the rest, so these
are batchbot's documented assumptions (docs/tokens.md): nested parameters add the compact JSON
of the nested part, a tool call in the history costs 3 tokens plus its name and arguments, and a
`json_schema` response format costs its name and its schema's compact JSON.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

# The cookbook's constants. A function's opening is 7 tokens on o200k models, 10 on cl100k.
FUNCTION_OPENING = {"o200k_base": 7, "o200k_harmony": 7, "cl100k_base": 10}
PROPERTIES_OPENING = 3
PER_PROPERTY = 3
ENUM_OPENING = -3
PER_ENUM_VALUE = 3
TOOLS_CLOSING = 12
PER_TOOL_CALL = 3

Count = Callable[[str], int]


def tools_tokens(tools: Iterable[Mapping[str, Any]], count: Count, vocabulary: str) -> int:
    """Tokens for `tools` (or legacy `functions`) definitions; 0 when there are none."""
    defined = (tool.get("function", tool) for tool in tools if isinstance(tool, Mapping))
    functions = [function for function in defined if isinstance(function, Mapping)]
    if not functions:
        return 0
    opening = FUNCTION_OPENING.get(vocabulary, FUNCTION_OPENING["o200k_base"])
    return TOOLS_CLOSING + sum(opening + _function(f, count) for f in functions)


def _function(function: Mapping[str, Any], count: Count) -> int:
    total = count(f"{function.get('name', '')}:{_without_full_stop(function.get('description'))}")
    parameters = function.get("parameters")
    properties = parameters.get("properties") if isinstance(parameters, Mapping) else None
    if not properties or not isinstance(properties, Mapping):
        return total
    total += PROPERTIES_OPENING
    for name, spec in properties.items():
        total += PER_PROPERTY + _property(
            str(name), spec if isinstance(spec, Mapping) else {}, count
        )
    return total


def _property(name: str, spec: Mapping[str, Any], count: Count) -> int:
    kind = spec.get("type", "")
    kind_text = kind if isinstance(kind, str) else _compact(kind)
    total = count(f"{name}:{kind_text}:{_without_full_stop(spec.get('description'))}")
    values = spec.get("enum")
    if isinstance(values, list):
        total += ENUM_OPENING + sum(PER_ENUM_VALUE + count(str(value)) for value in values)
    nested = {key: spec[key] for key in ("properties", "items") if key in spec}
    return total + (count(_compact(nested)) if nested else 0)


def tool_call_tokens(calls: Any, count: Count) -> int:
    """An assistant's `tool_calls` (a list) or legacy `function_call` (one mapping)."""
    if isinstance(calls, Mapping):
        calls = [{"function": calls}]
    if not isinstance(calls, list):
        return 0
    total = 0
    for call in calls:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            text = str(function.get("name", "")) + str(function.get("arguments", ""))
            total += PER_TOOL_CALL + count(text)
    return total


def schema_tokens(response_format: Any, count: Count) -> int:
    """A `json_schema` response format: its name and its schema as compact JSON."""
    if not isinstance(response_format, Mapping) or response_format.get("type") != "json_schema":
        return 0
    spec = response_format.get("json_schema")
    if not isinstance(spec, Mapping):
        return 0
    return count(str(spec.get("name", ""))) + count(_compact(spec.get("schema", {})))


def _without_full_stop(text: Any) -> str:
    """Descriptions lose one final full stop in the tool format, as the cookbook counts them."""
    return str(text or "").removesuffix(".")


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
