"""Which requests the fake server fails, and how.

Three sources, checked in this order for each valid chat request:

1. queued: `inject("503", times=2)` fails the next two requests, whatever they are;
2. marked: a message containing `[[fake:FAULT]]` fails every attempt of that request, so a test
   can fail one exact item however requests interleave. Transient faults may carry a count,
   `[[fake:500x2]]`, failing only the first two attempts of that exact body, so retries succeed
   (a count on a permanent fault is ignored; an unknown name is ordinary text);
3. random: `fail_rate` of requests, drawn from a seeded RNG, get a random transient fault.
"""

from __future__ import annotations

import random
import re
import threading
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from batchbot.fake import errors as fake_errors
from batchbot.fake.errors import ApiError
from batchbot.fake.limits import Refusal

# Faults a retry may cure; the rest (auth, quota, bad request) fail every attempt.
TRANSIENT = frozenset({"500", "502", "503", "reset", "malformed", "429", "resource_unavailable"})
FAULTS = TRANSIENT | {
    "hang",
    "401",
    "403",
    "insufficient_quota",
    "context_length_exceeded",
    "model_not_found",
}
# What `fail_rate` draws from: the failures a healthy client meets on a busy day.
RANDOM_FAULTS = ("500", "502", "503", "reset", "malformed")
# Faults the server acts out on the connection rather than answering with an error body.
CONNECTION_FAULTS = frozenset({"reset", "hang", "malformed"})

MARKER = "[[fake:"
MARKER_PATTERN = re.compile(r"\[\[fake:([a-z0-9_]+?)(?:x(\d+))?\]\]")
FAULT_429_WAIT = 0.05


def check_fault(fault: str) -> str:
    if fault not in FAULTS:
        raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(sorted(FAULTS))}")
    return fault


def _texts(messages: Iterable[Mapping[str, Any]]) -> Iterable[str]:
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            yield content
        elif isinstance(content, list):
            yield from (
                p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )


def find_marker(messages: Iterable[Mapping[str, Any]]) -> tuple[str, int | None] | None:
    """The first `[[fake:FAULT]]` or `[[fake:FAULTxN]]` in the messages: (fault, N or None)."""
    for text in _texts(messages):
        if MARKER not in text:  # the common case, without running the regex
            continue
        for match in MARKER_PATTERN.finditer(text):
            fault, count = match.group(1), match.group(2)
            if fault in FAULTS:  # unknown names are ordinary text
                # A count only limits transient faults: the others fail every attempt.
                return fault, int(count) if count and fault in TRANSIENT else None
    return None


def strip_markers(text: str) -> str:
    return MARKER_PATTERN.sub("", text)


class FaultPlan:
    """Decides each request's fault; a test thread may inject while the server picks."""

    def __init__(self, *, fail_rate: float = 0.0, seed: int | None = None) -> None:
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError("fail_rate must be between 0 and 1")
        self.fail_rate = fail_rate
        self.seed = seed
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self._lock:
            self._queue: deque[list[Any]] = deque()  # [fault, times left]
            self._attempts: dict[bytes, int] = {}  # counted markers only: body digest -> attempts
            self._rng = random.Random(self.seed)

    def inject(self, fault: str, times: int = 1) -> None:
        """Fail the next `times` requests with `fault` (after any already queued)."""
        if times > 0:
            with self._lock:
                self._queue.append([check_fault(fault), times])

    def pick(self, messages: list[Mapping[str, Any]], digest: bytes) -> str | None:
        with self._lock:
            return self._queued() or self._marked(messages, digest) or self._random()

    def _queued(self) -> str | None:
        if not self._queue:
            return None
        entry = self._queue[0]
        entry[1] -= 1
        if entry[1] == 0:
            self._queue.popleft()
        return str(entry[0])

    def _marked(self, messages: list[Mapping[str, Any]], digest: bytes) -> str | None:
        found = find_marker(messages)
        if found is None:
            return None
        fault, count = found
        if count is None:
            return fault
        attempt = self._attempts.get(digest, 0) + 1
        self._attempts[digest] = attempt
        return fault if attempt <= count else None

    def _random(self) -> str | None:
        if self.fail_rate and self._rng.random() < self.fail_rate:
            return self._rng.choice(RANDOM_FAULTS)
        return None


def fault_error(
    fault: str, *, model: str, key: str, prompt_tokens: int, window: int, rpm: int, hint: bool
) -> ApiError:
    """The error answer for a fault that is answered with a status and an error body."""
    if fault in ("500", "502", "503"):
        return fake_errors.server_error(int(fault))
    if fault == "401":
        return fake_errors.invalid_key(key)
    if fault == "403":
        return fake_errors.forbidden()
    if fault == "insufficient_quota":
        return fake_errors.insufficient_quota()
    if fault == "model_not_found":
        return fake_errors.model_not_found(model)
    if fault == "context_length_exceeded":
        return fake_errors.context_length_exceeded(window, max(prompt_tokens, window + 1))
    if fault == "resource_unavailable":
        return fake_errors.resource_unavailable()
    if fault == "429":
        message = Refusal("requests", rpm, rpm, 1, FAULT_429_WAIT).message(model)
        return fake_errors.rate_limited(message, "requests", FAULT_429_WAIT, hint=hint)
    raise ValueError(f"fault {fault!r} is not answered with an error body")
