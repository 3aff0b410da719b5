"""A spending cap that holds: a request is sent only if it cannot break it.

Before each send the worst case of the request (its prompt at the input price plus its whole
completion allowance at the output price) is reserved. It fits when

    spent + worst case of everything in flight + its own worst case <= limit

When it does not fit but other requests are in flight, the gate waits for them: they usually
cost less than their worst case and give the difference back. When nothing is in flight and it
still does not fit, the budget is exhausted and the run stops.

Two caps may apply: the run's (`--max-cost`, `budget_usd`) and the job's daily one
(`--max-cost-per-day`, `budget_usd_per_day`), which starts from what the job already spent
today (UTC) in earlier runs. The smaller room wins.

The reservation is also committed to the database before the request leaves (the
`reservations` table), and deleted in the transaction that writes its result. A run killed
with requests on the wire never learns what they cost, but the server may well have billed
them: their rows stay, and every later run counts them as spent today at their worst case
(`Store.spent_today`), so the daily cap holds in what the provider bills. A request cut off
on the wire by a stop keeps its row for the same reason.

Batch mode reserves a whole input file at once, at the Batch price, and cannot wait for
answers that take hours: `hold` takes what fits now or nothing (batch/spending.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from batchbot.endpoints import CAP_KEYS, CHAT
from batchbot.errors import BudgetExhausted, BudgetUnbounded, DailyBudgetExhausted
from batchbot.money.pricing import DEFAULT, Price, Pricer, billed_tier, did_you_mean
from batchbot.money.usd import usd
from batchbot.tally import items
from batchbot.tokens.cost import Cost
from batchbot.tokens.count import answer_cap

__all__ = [
    "Budget",
    "Reservation",
    "bounded_prices",
    "exhausted",
    "no_cap",
    "no_price",
    "stop_line",
    "worst_case",
]

NO_PRICE = (
    "budget set but no price is known for model {model!r}{suggestion}, so its cost cannot be "
    "capped: "
    "add prices: {{{model}: {{input: ..., output: ...}}}} to the job or a --prices file "
    "(for an Azure deployment, price_as: the OpenAI model it serves)."
)
NO_TIER_PRICE = (
    "budget set but no {tier} price is known for model {model!r}, so the cost of its requests "
    "at {tier} cannot be capped: add prices: {{{model}: {{input: ..., output: ..., {tier}: "
    "{{input: ..., output: ...}}}}}} to the job or a --prices file, or run it at the default "
    "tier."
)
EXHAUSTED = "budget reached: the next request could cost more than what is left of {limit}"
STOPPED = "{reason}. Spent {spent} in this run; {remaining} not sent. {advice}"
RAISE_AND_RESUME = "Raise the budget and run the same command again to resume."
WAIT_OR_RAISE = (
    "Raise the budget (or wait for tomorrow's, from 00:00 UTC) and run the same command again "
    "to resume."
)
NO_CAP = (
    "budget set but item {item!r} sets no max_tokens, so its cost has no upper bound: add "
    "max_tokens (or max_completion_tokens; max_output_tokens for Responses) to the job's params."
)
# Float sums of many small costs may land a hair above an exact limit; allow that much.
EPSILON_USD = 1e-9


@dataclass(frozen=True, slots=True)
class Reservation:
    """One request's worst case, held from before it is sent until its cost is known."""

    worst_usd: float


class Budget:
    """Spent and reserved dollars against a limit; every method runs on the event loop."""

    def __init__(
        self,
        *,
        run_limit: float | None = None,
        day_limit: float | None = None,
        spent_today: float = 0.0,
    ) -> None:
        self.run_limit = run_limit
        self.day_limit = day_limit
        self.spent_today = spent_today
        self.spent = 0.0  # in this run
        self.reserved = 0.0
        self.in_flight = 0
        self._settled = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.run_limit is not None or self.day_limit is not None

    @property
    def room(self) -> float:
        """Dollars that may still be committed, in-flight worst cases included."""
        rooms = []
        if self.run_limit is not None:
            rooms.append(self.run_limit - self.spent)
        if self.day_limit is not None:
            rooms.append(self.day_limit - self.spent_today - self.spent)
        return min(rooms) - self.reserved if rooms else float("inf")

    def fits(self, worst_usd: float) -> bool:
        return worst_usd <= self.room + EPSILON_USD

    def hold(self, worst_usd: float) -> Reservation | None:
        """Hold `worst_usd` now if it fits, else None: for what cannot wait on answers in
        flight (a Batch API file, whose answers take hours)."""
        if not self.fits(worst_usd):
            return None
        self.reserved += worst_usd
        self.in_flight += 1
        return Reservation(worst_usd)

    def release_earlier(self, worst_usd: float, cost_usd: float) -> None:
        """Settle what an earlier run reserved (a Batch API file): `worst_usd` of it was
        counted in `spent_today`; its answers, written by this run, cost `cost_usd`."""
        self.spent_today -= worst_usd
        self.spent += cost_usd

    async def reserve(self, worst_usd: float) -> Reservation | None:
        """Hold `worst_usd` once it fits; None when it can never fit (nothing left to wait on)."""
        while not self.fits(worst_usd):
            if self.in_flight == 0:
                return None
            self._settled.clear()
            await self._settled.wait()
        return self.hold(worst_usd)

    def settle(self, reservation: Reservation, cost_usd: float) -> None:
        """The request is done and cost `cost_usd` (0 if it failed or was never sent)."""
        self.reserved -= reservation.worst_usd
        self.in_flight -= 1
        self.spent += cost_usd
        self._settled.set()

    def describe_limit(self) -> str:
        parts = []
        if self.run_limit is not None:
            parts.append(f"{usd(self.run_limit)} for this run")
        if self.day_limit is not None:
            parts.append(f"{usd(self.day_limit)} a day ({usd(self.spent_today)} spent earlier)")
        return " and ".join(parts)


def worst_case(
    item_id: str,
    body: Mapping[str, Any],
    cost: Cost,
    pricer: Pricer,
    *,
    batch: bool = False,
    endpoint: str = CHAT,
    tier: str | None = None,
) -> float:
    """The most a request may cost: its prompt at the input price (an image of unknown size at
    the most the model charges for one) and its whole allowance at the output price, at the
    dearest tier that may serve it (`bounded_prices`). Raises BudgetUnbounded when that has no
    bound (no price, no cap). `tier`: the service tier the run asks for (Flex).
    """
    prices = bounded_prices(item_id, body, pricer, batch=batch, endpoint=endpoint, tier=tier)
    return max(price.worst_case(cost.worst_prompt, cost.allowance) for price in prices)


def bounded_prices(
    item_id: str,
    body: Mapping[str, Any],
    pricer: Pricer,
    *,
    batch: bool = False,
    endpoint: str = CHAT,
    tier: str | None = None,
) -> list[Price]:
    """The prices a request may be billed at (`Pricer.request_prices`: every price source,
    `price_as:` included), once its cost has a bound; else BudgetUnbounded, saying what to add.

    The budget reserves by these, and the job is checked by them before anything is sent
    (`run.preflight`), so the two cannot disagree. An embeddings request has no answer to cap;
    a Responses request's cap is max_output_tokens.
    """
    prices = pricer.request_prices(body, tier=tier, batch=batch, quiet=True)
    if prices is None:
        asked = None if batch else tier or body.get("service_tier")
        raise no_price(pricer.priced_as(str(body.get("model"))), asked)
    if endpoint in CAP_KEYS and answer_cap(body, endpoint) is None:
        raise no_cap(item_id)
    return prices


def exhausted(budget: Budget) -> BudgetExhausted:
    kind = BudgetExhausted if budget.day_limit is None else DailyBudgetExhausted
    return kind(EXHAUSTED.format(limit=budget.describe_limit()))


def stop_line(reason: BudgetExhausted, *, spent_usd: float, remaining: int) -> str:
    """The line a budget stop ends with: why, what was spent, what is left, how to go on."""
    advice = WAIT_OR_RAISE if isinstance(reason, DailyBudgetExhausted) else RAISE_AND_RESUME
    reason_text = str(reason).removesuffix(".")
    return STOPPED.format(
        reason=reason_text, spent=usd(spent_usd), remaining=items(remaining), advice=advice
    )


def no_cap(item_id: str) -> BudgetUnbounded:
    return BudgetUnbounded(NO_CAP.format(item=item_id))


def no_price(model: str, tier: object = None) -> BudgetUnbounded:
    name = billed_tier(tier)
    if name == DEFAULT:
        return BudgetUnbounded(NO_PRICE.format(model=model, suggestion=did_you_mean(model)))
    return BudgetUnbounded(NO_TIER_PRICE.format(model=model, tier=name))
