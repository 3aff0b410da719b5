"""A sync run's money: each request's worst case reserved from the budget before it is sent,
committed to the database before it leaves, settled at its real cost when it is answered.

money/budget.py says why a request is held at its worst case; a run killed with requests on the
wire leaves their rows for the next run to count.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from batchbot.errors import BudgetUnbounded
from batchbot.jobs.job import Item
from batchbot.logs import NOTICE
from batchbot.money import budget as budgets
from batchbot.money.budget import Budget, Reservation
from batchbot.money.pricing import Pricer
from batchbot.money.usd import usd
from batchbot.outcome import Outcome
from batchbot.store.store import Store
from batchbot.sync.stopping import StopSwitch, could_not_write
from batchbot.sync.tries import Tries, model_of
from batchbot.tokens.cost import Cost

log = logging.getLogger("batchbot")

LEFT_ON_THE_WIRE = (
    "{count} request(s) of this job were on the wire today when a run was killed: their cost "
    "is unknown, so today's budget counts them at their worst case, {usd}"
)


class Spending:
    """The budget of one run of one job, and the reservation rows that hold it."""

    def __init__(
        self,
        store: Store,
        switch: StopSwitch,
        pricer: Pricer,
        *,
        job: str,
        endpoint: str,
        run_id: int,
        db_path: Path,
        tier: str | None,
        limits: tuple[float | None, float | None],
    ) -> None:
        """`tier`: the service tier every request asks for (its prices apply); `limits`: the
        run's and the day's, in USD (None: no limit)."""
        self.store, self.switch, self.pricer = store, switch, pricer
        self.job, self.endpoint, self.run_id, self.tier = job, endpoint, run_id, tier
        self.db_path = db_path
        run_limit, day_limit = limits
        spent_today = self._spent_today() if day_limit is not None else 0.0
        self.budget = Budget(run_limit=run_limit, day_limit=day_limit, spent_today=spent_today)

    def _spent_today(self) -> float:
        """What the job spent today, saying so when killed runs left requests on the wire."""
        left, worst_usd = self.store.left_today(self.job)
        if left:
            notice = LEFT_ON_THE_WIRE.format(count=left, usd=usd(worst_usd))
            log.info(notice, extra={NOTICE: True})
        return self.store.spent_today(self.job)

    async def reserve(self, item: Item, body: dict[str, Any], cost: Cost) -> Reservation | None:
        """Hold the worst-case cost of sending `body` (which costs `cost`) for `item` once the
        budget has room; None: do not send (the run stopped, or stops now)."""
        if not self.budget.enabled:
            return await self.budget.reserve(0.0)
        worst = self._worst_case(item, body, cost)
        if worst is None:
            return None
        waiting = asyncio.ensure_future(self.budget.reserve(worst))
        await self.switch.first_of({waiting})
        if not waiting.done():
            waiting.cancel()
            return None
        reservation = waiting.result()
        if reservation is None:
            self.switch.stop(budgets.exhausted(self.budget))
        elif self.switch.is_set:
            self.budget.settle(reservation, 0.0)
            return None
        return reservation

    def _worst_case(self, item: Item, body: dict[str, Any], cost: Cost) -> float | None:
        """The most `body` may cost; None (and the run stops) when that has no known bound."""
        try:
            return budgets.worst_case(
                item.id, body, cost, self.pricer, endpoint=self.endpoint, tier=self.tier
            )
        except BudgetUnbounded as exc:
            self.switch.stop(exc)
            return None

    def hold(self, tries: Tries) -> None:
        """Commit the item's reservation before its first request leaves, so a run killed
        with it on the wire leaves it for the next run to count. A database that refuses
        stops the run, and this item is not sent."""
        if tries.worst_usd is None or tries.held is not None:
            return
        item = tries.item
        try:
            tries.held = self.store.reserve(
                self.run_id, self.job, item.id, model_of(item), tries.worst_usd
            )
        except Exception as exc:
            self.switch.stop(could_not_write(self.db_path, exc))
            raise asyncio.CancelledError from exc  # the run's stop: the item stays pending

    def settle(self, reservation: Reservation, outcomes: list[Outcome] | None) -> None:
        """Free `reservation`, keeping what the ask's `outcomes` (None: no answer) cost."""
        self.budget.settle(reservation, sum(o.cost_usd or 0.0 for o in outcomes or ()))
