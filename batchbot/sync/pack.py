"""Packing embedding items: many short texts in one request, each vector stored on its own row.

An embeddings request takes up to 2,048 inputs, so `pack: 100` sends a hundred items as one
request: a hundred times fewer requests against the requests-per-minute limit. Items are packed
only after resume has skipped the answered ones, and only with neighbours whose requests are
the same apart from their text (same model, same `dimensions`), and never past the API's
300,000 input tokens a request: long texts make smaller packs. The pack goes through the
limiter, budget and retry policy as one request; its answer is split back into one outcome per
item. The API reports one usage for the whole request, so each item's share of the input
tokens is its own count's share (its Cost, counted once as the run took it), rounded so the
shares add up to the reported total.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from batchbot.endpoints import MAX_PACK_TOKENS
from batchbot.jobs.job import Item, request_hash
from batchbot.outcome import FAILED, Outcome, Usage
from batchbot.tokens.cost import Cost, combined

MISCOUNTED = "the API answered {got} vectors for {sent} inputs"


class Packer:
    """Collects items into packs of at most `size`; size 1 (or no packing) passes items on."""

    def __init__(self, size: int, *, enabled: bool) -> None:
        self.size, self.enabled = size, enabled
        self._members: list[Item] = []
        self._costs: list[Cost] = []
        self._shape: dict[str, Any] | None = None
        self._tokens = 0

    def add(self, item: Item, cost: Cost) -> tuple[Item, Cost] | None:
        """The next request to send, and its cost, once `item` is added, if one is ready."""
        if not self.enabled:
            return item, cost
        shape = _without_input(item.body)
        tokens = cost.prompt
        # A request of another shape, or one the API would find too long, ends the pack so far.
        # That and a full pack never come at once: after the flush `item` is alone, and a pack
        # of one is flushed as soon as it is added.
        too_long = self._tokens + tokens > MAX_PACK_TOKENS
        ready = self.flush() if shape != self._shape or too_long else None
        self._members.append(item)
        self._costs.append(cost)
        self._shape = shape
        self._tokens += tokens
        if len(self._members) >= self.size:
            return self.flush()
        return ready

    def flush(self) -> tuple[Item, Cost] | None:
        """The items collected so far as one request, and its cost, if there are any."""
        members, self._members, self._shape = tuple(self._members), [], None
        costs, self._costs = self._costs, []
        self._tokens = 0
        return (packed(members), combined(costs)) if members else None


def packed(members: tuple[Item, ...]) -> Item:
    """One embeddings request carrying every member's text, answered in compact base64."""
    first = members[0]
    body: dict[str, Any] = {"encoding_format": "base64", **_without_input(first.body)}
    body["input"] = [member.body["input"] for member in members]
    return Item(first.id, body, request_hash(body), first.line, members)


def unpack(outcome: Outcome, cost: Cost) -> list[Outcome]:
    """One outcome per member of a packed request (the outcome itself if it was not one);
    `cost`: the request's, whose `members` split its usage."""
    members = outcome.item.members
    if not members:
        return [outcome]
    if outcome.answered and len(outcome.vectors) != len(members):
        error = MISCOUNTED.format(got=len(outcome.vectors), sent=len(members))
        outcome = replace(outcome, status=FAILED, error=error, error_code="MalformedResponse")
    # The request's HTTP attempts are counted once, with its first item.
    if not outcome.answered:
        return [
            replace(outcome, item=member, vectors=(), usage=None, shared_request=n > 0)
            for n, member in enumerate(members)
        ]
    shares = _shares(outcome, cost.members)
    return [
        replace(
            outcome,
            item=member,
            vectors=(vector,),
            usage=Usage(prompt_tokens=share, total_tokens=share),
            shared_request=n > 0,
        )
        for n, (member, vector, share) in enumerate(
            zip(members, outcome.vectors, shares, strict=True)
        )
    ]


def _shares(outcome: Outcome, prompts: tuple[int, ...]) -> list[int]:
    """The reported input tokens split in proportion to each text's own count."""
    total = outcome.usage.prompt_tokens if outcome.usage else 0
    counts = [max(1, prompt) for prompt in prompts]
    whole = sum(counts)
    exact = [total * count / whole for count in counts]
    shares = [int(value) for value in exact]
    # Largest remainders first, so the shares add up to exactly what the API reported.
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - shares[i], reverse=True)
    for index in by_remainder[: total - sum(shares)]:
        shares[index] += 1
    return shares


def _without_input(body: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in body.items() if key != "input"}
