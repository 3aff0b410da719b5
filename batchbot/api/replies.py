"""Reading an answer of each endpoint into one normalised Reply.

The dispatcher, budget, writer and store see only a Reply, whatever the endpoint: text in
`content`, a chat-style `finish_reason`, usage in chat's terms, and for embeddings one float32
vector per input.

Responses' status maps to a finish_reason as reports need it (the raw status is kept):

    completed                               -> stop (tool_calls when it only calls tools)
    incomplete, reason max_output_tokens    -> length
    incomplete, reason content_filter       -> content_filter
    incomplete, any other reason            -> that reason
    failed                                  -> ResponseFailed (an error, not an answer)
"""

from __future__ import annotations

import base64
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchbot.endpoints import EMBEDDINGS, RESPONSES
from batchbot.outcome import Usage


@dataclass(frozen=True, slots=True)
class Reply:
    content: str | None
    finish_reason: str | None
    usage: Usage
    model: str | None
    headers: Mapping[str, str]
    vectors: tuple[bytes, ...] = ()  # embeddings: float32 little-endian, one per input
    status: str | None = None  # Responses: the response's own status


class ResponseFailed(Exception):
    """A Responses answer whose status is `failed`: the model could not produce it."""

    status_code = 200

    def __init__(self, error: Mapping[str, Any] | None, headers: Mapping[str, str]) -> None:
        error = error or {}
        self.code = str(error.get("code") or "response_failed")
        self.message = f"the response failed: {error.get('message') or self.code}"
        super().__init__(self.message)
        self.headers = headers


def reply_from(endpoint: str, data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    """The Reply in an endpoint's answer; raises KeyError and the like on a malformed one."""
    if endpoint == RESPONSES:
        return _response(data, headers)
    if endpoint == EMBEDDINGS:
        return _embeddings(data, headers)
    return _chat(data, headers)


def _chat(data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    choice = data["choices"][0]
    usage = data.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Reply(
        content=choice["message"].get("content"),
        finish_reason=choice.get("finish_reason"),
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
            cached_tokens=int(prompt_details.get("cached_tokens") or 0),
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        ),
        model=data.get("model"),
        headers=headers,
    )


def _response(data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    status = str(data["status"])
    if status == "failed":
        raise ResponseFailed(data.get("error"), headers)
    output = data.get("output") or []
    texts = [
        part["text"]
        for item in output
        if item.get("type") == "message"
        for part in item.get("content") or []
        if part.get("type") == "output_text"
    ]
    usage = data.get("usage") or {}
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    return Reply(
        content="".join(texts) if texts else None,
        finish_reason=_finish_reason(status, data.get("incomplete_details"), output),
        usage=Usage(
            prompt_tokens=int(usage.get("input_tokens") or 0),
            completion_tokens=int(usage.get("output_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
            cached_tokens=int(input_details.get("cached_tokens") or 0),
            reasoning_tokens=int(output_details.get("reasoning_tokens") or 0),
        ),
        model=data.get("model"),
        headers=headers,
        status=status,
    )


def _finish_reason(status: str, incomplete: Any, output: list[Any]) -> str:
    if status == "completed":
        calls = any(item.get("type") == "function_call" for item in output)
        says = any(item.get("type") == "message" for item in output)
        return "tool_calls" if calls and not says else "stop"
    if status == "incomplete":
        reason = (incomplete or {}).get("reason")
        return "length" if reason == "max_output_tokens" else str(reason or "incomplete")
    return status


def _embeddings(data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    rows = sorted(data["data"], key=lambda row: int(row["index"]))
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    return Reply(
        content=None,
        finish_reason=None,
        usage=Usage(prompt_tokens=prompt, total_tokens=int(usage.get("total_tokens") or prompt)),
        model=data.get("model"),
        headers=headers,
        vectors=tuple(vector_bytes(row["embedding"]) for row in rows),
    )


def vector_bytes(embedding: str | list[float]) -> bytes:
    """An embedding (base64 of float32s, or a list of floats) as float32 little-endian bytes."""
    if isinstance(embedding, str):
        raw = base64.b64decode(embedding, validate=True)
        if len(raw) % 4:
            raise ValueError("a base64 embedding must hold whole float32 values")
        return raw
    floats = array("f", embedding)
    if sys.byteorder == "big":
        floats.byteswap()
    return floats.tobytes()
