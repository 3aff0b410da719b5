"""Answers that go wrong on purpose: invalid JSON, refusals and cut-off answers, on demand.

Real models now and then answer a structured request with JSON that does not follow the
schema, refuse, or run past max_tokens. The fake does the same for a given share of requests
(`FakeServer(invalid=0.1, length=0.05)`, `POST /_fake/answers`), and for every request whose
messages carry a marker such as `[[fake:invalid]]`, `[[fake:refusal]]` or `[[fake:length]]`.

Which requests: as the fake's answers are, the choice is deterministic. A request's whole body
decides it (a hash of it against the shares), so the same request always gets the same answer,
whatever the concurrency, and a request asked again differently (with more max_tokens, with the
validation error) is a new draw. `seed` picks another set of unlucky requests.

    invalid   a structured answer (JSON schema, json_object, tool call) that does not validate:
              a required field missing, or JSON cut short; a plain text answer is unaffected
    refusal   no answer: `refusal` says why (chat: message.refusal; Responses: a refusal part)
    length    the answer runs past max_tokens and is cut there (finish_reason `length`,
              Responses `incomplete`); with no max_tokens, halfway
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

QUIRKS = ("invalid", "refusal", "length")
MARKER = re.compile(r"\[\[fake:(invalid|refusal|length)\]\]")
REFUSAL = "I'm sorry, but I can't help with that request."


class AnswerQuirks:
    """The shares of requests answered wrongly; thread-safe (the server and its batches share
    one)."""

    def __init__(
        self, *, invalid: float = 0.0, refusal: float = 0.0, length: float = 0.0, seed: int = 0
    ) -> None:
        self._lock = threading.Lock()
        self._start = (invalid, refusal, length, seed)
        self._shares: dict[str, float] = {}
        self._seed = seed
        self.reset()

    def reset(self) -> None:
        """Back to the shares given at construction."""
        invalid, refusal, length, seed = self._start
        self.set(invalid=invalid, refusal=refusal, length=length, seed=seed)

    def set(
        self,
        *,
        invalid: float | None = None,
        refusal: float | None = None,
        length: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Change the shares (None keeps one); together they may not pass 1."""
        given = {"invalid": invalid, "refusal": refusal, "length": length}
        with self._lock:
            shares = {
                name: self._shares.get(name, 0.0) if value is None else float(value)
                for name, value in given.items()
            }
            if any(not 0 <= share <= 1 for share in shares.values()) or sum(shares.values()) > 1:
                raise ValueError("answer shares must be between 0 and 1 and add up to at most 1")
            self._shares = shares
            self._seed = self._seed if seed is None else int(seed)

    def pick(self, digest: bytes, messages: Iterable[Mapping[str, Any]]) -> str | None:
        """The quirk for a request (its body's `digest`), if it gets one."""
        marked = _marker(messages)
        if marked is not None:
            return marked
        with self._lock:
            shares, seed = dict(self._shares), self._seed
        if not any(shares.values()):
            return None
        salted = hashlib.blake2b(digest + seed.to_bytes(8, "little", signed=True), digest_size=8)
        draw = int.from_bytes(salted.digest(), "little") / 2**64
        for quirk in QUIRKS:
            if draw < shares[quirk]:
                return quirk
            draw -= shares[quirk]
        return None


def _marker(messages: Iterable[Mapping[str, Any]]) -> str | None:
    for message in messages:
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"text": content}]
        for part in parts:
            text = part.get("text") if isinstance(part, dict) else None
            found = MARKER.search(text) if isinstance(text, str) else None
            if found:
                return found.group(1)
    return None
