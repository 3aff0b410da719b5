"""What one request costs in tokens, counted once when the run takes its item.

The budget reserves its worst case, the limiter charges its total, the dry-run sums it, the
Batch planner sizes files by its prompt and a pack of embedding texts splits its reported
usage by its members' prompts: all from this one count, so none of them can disagree and no
request is counted twice. A re-ask sends a new body and gets a Cost of its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from batchbot.endpoints import CAP_KEYS, CHAT
from batchbot.tokens.count import TokenCount, answer_cap, count_request


@dataclass(frozen=True, slots=True)
class Cost:
    """A request's tokens: `parts` as pacing counts them (images at a typical size),
    `worst_prompt` with every guessed part at its most, as a budget must count it."""

    parts: TokenCount
    worst_prompt: int
    capped: bool  # the request bounds its answer (an embeddings request has none to bound)
    members: tuple[int, ...] = ()  # a pack's: each item's own prompt tokens, in order

    @property
    def prompt(self) -> int:
        return self.parts.prompt

    @property
    def allowance(self) -> int:
        """The completion tokens reserved: the cap (or OpenAI's default) times n."""
        return self.parts.allowance

    @property
    def total(self) -> int:
        """What the request is charged against tokens-per-minute on arrival."""
        return self.parts.total

    @property
    def worst(self) -> int:
        """The most tokens it may be billed for: its worst prompt and its whole allowance."""
        return self.worst_prompt + self.allowance


def cost_of(body: Mapping[str, Any], endpoint: str = CHAT) -> Cost:
    """Count `body` once (twice only when a part had to be guessed: typical and worst)."""
    parts = count_request(body, endpoint=endpoint)
    # Only a guessed part (an image of unknown size) differs between typical and worst.
    worst = count_request(body, endpoint=endpoint, worst=True).prompt if parts.assumed else None
    capped = endpoint not in CAP_KEYS or answer_cap(body, endpoint) is not None
    return Cost(parts, parts.prompt if worst is None else worst, capped)


def combined(costs: Iterable[Cost]) -> Cost:
    """The cost of one request that carries several items' (a pack of embedding texts)."""
    costs = tuple(costs)
    parts = sum((cost.parts for cost in costs), TokenCount())
    worst = sum(cost.worst_prompt for cost in costs)
    capped = all(cost.capped for cost in costs)
    return Cost(parts, worst, capped, tuple(cost.prompt for cost in costs))
