"""Answers for the fake server: deterministic, plausible, and counted like the real thing.

The same messages always get the same answer, so runs, caches and tests are reproducible. An
answer quotes the last user message and runs 20–120 tokens; a smaller max_tokens (or
max_completion_tokens) cuts it to exactly that many tokens with finish_reason "length", as the
API does. Reasoning models also spend hidden reasoning tokens, which count inside
completion_tokens and come out of the same allowance, so a tight limit can leave no visible text.
A request that asks for structure gets it (`structured`): JSON that follows its schema, or a
call to the tool it forces; `n` choices are `n` answers, their tokens all in the usage. A
request picked for a quirk (`quirks`) is refused, cut off or answered with invalid JSON.
"""

from __future__ import annotations

import hashlib
import random
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from batchbot.fake.counting import encoder, text_tokens
from batchbot.fake.errors import is_reasoning_model
from batchbot.fake.faults import strip_markers
from batchbot.fake.quirks import REFUSAL
from batchbot.fake.structured import Wanted, json_text, wanted

MIN_TOKENS, MAX_TOKENS = 20, 120
TOPIC_TOKENS = 12
REASONING_STEP = 64  # real reasoning counts come in multiples of 64 more often than not

OPENERS = (
    'You asked about "{topic}".',
    'Here is a short answer to "{topic}".',
    'Good question: "{topic}".',
    'Regarding "{topic}", here is what matters most.',
    'Let me help with "{topic}".',
)
FILLERS = (
    "The short version is that it depends on your goals and constraints.",
    "Start with the simplest approach that could work, then measure it.",
    "Most people find that a small, concrete example makes the idea click.",
    "Keep an eye on cost and latency as usage grows.",
    "Write down what you expect before you try it, so surprises stand out.",
    "If something fails, retry after a short pause before changing anything else.",
    "The documentation and a quick experiment usually answer the rest.",
    "Break the problem into steps and check each one on its own.",
    "Small, frequent improvements tend to beat one big rewrite.",
    "When in doubt, prefer the option that is easier to undo.",
    "Logging inputs and outputs makes later debugging much easier.",
    "A second pair of eyes on the result rarely hurts.",
    "I hope this helps, and let me know if you would like more detail.",
)


@dataclass(frozen=True, slots=True)
class Choice:
    content: str | None
    completion_tokens: int  # visible plus reasoning
    reasoning_tokens: int
    finish_reason: str
    call: dict[str, str] | None = None  # a tool call: id, name, arguments
    refusal: str | None = None


def _last_user_text(messages: Sequence[Mapping[str, Any]], *, first: bool = False) -> str:
    for message in messages if first else reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
            return " ".join(strip_markers(str(content or "")).split())
    return ""


def _topic(model: str, messages: Sequence[Mapping[str, Any]]) -> str:
    """The last user message, cut to a quotable length."""
    text = _last_user_text(messages) or "your message"
    enc = encoder(model)
    tokens = enc.encode(text, disallowed_special=())
    if len(tokens) <= TOPIC_TOKENS:
        return text
    return enc.decode(tokens[:TOPIC_TOKENS]).rstrip() + "…"


@cache
def _sentence_tokens(model: str, sentence: str) -> int:
    return text_tokens(model, " " + sentence)


def natural_text(model: str, messages: Sequence[Mapping[str, Any]], rng: random.Random) -> str:
    """What the model 'wants' to say: an opener quoting the user, then filler to a target."""
    target = rng.randint(MIN_TOKENS, MAX_TOKENS)
    parts = [rng.choice(OPENERS).format(topic=_topic(model, messages))]
    total = text_tokens(model, parts[0])
    for sentence in rng.sample(FILLERS, len(FILLERS)):
        if total >= target:
            break
        size = _sentence_tokens(model, sentence)
        if total + size > MAX_TOKENS:
            break
        parts.append(sentence)
        total += size
    return " ".join(parts)


def make_choice(
    model: str,
    messages: Sequence[Mapping[str, Any]],
    seed: int,
    limit: int | None,
    *,
    shape: Wanted | None = None,
    quirk: str | None = None,
) -> Choice:
    """One choice for these messages; `seed` differs per choice index. `shape`: the structure
    the request wants; `quirk`: how it goes wrong (see `quirks`)."""
    rng = random.Random(seed)
    enc = encoder(model)
    if shape is None:
        text = natural_text(model, messages, rng)
    else:
        words = _last_user_text(messages, first=True).split()
        text = json_text(shape, rng, words, broken=quirk == "invalid")
    if quirk == "refusal":
        text = REFUSAL
    tokens = enc.encode(text, disallowed_special=())
    reasoning = REASONING_STEP * rng.randint(1, 4) if is_reasoning_model(model) else 0
    if quirk == "length":  # the answer runs on past its allowance (or halfway, with none)
        limit = limit or max(1, (reasoning + len(tokens)) // 2)
        while reasoning + len(tokens) <= limit:
            tokens += enc.encode(" " + FILLERS[len(tokens) % len(FILLERS)])
    finish = "stop"
    if limit is not None and reasoning + len(tokens) > limit:
        # Out of allowance: reasoning comes first and may eat all of it.
        reasoning = min(reasoning, limit)
        tokens, finish = tokens[: limit - reasoning], "length"
    visible, used = enc.decode(tokens), reasoning + len(tokens)
    if quirk == "refusal":
        return Choice(None, used, reasoning, finish, refusal=visible)
    if shape is not None and shape.tool is not None:
        call = {"id": _call_id(seed), "name": shape.tool, "arguments": visible}
        if finish == "stop" and not shape.named:
            finish = "tool_calls"  # a call the model chose; one forced by name says stop
        return Choice(None, used, reasoning, finish, call=call)
    return Choice(visible, used, reasoning, finish)


def _call_id(seed: int) -> str:
    """A tool call's id, the same for the same answer (a re-ask quoting it stays the same)."""
    digest = hashlib.blake2b(str(seed).encode(), digest_size=12).hexdigest()
    return f"call_{digest}"


def completion_limit(body: Mapping[str, Any]) -> int | None:
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(limit) if limit else None


def usage(prompt_tokens: int, choices: Sequence[Choice]) -> dict[str, Any]:
    """OpenAI's usage object, with every detail field the API sends."""
    completion = sum(choice.completion_tokens for choice in choices)
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion,
        "total_tokens": prompt_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": sum(choice.reasoning_tokens for choice in choices),
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def choice_object(index: int, choice: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": choice.content,
        "refusal": choice.refusal,
        "annotations": [],
    }
    if choice.call is not None:
        function = {"name": choice.call["name"], "arguments": choice.call["arguments"]}
        message["tool_calls"] = [
            {"id": choice.call["id"], "type": "function", "function": function}
        ]
    return {
        "index": index,
        "message": message,
        "logprobs": None,
        "finish_reason": choice.finish_reason,
    }


def seed_of(messages: Any) -> int:
    """Answers are seeded from the messages alone: unrelated parameters change nothing."""
    return int.from_bytes(hashlib.blake2b(orjson.dumps(messages), digest_size=8).digest())


def completion(
    body: Mapping[str, Any], prompt_tokens: int, quirk: str | None = None
) -> dict[str, Any]:
    """The whole chat.completion object answering a validated request."""
    model, messages = body["model"], body["messages"]
    seed = seed_of(messages)
    limit = completion_limit(body)
    shape = wanted(body, chat=True, seed=seed)
    choices = [
        make_choice(model, messages, seed + i, limit, shape=shape, quirk=quirk)
        for i in range(body.get("n") or 1)
    ]
    return {
        "id": f"chatcmpl-{secrets.token_hex(14)}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [choice_object(i, choice) for i, choice in enumerate(choices)],
        "usage": usage(prompt_tokens, choices),
        "service_tier": "default",
        "system_fingerprint": _fingerprint(model),
    }


def _fingerprint(model: str) -> str:
    """A stable `fp_…` per model, as the real one is stable per backend configuration."""
    return f"fp_{hashlib.blake2b(model.encode(), digest_size=5).hexdigest()}"
