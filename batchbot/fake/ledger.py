"""What the fake server has seen and billed: its counters, its timeline, `FakeStats`.

The server writes here as each request goes by; a test reads `stats()` and `timeline()` from
another thread. Billing counts each answer as it is made, before it is sent, so a client killed
while it waits still pays, as with the real API.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from batchbot.fake import prices


@dataclass(frozen=True, slots=True)
class FakeStats:
    """What the server has seen since it started or was last reset."""

    requests: int  # API POSTs received (every endpoint), whatever happened to them
    answered: int  # well-formed 200 answers
    by_status: dict[int, int]  # HTTP statuses sent (a malformed 200 counts; resets and hangs don't)
    duplicates: int  # answers to a body that had already been answered: resent work
    tokens_charged: int  # charged against tokens-per-minute, as the counting mode says
    # What the provider would bill, by model: {"requests", "input_tokens", "cached_tokens",
    # "output_tokens"} of every answer made, counted as it is made, so a client killed while
    # it waits for the answer still pays for it, as with the real API.
    billed: dict[str, dict[str, int]]
    # The same in dollars, by the fake's own price table (fake.prices): at the service tier
    # that served each answer, cached input tokens at the cached rate. Models the table does
    # not list are left out.
    billed_usd: float = 0.0


class Ledger:
    """The server's counters, behind a lock of their own; `clock` places the timeline's seconds."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        """Start counting again from nothing, the timeline from now."""
        with self._lock:
            self._requests = self._answered = self._duplicates = self._tokens_charged = 0
            self._statuses: Counter[int] = Counter()
            self._seen: set[bytes] = set()
            self._billed: dict[str, Counter[str]] = {}
            self._billed_usd = 0.0
            self._started = self._clock()
            self._timeline: list[list[int]] = []

    def received(self) -> None:
        """One more API request came in, whatever becomes of it."""
        with self._lock:
            self._requests += 1

    def sent(self, status: int) -> None:
        with self._lock:
            self._statuses[status] += 1

    def admitted(self, tokens: int) -> None:
        """A request charged `tokens` passed the rate limits: count it in this second."""
        with self._lock:
            self._tokens_charged += tokens
            second = int(self._clock() - self._started)
            self._timeline.extend([0, 0] for _ in range(second + 1 - len(self._timeline)))
            self._timeline[second][0] += 1
            self._timeline[second][1] += tokens

    def answered(self, digest: bytes) -> None:
        """A body (by its digest) was answered; a second answer to it is a duplicate."""
        with self._lock:
            self._answered += 1
            if digest in self._seen:
                self._duplicates += 1
            self._seen.add(digest)

    def bill(self, model: str, payload: Mapping[str, Any], tier: str | None) -> None:
        """Bill the usage an answer reports, as the provider would, at the tier that served it."""
        usage = payload.get("usage") or {}
        prompt = usage.get("prompt_tokens", usage.get("input_tokens", 0))
        details = usage.get("prompt_tokens_details") or usage.get("input_tokens_details") or {}
        cached = details.get("cached_tokens") or 0
        completion = usage.get("completion_tokens", usage.get("output_tokens", 0))
        usd = prices.bill_usd(
            model, tier or prices.DEFAULT, prompt=prompt, cached=cached, completion=completion
        )
        with self._lock:
            bill = self._billed.setdefault(model, Counter())
            bill["requests"] += 1
            bill["input_tokens"] += prompt
            bill["cached_tokens"] += cached
            bill["output_tokens"] += completion
            self._billed_usd += usd or 0.0

    def stats(self) -> FakeStats:
        with self._lock:
            return FakeStats(
                requests=self._requests,
                answered=self._answered,
                by_status=dict(self._statuses),
                duplicates=self._duplicates,
                tokens_charged=self._tokens_charged,
                billed={model: dict(usage) for model, usage in self._billed.items()},
                billed_usd=self._billed_usd,
            )

    def timeline(self) -> list[list[int]]:
        """[requests, tokens] let through in each second since the last clear (server clock)."""
        with self._lock:
            return [list(second) for second in self._timeline]
