"""Each endpoint's answer read into one Reply: choices in order, tool calls, Responses' status as
a finish_reason, usage in chat's terms, embeddings as float32 bytes."""

from __future__ import annotations

import base64
import struct

import pytest

from batchbot.api.replies import ResponseFailed, reply_from, vector_bytes
from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES

HEADERS = {"x-ratelimit-remaining-requests": "499"}


def test_chat_choices_come_in_index_order_with_their_calls_and_usage():
    """n choices sent out of order are read by index; tool calls, refusal and usage details kept."""
    data = {
        "model": "gpt-4o-mini-2024-07-18",
        "service_tier": "default",
        "choices": [
            {"index": 1, "finish_reason": "stop", "message": {"content": "second"}},
            {
                "index": 0,
                "finish_reason": "tool_calls",
                "message": {
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "save", "arguments": '{"a": 1}'},
                        }
                    ],
                },
            },
        ],
        "usage": {
            "prompt_tokens": 20,
            "completion_tokens": 7,
            "total_tokens": 27,
            "prompt_tokens_details": {"cached_tokens": 8},
            "completion_tokens_details": {"reasoning_tokens": 3},
        },
    }
    reply = reply_from(CHAT, data, HEADERS)
    assert [choice.content for choice in reply.choices] == [None, "second"]
    assert reply.finish_reason == "tool_calls"
    (call,) = reply.choices[0].tool_calls
    assert (call.id, call.name, call.arguments) == ("call_1", "save", '{"a": 1}')
    usage = reply.usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (20, 7, 27)
    assert (usage.cached_tokens, usage.reasoning_tokens) == (8, 3)
    assert (reply.model, reply.service_tier, reply.headers) == (data["model"], "default", HEADERS)


def test_a_chat_answer_without_choices_is_malformed():
    """No choice at all is no answer: an error the client turns into a retry."""
    with pytest.raises(ValueError, match="no choices"):
        reply_from(CHAT, {"choices": []}, HEADERS)


def response(status: str, output: list[dict[str, object]], **extra: object) -> dict[str, object]:
    """A Responses API answer with this status and output."""
    usage = {"input_tokens": 12, "output_tokens": 30, "total_tokens": 42}
    return {"model": "gpt-5-mini", "status": status, "output": output, "usage": usage, **extra}


MESSAGE = {"type": "message", "content": [{"type": "output_text", "text": "Hello"}]}
CALL = {"type": "function_call", "call_id": "c1", "name": "save", "arguments": "{}"}
REASONING = {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Thought"}]}


@pytest.mark.parametrize(
    ("status", "output", "incomplete", "finish_reason"),
    [
        ("completed", [MESSAGE], None, "stop"),
        ("completed", [CALL], None, "tool_calls"),
        ("completed", [MESSAGE, CALL], None, "stop"),
        ("incomplete", [MESSAGE], {"reason": "max_output_tokens"}, "length"),
        ("incomplete", [], {"reason": "content_filter"}, "content_filter"),
    ],
)
def test_a_responses_status_becomes_a_finish_reason(status, output, incomplete, finish_reason):
    """completed is stop (tool_calls when it only calls), cut at max_output_tokens is length."""
    reply = reply_from(RESPONSES, response(status, output, incomplete_details=incomplete), {})
    assert reply.finish_reason == finish_reason
    assert reply.status == status
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (12, 30)


def test_a_responses_answer_keeps_what_is_not_text():
    """Text and calls are read into the choice; a reasoning summary is kept as it came."""
    reply = reply_from(RESPONSES, response("completed", [REASONING, MESSAGE, CALL]), {})
    assert reply.content == "Hello"
    assert [call.name for call in reply.choices[0].tool_calls] == ["save"]
    assert reply.output_items == (REASONING,)
    empty = reply_from(RESPONSES, response("completed", [{"type": "reasoning"}]), {})
    assert empty.output_items == ()  # a reasoning item with nothing to read is not kept


def test_a_failed_response_is_an_error_with_its_code():
    """status failed raises ResponseFailed carrying the API's code and message."""
    data = response("failed", [], error={"code": "server_error", "message": "Try again."})
    with pytest.raises(ResponseFailed, match=r"the response failed: Try again\.") as failed:
        reply_from(RESPONSES, data, HEADERS)
    assert failed.value.code == "server_error"
    assert failed.value.headers == HEADERS


def test_embeddings_are_float32_bytes_in_index_order():
    """Vectors in either encoding become the same little-endian float32 bytes, by index."""
    floats = [0.5, -1.25, 3.0]
    packed = struct.pack("<3f", *floats)
    data = {
        "model": "text-embedding-3-small",
        "data": [
            {"index": 1, "embedding": base64.b64encode(packed).decode()},
            {"index": 0, "embedding": [2.0, 0.0, -0.5]},
        ],
        "usage": {"prompt_tokens": 6},
    }
    reply = reply_from(EMBEDDINGS, data, {})
    assert reply.vectors == (struct.pack("<3f", 2.0, 0.0, -0.5), packed)
    assert (reply.usage.prompt_tokens, reply.usage.total_tokens) == (6, 6)
    assert reply.choices == ()


def test_a_base64_vector_of_broken_length_is_refused():
    """Base64 that does not hold whole float32 values is a malformed answer, not a vector."""
    with pytest.raises(ValueError, match="whole float32"):
        vector_bytes(base64.b64encode(b"\x00" * 6).decode())
