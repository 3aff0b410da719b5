"""Reading an answer of each endpoint into one normalised Reply, and a Reply into an Outcome.

The dispatcher, budget, writer and store see only a Reply, whatever the endpoint: its choices
(text, refusal, tool calls and a chat-style `finish_reason` each), usage in chat's terms, what
else the answer held (`output_items`), and for embeddings one float32 vector per input. Chat
answers keep every choice of `n`; a Responses answer is one choice: the text of its messages,
their refusal, its `function_call` items as tool calls, and its other output items (web
searches, generated images, reasoning summaries...) as they came.

Responses' status maps to a finish_reason as reports need it (the raw status is kept):

    completed                               -> stop (tool_calls when it only calls tools)
    incomplete, reason max_output_tokens    -> length
    incomplete, reason content_filter       -> content_filter
    incomplete, any other reason            -> that reason
    failed                                  -> ResponseFailed (an error, not an answer)
"""

from __future__ import annotations

import base64
import json
import sys
from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from batchbot.api.exceptions import ResponseFailed
from batchbot.endpoints import EMBEDDINGS, RESPONSES
from batchbot.outcome import (
    OK,
    TRUNCATED,
    Attempt,
    Choice,
    Outcome,
    ToolCall,
    Totals,
    Usage,
    utc_now,
)

if TYPE_CHECKING:
    from batchbot.jobs.job import Item

# Output items that are the answer itself (read into choices), or say nothing worth keeping.
READ_ITEMS = frozenset({"message", "function_call", "custom_tool_call"})


@dataclass(frozen=True, slots=True)
class Reply:
    choices: tuple[Choice, ...]
    usage: Usage
    model: str | None
    headers: Mapping[str, str]
    vectors: tuple[bytes, ...] = ()  # embeddings: float32 little-endian, one per input
    status: str | None = None  # Responses: the response's own status
    output_items: tuple[Mapping[str, Any], ...] = ()
    service_tier: str | None = None  # the tier that served it, where the response says

    @property
    def content(self) -> str | None:
        return self.choices[0].content if self.choices else None

    @property
    def finish_reason(self) -> str | None:
        return self.choices[0].finish_reason if self.choices else None


def reply_from(endpoint: str, data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    """The Reply in an endpoint's answer; raises KeyError and the like on a malformed one."""
    if endpoint == RESPONSES:
        return _response(data, headers)
    if endpoint == EMBEDDINGS:
        return _embeddings(data, headers)
    return _chat(data, headers)


def answered(
    item: Item,
    reply: Reply,
    *,
    created_at: str,
    attempts: tuple[Attempt, ...],
    latency_ms: float | None = None,
    max_tokens: int | None = None,
    reask: str | None = None,
    before: Totals | None = None,
    asked_tier: str | None = None,
) -> Outcome:
    """The outcome of an answer: ok, or truncated when it was cut off at max_tokens.

    Whether it is refused or invalid is for the item's schema to say (answers.check). The
    tier that served it is the response's word, else the one the request asked for.
    """
    first = reply.choices[0] if reply.choices else Choice()
    return Outcome(
        item=item,
        status=TRUNCATED if first.finish_reason == "length" else OK,
        created_at=created_at,
        finished_at=utc_now(),
        attempts=attempts,
        content=first.content,
        finish_reason=first.finish_reason,
        usage=reply.usage,
        latency_ms=latency_ms,
        response_model=reply.model,
        vectors=reply.vectors,
        response_status=reply.status,
        refusal=first.refusal,
        tool_calls=first.tool_calls,
        output_items=reply.output_items,
        choices=reply.choices if len(reply.choices) > 1 else (),
        max_tokens=max_tokens,
        reask=reask,
        before=before,
        service_tier=reply.service_tier or asked_tier,
    )


def _chat(data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    raw = sorted(data["choices"], key=lambda choice: int(choice.get("index") or 0))
    if not raw:
        raise ValueError("an answer with no choices")
    usage = data.get("usage") or {}
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    several = len(raw) > 1
    return Reply(
        choices=tuple(_chat_choice(n, choice["message"], choice) for n, choice in enumerate(raw)),
        output_items=tuple(
            item for n, choice in enumerate(raw) for item in _extras(choice["message"], n, several)
        ),
        usage=Usage(
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            total_tokens=int(usage.get("total_tokens") or 0),
            cached_tokens=int(prompt_details.get("cached_tokens") or 0),
            reasoning_tokens=int(completion_details.get("reasoning_tokens") or 0),
        ),
        model=data.get("model"),
        headers=headers,
        service_tier=_tier(data),
    )


def _tier(data: Mapping[str, Any]) -> str | None:
    tier = data.get("service_tier")
    return tier if isinstance(tier, str) else None


def _chat_choice(index: int, message: Mapping[str, Any], raw: Mapping[str, Any]) -> Choice:
    calls = tuple(_chat_call(call) for call in message.get("tool_calls") or ())
    legacy = message.get("function_call")  # the deprecated `functions` parameter's answer
    if legacy:
        calls += (ToolCall(None, str(legacy.get("name") or ""), _text(legacy.get("arguments"))),)
    return Choice(
        index=index,
        content=message.get("content"),
        finish_reason=raw.get("finish_reason"),
        refusal=message.get("refusal") or None,
        tool_calls=calls,
    )


def _chat_call(call: Mapping[str, Any]) -> ToolCall:
    kind = call.get("type") or "function"
    spec = call.get(kind) or {}
    arguments = spec.get("arguments") if kind == "function" else spec.get("input")
    return ToolCall(call.get("id"), str(spec.get("name") or kind), _text(arguments))


def _extras(message: Mapping[str, Any], index: int, several: bool) -> list[dict[str, Any]]:
    """What a chat message holds besides text, refusal and tool calls: audio, citations."""
    found = [{"type": "audio", **message["audio"]}] if message.get("audio") else []
    found += [dict(note) for note in message.get("annotations") or ()]
    return [{**item, "choice": index} for item in found] if several else found


def _text(value: Any) -> str:
    """Arguments as the API sent them: text, or (from a lenient server) JSON made text."""
    if value is None:
        return ""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _response(data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    status = str(data["status"])
    if status == "failed":
        raise ResponseFailed(data.get("error"), headers)
    output = data.get("output") or []
    parts = [
        part
        for item in output
        if item.get("type") == "message"
        for part in item.get("content") or []
    ]
    texts = [part["text"] for part in parts if part.get("type") == "output_text"]
    refusals = [part["refusal"] for part in parts if part.get("type") == "refusal"]
    calls = tuple(
        ToolCall(
            item.get("call_id") or item.get("id"),
            str(item.get("name") or ""),
            _text(item.get("arguments") if item["type"] == "function_call" else item.get("input")),
        )
        for item in output
        if item.get("type") in ("function_call", "custom_tool_call")
    )
    usage = data.get("usage") or {}
    input_details = usage.get("input_tokens_details") or {}
    output_details = usage.get("output_tokens_details") or {}
    choice = Choice(
        content="".join(texts) if texts else None,
        finish_reason=_finish_reason(status, data.get("incomplete_details"), output),
        refusal="".join(refusals) if refusals else None,
        tool_calls=calls,
    )
    return Reply(
        choices=(choice,),
        output_items=tuple(item for item in output if _kept(item)),
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
        service_tier=_tier(data),
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


def _kept(item: Mapping[str, Any]) -> bool:
    """An output item read into no choice, kept as it came (a reasoning item only with text)."""
    kind = item.get("type")
    if kind in READ_ITEMS:
        return False
    return kind != "reasoning" or bool(item.get("summary") or item.get("content"))


def _embeddings(data: dict[str, Any], headers: Mapping[str, str]) -> Reply:
    rows = sorted(data["data"], key=lambda row: int(row["index"]))
    usage = data.get("usage") or {}
    prompt = int(usage.get("prompt_tokens") or 0)
    return Reply(
        choices=(),
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
