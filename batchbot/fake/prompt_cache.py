"""OpenAI's prompt caching, simulated: the start of a prompt seen recently is billed cheaper.

As OpenAI's prompt caching guide describes it, and with the fake's own token counting:

- a prompt is a sequence of tokens: its tools and response format first, then its messages
  (or instructions and input items) in order, each tokenised with the model's vocabulary;
- once a request has been answered, every prefix of its prompt of 1,024 tokens or more, in
  steps of 128 (1,024, 1,152, 1,280, ...), is cached, for this model and this
  `prompt_cache_key` (requests with another key do not share it);
- a later request whose prompt starts with a cached prefix has the longest such prefix
  reported as `cached_tokens` (and billed at the cached-input rate);
- a prefix not used for COOL_AFTER_S (five minutes) cools: it is no longer cached.

A request answered while another with the same prefix is still being processed finds nothing
cached yet, as with the real API: requests sent all at once all pay full price.
"""

from __future__ import annotations

import hashlib
import json
import threading
from array import array
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from batchbot.fake.counting import encoder

MIN_TOKENS = 1024
STEP = 128
COOL_AFTER_S = 300.0
# Prefix hashes kept at most: past this, the cooled ones are dropped.
KEPT = 100_000

Prefixes = Sequence[tuple[int, bytes]]  # (tokens, hash of the prompt's first that many)


class PromptCache:
    """The cached prefixes of one server; a test thread may clear it while the server serves."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last_used: dict[bytes, float] = {}

    def cached_tokens(self, prefixes: Prefixes, most: int) -> int:
        """The longest of a prompt's prefixes that is cached now, of at most `most` tokens
        (the prompt tokens the API reports); 0 if none is."""
        now = self._clock()
        with self._lock:
            for tokens, digest in reversed(prefixes):
                if tokens > most:
                    continue
                used = self._last_used.get(digest)
                if used is not None and now - used <= COOL_AFTER_S:
                    return tokens
        return 0

    def remember(self, prefixes: Prefixes) -> None:
        """A request with these prefixes was answered: they are cached from now on."""
        now = self._clock()
        with self._lock:
            for _, digest in prefixes:
                self._last_used[digest] = now
            if len(self._last_used) > KEPT:
                cold = [d for d, used in self._last_used.items() if now - used > COOL_AFTER_S]
                for digest in cold:
                    del self._last_used[digest]

    def clear(self) -> None:
        with self._lock:
            self._last_used.clear()


def prefixes(model: str, body: Mapping[str, Any]) -> Prefixes:
    """Every cacheable prefix of a chat or Responses request's prompt, shortest first."""
    key = body.get("prompt_cache_key")
    tokens = [token for part in _parts(body) for token in _tokens(model, part)]
    if len(tokens) < MIN_TOKENS:
        return ()
    running = hashlib.blake2b(f"{model}\0{key}".encode(), digest_size=16)
    found, done = [], 0
    for end in range(MIN_TOKENS, len(tokens) + 1, STEP):
        running.update(array("I", tokens[done:end]).tobytes())
        done = end
        found.append((end, running.copy().digest()))
    return found


def _parts(body: Mapping[str, Any]) -> list[str]:
    """The prompt's pieces in the order the model reads them."""
    parts = [_text(body.get(key)) for key in ("tools", "functions", "response_format", "text")]
    if isinstance(body.get("instructions"), str):
        parts.append(body["instructions"])
    for message in body.get("messages") or ():
        if isinstance(message, Mapping):
            parts.append(f"{message.get('role')}\n{_text(message.get('content'))}")
    given = body.get("input")
    for item in [given] if isinstance(given, str) else given or ():
        parts.append(_text(item))
    return [part for part in parts if part]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return (
        value if isinstance(value, str) else json.dumps(_inline_data_hashed(value), sort_keys=True)
    )


def _inline_data_hashed(value: Any) -> Any:
    """`value` with each inline file (a `data:` URL: an image, audio) replaced by its hash.

    The model reads an image as tiles, not as the text of its base64; tokenising half a
    megabyte of it as text would hold the server for minutes. Equal files still hash equal.
    """
    if isinstance(value, str):
        if value.startswith("data:") and len(value) > 256:
            return "data:" + hashlib.blake2b(value.encode(), digest_size=16).hexdigest()
        return value
    if isinstance(value, Mapping):
        return {key: _inline_data_hashed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_inline_data_hashed(item) for item in value]
    return value


@lru_cache(maxsize=4096)
def _tokens(model: str, text: str) -> tuple[int, ...]:
    # A long system prompt is the same text in every request: tokenised once.
    return tuple(encoder(model).encode_ordinary(text))
