"""The fake server's Responses and embeddings answers, and the checks their bodies pass.

Answers are deterministic, as chat answers are (content.py): the same input gives the same
text, the same text the same vector. A Responses answer cut by `max_output_tokens` is
`incomplete` with that reason, as the API answers it. Vectors are unit length, sized as the
model's (or as `dimensions` asks), in base64 when `encoding_format` is base64.
"""

from __future__ import annotations

import base64
import hashlib
import math
import secrets
import sys
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from batchbot.fake import content, known
from batchbot.fake import errors as chat_errors
from batchbot.fake.counting import (
    input_texts,
    prompt_tokens,
    rate_limit_tokens,
    reserved_completion,
    responses_input_tokens,
    text_tokens,
)
from batchbot.fake.errors import ApiError, bad_json, is_reasoning_model
from batchbot.fake.structured import check_strict, wanted

# What a model's vectors measure; any other model answers with the first size.
DIMENSIONS = {"text-embedding-3-large": 3072, "text-embedding-3-small": 1536}
DEFAULT_DIMENSIONS = 1536
MAX_INPUTS = 2048
MAX_REQUEST_TOKENS = 300_000  # all of one embeddings request's inputs together
MAX_INPUT_TOKENS = 8192  # one input: the embedding models' context window
MIN_OUTPUT_TOKENS = 16
INVALID_INPUT = "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference."


def _missing(param: str) -> ApiError:
    message = f"Missing required parameter: '{param}'."
    return ApiError(400, message, param=param, code="missing_required_parameter")


def _with_model(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_json()
    if not isinstance(body.get("model"), str):
        raise _missing("model") if "model" not in body else ApiError(400, "model must be text")
    return body


def validate_responses(raw: object) -> dict[str, Any]:
    """A Responses body the API would take, else its 400."""
    body = _with_model(raw)
    for name in known.unknown_parameters(known.RESPONSES, body):
        raise chat_errors.unknown_parameter(name)
    value = body.get("input")
    if value is None:
        raise _missing("input")
    if not isinstance(value, str | list) or (isinstance(value, list) and not value):
        message = "Invalid 'input': expected a string or a non-empty array."
        raise ApiError(400, message, param="input")
    limit = body.get("max_output_tokens")
    if limit is not None and (not isinstance(limit, int) or limit < MIN_OUTPUT_TOKENS):
        message = (
            f"Invalid 'max_output_tokens': integer below minimum value. Expected a value >= "
            f"{MIN_OUTPUT_TOKENS}, but got {limit} instead."
        )
        raise ApiError(400, message, param="max_output_tokens", code="integer_below_min_value")
    chat_errors.check_tools(body)
    chat_errors.check_metadata(body, needs_store=False)
    chat_errors.check_service_tier(body)
    return body


def validate_embeddings(raw: object) -> dict[str, Any]:
    """An embeddings body the API would take, else its 400."""
    body = _with_model(raw)
    for name in known.unknown_parameters(known.EMBEDDINGS, body):
        raise chat_errors.unrecognized_argument(name)
    value = body.get("input")
    if value is None:
        raise _missing("input")
    texts = [value] if isinstance(value, str) else value
    if (
        not isinstance(texts, list)
        or not 0 < len(texts) <= MAX_INPUTS
        or not all(isinstance(text, str) and text for text in texts)
    ):
        raise ApiError(400, INVALID_INPUT, param=None)
    return body


def embedding_prompt(model: str, body: Mapping[str, Any]) -> int:
    """The tokens an embeddings request bills, if each input and the whole are short enough."""
    counts = [text_tokens(model, text) for text in input_texts(body)]
    longest, total = max(counts, default=0), sum(counts)
    if longest > MAX_INPUT_TOKENS:
        message = (
            f"This model's maximum context length is {MAX_INPUT_TOKENS} tokens, however you "
            f"requested {longest} tokens ({longest} in your prompt; 0 for the completion). "
            "Please reduce your prompt; or completion length."
        )
        raise ApiError(400, message, code="context_length_exceeded")
    if total > MAX_REQUEST_TOKENS:
        message = f"Requested {total} tokens, max {MAX_REQUEST_TOKENS} tokens per request"
        raise ApiError(400, message, type="max_tokens_per_request", code="max_tokens_per_request")
    return total


def as_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's texts as user messages: what faults and answers quote."""
    return [{"role": "user", "content": text} for text in input_texts(body)]


def response(
    body: Mapping[str, Any], input_tokens: int, quirk: str | None = None
) -> dict[str, Any]:
    """The whole `response` object answering a validated Responses request."""
    model, messages = body["model"], as_messages(body)
    seed = content.seed_of(messages)
    limit = body.get("max_output_tokens")
    shape = wanted(body, chat=False, seed=seed)
    choice = content.make_choice(model, messages, seed, limit, shape=shape, quirk=quirk)
    cut = choice.finish_reason == "length"
    output: list[dict[str, Any]] = []
    if choice.reasoning_tokens:
        output.append({"id": f"rs_{secrets.token_hex(16)}", "type": "reasoning", "summary": []})
    status = "incomplete" if cut else "completed"
    if choice.refusal:
        output.append(_message({"type": "refusal", "refusal": choice.refusal}, status))
    if choice.call is not None:
        output.append(_function_call(choice.call, status))
    if choice.content:
        text = {"type": "output_text", "text": choice.content, "annotations": [], "logprobs": []}
        output.append(_message(text, status))
    return {
        "id": f"resp_{secrets.token_hex(24)}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "incomplete" if cut else "completed",
        "background": False,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": limit,
        "model": model,
        "output": output,
        "parallel_tool_calls": True,
        "reasoning": {"effort": "medium" if is_reasoning_model(model) else None, "summary": None},
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools", []),
        "top_p": body.get("top_p", 1.0),
        "usage": {
            "input_tokens": input_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": choice.completion_tokens,
            "output_tokens_details": {"reasoning_tokens": choice.reasoning_tokens},
            "total_tokens": input_tokens + choice.completion_tokens,
        },
        "metadata": body.get("metadata") or {},
    }


def _function_call(call: Mapping[str, str], status: str) -> dict[str, Any]:
    return {
        "id": f"fc_{secrets.token_hex(24)}",
        "type": "function_call",
        "status": status,
        "call_id": call["id"],
        "name": call["name"],
        "arguments": call["arguments"],
    }


def _message(text: dict[str, Any], status: str) -> dict[str, Any]:
    return {
        "id": f"msg_{secrets.token_hex(24)}",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [text],
    }


def embeddings(
    body: Mapping[str, Any], prompt_tokens: int, quirk: str | None = None
) -> dict[str, Any]:
    """The `list` of embeddings answering a validated embeddings request."""
    model = body["model"]
    size = int(body.get("dimensions") or DIMENSIONS.get(model, DEFAULT_DIMENSIONS))
    as_base64 = body.get("encoding_format") == "base64"
    texts = input_texts(body)
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": index, "embedding": _encoded(text, size, as_base64)}
            for index, text in enumerate(texts)
        ],
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def vector(text: str, size: int) -> array[float]:
    """A unit vector drawn from the text's hash: the same text, the same vector."""
    raw = hashlib.shake_256(text.encode("utf-8", "surrogatepass")).digest(size)
    values = [byte - 127.5 for byte in raw]
    norm = math.sqrt(sum(value * value for value in values)) or 1.0
    return array("f", [value / norm for value in values])


def _encoded(text: str, size: int, as_base64: bool) -> str | list[float]:
    floats = vector(text, size)
    if not as_base64:
        return floats.tolist()
    if sys.byteorder == "big":
        floats.byteswap()  # the API's base64 holds little-endian float32s
    return base64.b64encode(floats.tobytes()).decode("ascii")


@dataclass(frozen=True, slots=True)
class Kind:
    """What the server does with one endpoint's requests."""

    validate: Callable[[object], dict[str, Any]]
    messages: Callable[[Mapping[str, Any]], list[Any]]  # what faults and answers read
    prompt: Callable[[str, Mapping[str, Any]], int]  # the input tokens it reports and bills
    # What it is charged against TPM on arrival, given its input tokens and the counting mode
    # (the modes are chat's; other endpoints charge exactly their input plus their allowance).
    charge: Callable[[Mapping[str, Any], int, str], int]
    # The answer, given its input tokens and its quirk (see `quirks`), if it has one.
    answer: Callable[[Mapping[str, Any], int, str | None], dict[str, Any]]
    # Whether the whole input must fit the model's context window (embeddings: each input).
    windowed: bool = True
    # Whether it is served at a service tier and its prompt cached (not embeddings).
    tiered: bool = True


def _responses_charge(body: Mapping[str, Any], prompt: int, mode: str) -> int:
    return prompt + int(body.get("max_output_tokens") or reserved_completion({}))


def _validate_chat(raw: object) -> dict[str, Any]:
    body = chat_errors.validate(raw)
    check_strict(body, chat=True)
    return body


def _validate_responses(raw: object) -> dict[str, Any]:
    body = validate_responses(raw)
    check_strict(body, chat=False)
    return body


KINDS = {
    "chat": Kind(
        _validate_chat,
        lambda body: list(body["messages"]),
        lambda model, body: prompt_tokens(body),
        lambda body, prompt, mode: rate_limit_tokens(body, mode),
        content.completion,
    ),
    "responses": Kind(
        _validate_responses, as_messages, responses_input_tokens, _responses_charge, response
    ),
    "embeddings": Kind(
        validate_embeddings,
        as_messages,
        embedding_prompt,
        lambda body, prompt, mode: prompt,
        embeddings,
        windowed=False,
        tiered=False,
    ),
}
