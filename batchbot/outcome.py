"""What happened to one item: its usage, its HTTP attempts and its final state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from batchbot.jobs.job import Item

OK = "ok"
TRUNCATED = "truncated"
FAILED = "failed"
PENDING = "pending"
ANSWERED = (OK, TRUNCATED)


def utc_now() -> str:
    """UTC ISO-8601 with milliseconds, the one timestamp format in the database."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Attempt:
    """One HTTP attempt, as the `attempts` table stores it."""

    number: int
    started_at: str
    latency_ms: float
    wait_before_ms: float = 0.0
    status_code: int | None = None
    error_code: str | None = None
    error: str | None = None
    ratelimit: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Outcome:
    """The final state of one item in one run, written as one `requests` row."""

    item: Item
    status: str
    created_at: str
    finished_at: str
    attempts: tuple[Attempt, ...] = ()
    content: str | None = None
    finish_reason: str | None = None
    usage: Usage | None = None
    latency_ms: float | None = None
    error: str | None = None
    error_code: str | None = None
    response_model: str | None = None
    cost_usd: float | None = None
    price: str | None = None  # JSON: the per-MTok prices used and their source
    vectors: tuple[bytes, ...] = ()  # embeddings: float32 little-endian, one per input
    response_status: str | None = None  # Responses: the response's own status

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED
