"""Batch mode under a budget (`--max-cost`, `--max-cost-per-day`), held by money/budget.py.

Before an input file is submitted its worst case (each item's prompt and whole allowance at
the Batch price, half the synchronous one) is reserved against the run's and the day's cap;
an item that no longer fits is not put in a file. The reservations are also committed, one
row per item, before any batch can bill them, so the day's cap of every later run counts the
batches still in flight. When a file is closed (collected, failed, given up) its rows go, and
what its answers really cost is what is spent:

| a file closed | the run's budget |
| --- | --- |
| submitted by this run | gives back its worst case, spends its answers' cost |
| submitted earlier | spends its answers' cost; the day's cap drops its worst case |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from batchbot.config import Config
from batchbot.endpoints import CHAT
from batchbot.errors import BudgetExhausted
from batchbot.jobs.job import Item
from batchbot.money import budget as budgets
from batchbot.money.budget import Budget, Reservation
from batchbot.money.pricing import Pricer
from batchbot.outcome import utc_now
from batchbot.store.store import Store
from batchbot.tokens.cost import Cost

__all__ = ["BatchBudget"]


class BatchBudget:
    """The run's budget in Batch mode, and the reservation of each file it submitted."""

    def __init__(
        self, config: Config, store: Store, job: str, pricer: Pricer, *, endpoint: str = CHAT
    ) -> None:
        self.store, self.pricer, self.endpoint = store, pricer, endpoint
        self.day = utc_now()[:10]  # the day (UTC) the daily cap counts
        day_limit = config.max_cost_per_day_usd
        self.budget = Budget(
            run_limit=config.max_cost_usd,
            day_limit=day_limit,
            spent_today=store.spent_today(job, self.day) if day_limit is not None else 0.0,
        )
        self._held: dict[int, Reservation] = {}  # batches row id -> its file's worst case

    @property
    def enabled(self) -> bool:
        return self.budget.enabled

    def worst_case(self, item: Item, cost: Cost) -> float:
        """The most `item` may cost through the Batch API; 0 with no budget to hold it to.
        Raises BudgetUnbounded (the run stops) when that has no bound."""
        if not self.enabled:
            return 0.0
        return budgets.worst_case(
            item.id, item.body, cost, self.pricer, batch=True, endpoint=self.endpoint
        )

    def fits(self, worst_usd: float) -> bool:
        return self.budget.fits(worst_usd)

    def hold(self, row: int, worst_usd: float) -> None:
        """Reserve the worst case of the file of batches row `row`, which the caller has seen
        `fits`; BudgetExhausted (the run stops, the file unsent) if it no longer does."""
        reservation = self.budget.hold(worst_usd)
        if reservation is None:
            raise self.exhausted()
        self._held[row] = reservation

    def close(self, row: int, values: Mapping[str, Any], *, cost_usd: float = 0.0) -> None:
        """Close the batches row `row` (`values` with its `collected_at`) and settle its file:
        its answers written by this run cost `cost_usd`."""
        released = self.store.batches.close(row, values)
        reservation = self._held.pop(row, None)
        if reservation is not None:
            self.budget.settle(reservation, cost_usd)
            return
        counted = released.get(self.day, 0.0) if self.budget.day_limit is not None else 0.0
        self.budget.release_earlier(counted, cost_usd)

    def exhausted(self) -> BudgetExhausted:
        return budgets.exhausted(self.budget)
