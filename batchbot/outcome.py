"""What happened to one item: its answer (every choice, tool call and refusal), its usage, its
HTTP attempts and its final state.

An item's status says what became of it:

    ok          answered (and, with a schema, the answer validated)
    truncated   answered, but cut off at max_tokens (finish_reason `length`)
    invalid     answered, but the answer is not JSON that follows the item's schema
    refused     the model refused (a `refusal` instead of an answer)
    failed      no answer: the API said no, or every attempt failed
    pending     not answered yet: the next run sends it
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from batchbot.jobs.job import Item

OK = "ok"
TRUNCATED = "truncated"
INVALID = "invalid"
REFUSED = "refused"
FAILED = "failed"
PENDING = "pending"
ANSWERED = (OK, TRUNCATED)  # answers that can be used
# Statuses of an answer that was paid for: a rerun does not buy it again (a re-ask may).
SETTLED = (OK, TRUNCATED, INVALID, REFUSED)


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

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.total_tokens + other.total_tokens,
            self.cached_tokens + other.cached_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A function call in an answer: chat's `tool_calls`, Responses' `function_call` items.

    `arguments` is the text the API sent, which is meant to be JSON but may not be.
    """

    id: str | None
    name: str
    arguments: str

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "arguments": self.arguments}


@dataclass(frozen=True, slots=True)
class Choice:
    """One choice of an answer (chat's `n`), with what checking it against a schema found."""

    index: int = 0
    content: str | None = None
    finish_reason: str | None = None
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    status: str = OK
    parsed: str | None = None  # the validated JSON, as compact text
    validation_error: str | None = None


@dataclass(frozen=True, slots=True)
class Totals:
    """What an item's answers have cost so far, over every ask and re-ask: also at list
    price (the default tier's, synchronous, no cached input), and what prompt caching saved."""

    usage: Usage | None = None
    cost_usd: float | None = None
    reasks: int = 0
    reask_cost_usd: float = 0.0
    list_usd: float | None = None
    prompt_cache_saved_usd: float | None = None


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
    reask: str | None = None  # why this attempt was made: a re-ask for `invalid` or `length`


@dataclass(frozen=True, slots=True)
class Outcome:
    """The state of one item after an answer (or its failure), written as one `requests` row.

    `content`, `finish_reason`, `refusal`, `tool_calls` and `parsed` are the first choice's;
    `choices` holds every choice when the request asked for several (`n`). `usage` and
    `cost_usd` are this answer's alone: `before` holds what earlier answers of the item cost,
    so a re-ask's row adds up to everything the item cost.
    """

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
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    output_items: tuple[Mapping[str, Any], ...] = ()  # what else the answer held (Responses)
    choices: tuple[Choice, ...] = ()  # every choice, when there are several
    parsed: str | None = None
    validation_error: str | None = None
    max_tokens: int | None = None  # the completion allowance the answer was asked with
    reask: str | None = None  # why this answer was asked again: `invalid` or `length`
    before: Totals | None = None  # earlier answers of the item (re-asks only)
    # Sent in a request another item's row counts: a packed request's items after its first.
    shared_request: bool = False
    service_tier: str | None = None  # the tier that served it, as the response says
    list_usd: float | None = None  # its cost at the default tier, synchronous, no cached input
    prompt_cache_saved_usd: float | None = None  # what cached input tokens took off its cost
    # The response cache: what the answer answers (a hash of its request, see jobs.caching),
    # and, for an answer reused from an earlier one, where that came from (JSON).
    cache_key: str | None = None
    cached_from: str | None = None

    @property
    def answered(self) -> bool:
        return self.status in ANSWERED

    @property
    def keeps_answer(self) -> bool:
        """A re-ask that got no answer: the item keeps the one it had; only attempts are new."""
        return self.reask is not None and self.usage is None

    @property
    def totals(self) -> Totals:
        """What the item has cost with this answer: `before` plus its own."""
        before = self.before or Totals()
        usage = self.usage if before.usage is None else before.usage + (self.usage or Usage())
        asked_again = self.reask is not None and self.usage is not None
        return Totals(
            usage=usage,
            cost_usd=_plus(before.cost_usd, self.cost_usd),
            reasks=before.reasks + asked_again,
            reask_cost_usd=before.reask_cost_usd + ((self.cost_usd or 0.0) if asked_again else 0),
            list_usd=_plus(before.list_usd, self.list_usd),
            prompt_cache_saved_usd=_plus(
                before.prompt_cache_saved_usd, self.prompt_cache_saved_usd
            ),
        )

    def all_choices(self) -> tuple[Choice, ...]:
        """Every choice of the answer: `choices`, or the one the item's own fields hold."""
        if self.choices:
            return self.choices
        first = Choice(
            0,
            self.content,
            self.finish_reason,
            self.refusal,
            self.tool_calls,
            self.status,
            self.parsed,
            self.validation_error,
        )
        return (first,)


def _plus(before: float | None, now: float | None) -> float | None:
    """An amount so far plus this answer's: unknown only while both are."""
    return now if before is None else before + (now or 0.0)


@dataclass(frozen=True, slots=True)
class LastAnswer:
    """An item's latest answer, as asking again needs it: from this run, or from its row."""

    status: str
    content: str | None
    tool_calls: tuple[ToolCall, ...]
    validation_error: str | None
    max_tokens: int | None  # the allowance it was asked with
    invalid_reasks: int  # re-asks already made because an answer was invalid
    totals: Totals
    run_id: int | None = None  # the run that wrote it

    @classmethod
    def of(cls, outcome: Outcome, invalid_reasks: int) -> LastAnswer:
        return cls(
            outcome.status,
            outcome.content,
            outcome.tool_calls,
            outcome.validation_error,
            outcome.max_tokens,
            invalid_reasks,
            outcome.totals,
        )
