"""A Responses API request as the Chat Completions request it amounts to, for counting.

OpenAI publishes no token rules of its own for the Responses API's `input`; its items carry the
same things as chat messages (text, images, files, function calls and their outputs), so
`count.count_request` rewrites the request into that shape and counts it with the chat rules
(docs/tokens.md). `instructions` become a developer message, as the API treats them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Responses content parts and the chat parts they amount to.
_TEXT_PARTS = frozenset({"input_text", "output_text", "text", "refusal"})


def chat_shape(body: Mapping[str, Any]) -> dict[str, Any]:
    """The Chat Completions body a Responses body amounts to, for counting only."""
    messages: list[dict[str, Any]] = []
    if body.get("instructions"):
        messages.append({"role": "developer", "content": str(body["instructions"])})
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    messages += [_message(item) for item in items if isinstance(item, Mapping)]
    chat: dict[str, Any] = {"model": body.get("model", ""), "messages": messages}
    # Built-in tools (web search, file search, ...) have no published cost; function tools do.
    tools = [_tool(tool) for tool in body.get("tools") or () if _is_function(tool)]
    if tools:
        chat["tools"] = tools
    text_format = (body.get("text") or {}).get("format")
    if isinstance(text_format, Mapping) and text_format.get("type") == "json_schema":
        chat["response_format"] = {"type": "json_schema", "json_schema": text_format}
    if body.get("max_output_tokens"):
        chat["max_completion_tokens"] = body["max_output_tokens"]
    return chat


def _message(item: Mapping[str, Any]) -> dict[str, Any]:
    kind = item.get("type", "message")
    if kind == "function_call":
        call = {"name": item.get("name", ""), "arguments": item.get("arguments", "")}
        return {"role": "assistant", "tool_calls": [{"type": "function", "function": call}]}
    if kind == "function_call_output":
        return {"role": "tool", "content": str(item.get("output", ""))}
    content = item.get("content", "")
    if isinstance(content, list):
        content = [_part(part) for part in content if isinstance(part, Mapping)]
    return {"role": str(item.get("role", "user")), "content": content}


def _part(part: Mapping[str, Any]) -> dict[str, Any]:
    kind = part.get("type")
    if kind in _TEXT_PARTS:
        return {"type": "text", "text": str(part.get("text") or part.get("refusal") or "")}
    if kind == "input_image":
        image = {"url": str(part.get("image_url") or ""), "detail": part.get("detail", "auto")}
        return {"type": "image_url", "image_url": image}
    if kind == "input_file":
        spec = {key: part[key] for key in ("file_data", "file_id") if key in part}
        return {"type": "file", "file": spec}
    if kind == "input_audio":
        return {"type": "input_audio", "input_audio": part.get("input_audio") or {}}
    return {"type": str(kind)}


def _is_function(tool: Any) -> bool:
    return isinstance(tool, Mapping) and tool.get("type") == "function"


def _tool(tool: Mapping[str, Any]) -> dict[str, Any]:
    """Responses function tools are flat; chat ones nest the function."""
    if "function" in tool:
        return dict(tool)
    spec = {key: tool[key] for key in ("name", "description", "parameters") if key in tool}
    return {"type": "function", "function": spec}
