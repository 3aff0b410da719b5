"""Asking again, as the tutorial advises: a cut-off answer with a larger max_tokens, an invalid
one with what was wrong with it.

    on_length: retry    a `truncated` answer is asked again with twice its max_tokens (or
                        max_completion_tokens, max_output_tokens), up to max_tokens_cap
    on_invalid: retry   an `invalid` answer is sent back with its validation error, as
                        Instructor does, at most `max_reasks` times (2 by default): the
                        conversation goes on with the answer and a message saying what to fix
                        (for a forced tool call, the call and a tool message)

A refusal is the model's answer and is kept. A re-ask is a request like any other: it goes
through the limiter, the budget and the retry policy, and its answer replaces the item's,
with its cost added to the item's. The item keeps its id and request hash: the job's request
is what identifies it, the re-ask is how its answer was got.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchbot.endpoints import CAP_KEYS, RESPONSES
from batchbot.jobs.job import Item
from batchbot.jobs.schema import output_schema
from batchbot.outcome import INVALID, TRUNCATED, LastAnswer

__all__ = ["LENGTH", "Reask", "ReaskPolicy", "allowance", "plan"]

INVALID_REASK, LENGTH = INVALID, "length"  # why an answer is asked again
DEFAULT_MAX_REASKS = 2
FIX_TEXT = (
    "That answer is not valid JSON for the schema: {error}. Answer again with JSON that follows "
    "the schema exactly."
)
FIX_CALL = (
    "The arguments are not valid for {name}: {error}. Call {name} again with arguments that "
    "follow its parameters exactly."
)


@dataclass(frozen=True, slots=True)
class ReaskPolicy:
    """What to ask again: `on_invalid` up to `max_reasks` times, `on_length` up to the cap."""

    on_invalid: bool = False
    max_reasks: int = DEFAULT_MAX_REASKS
    on_length: bool = False
    max_tokens_cap: int | None = None

    @property
    def enabled(self) -> bool:
        return self.on_invalid or self.on_length


@dataclass(frozen=True, slots=True)
class Reask:
    """A request asking again about an item: why, what to send, and the allowance it gives."""

    reason: str
    body: dict[str, Any]
    max_tokens: int | None
    previous: LastAnswer


def plan(item: Item, previous: LastAnswer, policy: ReaskPolicy, endpoint: str) -> Reask | None:
    """The re-ask the policy calls for after `previous`, or None when the answer stands."""
    if previous.status == TRUNCATED and policy.on_length and policy.max_tokens_cap:
        now = previous.max_tokens
        grown = policy.max_tokens_cap if now is None else min(2 * now, policy.max_tokens_cap)
        if now is None or grown > now:
            body = _with_allowance(item.body, grown, endpoint)
            return Reask(LENGTH, body, grown, previous)
        return None
    if previous.status == INVALID and policy.on_invalid:
        if previous.invalid_reasks >= policy.max_reasks:
            return None
        body = _with_allowance(item.body, previous.max_tokens, endpoint)
        body = _with_feedback(body, previous, endpoint)
        return Reask(INVALID_REASK, body, previous.max_tokens, previous)
    return None


def allowance(body: Mapping[str, Any], endpoint: str) -> int | None:
    """The most tokens the request lets its answer use, if it says."""
    for key in CAP_KEYS.get(endpoint, ()):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def _with_allowance(body: Mapping[str, Any], tokens: int | None, endpoint: str) -> dict[str, Any]:
    keys = CAP_KEYS.get(endpoint, ())
    if tokens is None or not keys:
        return dict(body)
    key = next((key for key in keys if key in body), keys[0])
    return {**body, key: tokens}


def _with_feedback(body: dict[str, Any], previous: LastAnswer, endpoint: str) -> dict[str, Any]:
    """The conversation so far, the invalid answer, and what to fix about it."""
    error = previous.validation_error or "it does not follow the schema"
    spec = output_schema(body, endpoint)
    tool = spec.tool if spec else None
    call = next((c for c in previous.tool_calls if c.name == tool and c.id), None)
    if endpoint == RESPONSES:
        given = body.get("input")
        turns = (
            [{"role": "user", "content": given}] if isinstance(given, str) else list(given or ())
        )
        if call is not None:
            fix = FIX_CALL.format(name=call.name, error=error)
            turns += [
                {"type": "function_call", "call_id": call.id, "name": call.name,
                 "arguments": call.arguments},
                {"type": "function_call_output", "call_id": call.id, "output": fix},
            ]  # fmt: skip
        else:
            turns += _text_turns(previous, error)
        return {**body, "input": turns}
    messages = list(body.get("messages") or ())
    if call is not None:
        function = {"name": call.name, "arguments": call.arguments}
        messages += [
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": call.id, "type": "function", "function": function}]},
            {"role": "tool", "tool_call_id": call.id,
             "content": FIX_CALL.format(name=call.name, error=error)},
        ]  # fmt: skip
    else:
        messages += _text_turns(previous, error)
    return {**body, "messages": messages}


def _text_turns(previous: LastAnswer, error: str) -> list[dict[str, Any]]:
    return [
        {"role": "assistant", "content": previous.content or ""},
        {"role": "user", "content": FIX_TEXT.format(error=error)},
    ]
