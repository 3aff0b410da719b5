"""Prompt caching, helped on purpose: requests that share a long prefix go together, and the
first of them goes alone.

OpenAI caches the start of a prompt once a request with it has been processed: a later request
to the same model that starts with the same 1,024 tokens or more (in steps of 128) is billed
that part at the cached-input rate, for a few minutes after the prefix was last used. Jobs
whose items share a long system prompt, tools or schema (the common case) get that discount
only when their requests land on a warm cache, so a run helps it three ways:

- `prompt_cache_key`: requests with the same prefix carry the same key (`batchbot-` and a hash
  of the prefix), which OpenAI uses to route them to the same cache. A job's own key in its
  params wins; `prompt_cache_key: null` in the params sends none.
- order: within a look-ahead of LOOKAHEAD items (never the whole job in memory), items that
  share a prefix are sent one after another rather than spread over the run.
- priming: the first request of a prefix goes alone; the others wait for its answer, so they
  find the prefix cached instead of all missing it at once.

A request's prefix is what it shares with the next one by construction: its model, tools and
response format, and every message but the last (chat), or its instructions and every input
item but the last (Responses). Only prefixes of MIN_CACHED_TOKENS or more count.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from batchbot.endpoints import CHAT, RESPONSES
from batchbot.jobs.job import Item
from batchbot.tokens.count import input_tokens

__all__ = ["LOOKAHEAD", "Lookahead", "Prefix", "Prefixes"]

MIN_CACHED_TOKENS = 1024
LOOKAHEAD = 1_000
KEY_PREFIX = "batchbot-"
# Prefixes remembered (their token counts, whether primed) at most: a job of a million
# documents, each a prefix of its own, does not grow them without end.
REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Prefix:
    """A long prefix requests share: a hash of it, and its tokens."""

    digest: str
    tokens: int

    @property
    def cache_key(self) -> str:
        return KEY_PREFIX + self.digest[:32]


class Prefixes:
    """The long prefixes of one run's requests, and which are cached (or being cached)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._tokens: dict[str, int] = {}
        self._primed: dict[str, asyncio.Event] = {}

    def of(self, body: Mapping[str, Any]) -> Prefix | None:
        """The long prefix `body` shares with requests like it, if it has one."""
        shared = _shared(body, self.endpoint)
        if shared is None:
            return None
        raw = _canonical(shared)
        if len(raw) < MIN_CACHED_TOKENS:  # a token is one byte at least
            return None
        digest = hashlib.blake2b(raw, digest_size=20).hexdigest()
        tokens = self._tokens.get(digest)
        if tokens is None:
            if len(self._tokens) >= REMEMBERED:
                self._tokens.clear()
            tokens = self._tokens[digest] = input_tokens(shared, self.endpoint)
        return Prefix(digest, tokens) if tokens >= MIN_CACHED_TOKENS else None

    def claim(self, prefix: Prefix) -> asyncio.Event | None:
        """None for the first request of a prefix (it primes the cache); for the others, the
        event set once it has its answer."""
        if prefix.digest in self._primed:
            return self._primed[prefix.digest]
        if len(self._primed) >= REMEMBERED:  # forget the primed ones: at worst, one primes again
            self._primed = {d: event for d, event in self._primed.items() if not event.is_set()}
        self._primed[prefix.digest] = asyncio.Event()
        return None

    def primed(self, prefix: Prefix) -> None:
        """The first request of `prefix` is answered (or gave up): the others may go."""
        self._primed[prefix.digest].set()


def with_cache_key(body: dict[str, Any], prefix: Prefix | None) -> dict[str, Any]:
    """`body` as sent: with the job's own `prompt_cache_key`, else its prefix's if it has a
    long one; none at all when the job's is null."""
    if "prompt_cache_key" in body:
        if body["prompt_cache_key"] is not None:
            return body
        return {key: value for key, value in body.items() if key != "prompt_cache_key"}
    return body if prefix is None else {**body, "prompt_cache_key": prefix.cache_key}


class Lookahead:
    """Items in, the same items out, those sharing a prefix one after another.

    Items with a long prefix wait, grouped by it, until LOOKAHEAD of them are waiting; then
    the group that started first goes, whole. Items with none go at once.
    """

    def __init__(self, key: Callable[[Item], str | None], window: int = LOOKAHEAD) -> None:
        self._key, self._window = key, window
        self._groups: dict[str, deque[Item]] = {}
        self._waiting = 0

    def add(self, item: Item) -> list[Item]:
        """The items ready to go once `item` is in."""
        key = self._key(item)
        if key is None:
            return [item]
        self._groups.setdefault(key, deque()).append(item)
        self._waiting += 1
        if self._waiting < self._window:
            return []
        oldest = self._groups.pop(next(iter(self._groups)))
        self._waiting -= len(oldest)
        return list(oldest)

    def flush(self) -> list[Item]:
        """Every item still waiting, group by group."""
        ready = [item for group in self._groups.values() for item in group]
        self._groups.clear()
        self._waiting = 0
        return ready


def _shared(body: Mapping[str, Any], endpoint: str) -> dict[str, Any] | None:
    """The part of a request the next one like it starts with, as a request of its own."""
    model = body.get("model")
    if endpoint == CHAT:
        messages = body.get("messages")
        earlier = messages[:-1] if isinstance(messages, list) else []
        shared = _present(body, ("tools", "functions", "response_format"))
        return {"model": model, "messages": earlier, **shared} if earlier or shared else None
    if endpoint == RESPONSES:
        given = body.get("input")
        earlier = given[:-1] if isinstance(given, list) else []
        shared = _present(body, ("instructions", "tools", "text"))
        return {"model": model, "input": earlier, **shared} if earlier or shared else None
    return None


def _canonical(value: Any) -> bytes:
    """Sorted-key JSON; the stdlib for what orjson refuses (an integer beyond 64 bits)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8")


def _present(body: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
    return {key: body[key] for key in keys if body.get(key) is not None}
