"""What a worker does with its item, top to bottom: send it as the policy says (or take the
answer the response cache gave), price and check its answer, write it, count it; ask again
while the job's re-ask policy says so.

A request holds its concurrency slot from before it is sent until its result is committed. A
packed request's outcome is split into its items' outcomes before pricing. A worker that dies
of anything but the run's own stop stops the run (WorkerDied) rather than vanish: its item is
left unwritten, so it stays pending for the next run.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

from batchbot.answers.asking import Asking
from batchbot.answers.reask import Reask
from batchbot.errors import WorkerDied
from batchbot.jobs.job import Item
from batchbot.logs import DETAIL
from batchbot.money.budget import Reservation
from batchbot.money.pricing import Pricer, priced
from batchbot.outcome import PENDING, Outcome
from batchbot.pace.limiter import Limiter
from batchbot.sync.pack import unpack
from batchbot.sync.sending import Sender
from batchbot.sync.spending import Spending
from batchbot.sync.stats import RunStats
from batchbot.sync.stopping import StopSwitch, could_not_write
from batchbot.sync.tries import Tries
from batchbot.sync.wire import Wire
from batchbot.sync.writer import ResultWriter
from batchbot.tokens.cost import Cost, cost_of

log = logging.getLogger("batchbot")


class Worker:
    """The way every item of one run takes: shared by its workers, one task an item."""

    def __init__(
        self,
        sender: Sender,
        writer: ResultWriter,
        asking: Asking,
        pricer: Pricer,
        *,
        limiter: Limiter,
        stats: RunStats,
        run_id: int,
        endpoint: str,
        db_path: Path,
    ) -> None:
        self.sender, self.writer, self.asking, self.pricer = sender, writer, asking, pricer
        self.limiter, self.stats, self.run_id = limiter, stats, run_id
        self.endpoint, self.db_path = endpoint, db_path

    @property
    def wire(self) -> Wire:
        return self.sender.wire

    @property
    def spending(self) -> Spending:
        return self.sender.spending

    @property
    def switch(self) -> StopSwitch:
        return self.sender.switch

    def cost(self, body: dict[str, Any]) -> Cost:
        """What a request costs in tokens: counted once, for the budget, the limiter and a
        pack's shares alike."""
        return cost_of(body, self.endpoint)

    async def process(
        self,
        item: Item,
        cost: Cost | None,
        reservation: Reservation | None = None,
        ask: Reask | None = None,
        reused: Outcome | None = None,
    ) -> None:
        """Send `item` (or its re-ask `ask`, holding `reservation`), or write the answer
        `reused` from the response cache; then leave its slot. `cost`: the request's, when
        the feed counted it already."""
        try:
            await self._process(item, cost, reservation, ask, reused)
        except asyncio.CancelledError as exc:
            if self.switch.stopping():
                raise
            self._died(item, exc)
        except BaseException as exc:  # a bug, or not even an Exception: never silently
            self._died(item, exc)
        finally:
            self.limiter.leave()

    async def _process(
        self,
        item: Item,
        cost: Cost | None,
        reservation: Reservation | None,
        ask: Reask | None,
        reused: Outcome | None = None,
    ) -> None:
        while True:
            held = None
            if reused is not None:
                outcomes, reused = [self.asking.check(reused)], None
            else:
                # Counted by the feed, or below for a re-ask; only a cached answer's is not.
                cost = cost or self.cost(ask.body if ask else item.body)
                tries = self.wire.tries(item, ask, cost)
                if reservation is not None and self.spending.budget.enabled:
                    tries.worst_usd = reservation.worst_usd  # each ask holds its own row
                answers = await self._ask(tries, reservation)
                if answers is None:
                    return
                outcomes, held = answers, tries.held
            ask = self.asking.next(ask, outcomes)
            written = await self._write(item, outcomes, release=held, final=ask is None)
            if not written or ask is None:
                return
            if self.switch.is_set:
                reservation = None
            else:
                cost = self.cost(ask.body)
                reservation = await self.spending.reserve(item, ask.body, cost)
            if reservation is None:
                self.stats.count(outcomes[0].status)  # no re-ask: the item keeps this answer
                return

    async def _ask(self, tries: Tries, reservation: Reservation | None) -> list[Outcome] | None:
        """Send, price and check one ask; None if the run stopped first (what its attempts saw
        is written, the item left as it was)."""
        self.stats.in_flight += 1
        outcomes: list[Outcome] | None = None
        try:
            outcome = await self.sender.answer(tries)
            parts = unpack(outcome, tries.cost)
            outcomes = [self.asking.check(priced(part, self.pricer)) for part in parts]
        except asyncio.CancelledError:
            if not self.switch.stopping():
                raise  # not the run's stop: process() reports the death
            self._keep_what_was_seen(tries)
            return None
        finally:
            self.stats.in_flight -= 1
            if reservation is not None:
                self.spending.settle(reservation, outcomes)
            self.wire.primed(tries)
        return outcomes

    def _keep_what_was_seen(self, tries: Tries) -> None:
        """Stopped before an answer came: keep what the attempts saw, leave the item pending.
        A request cut off on the wire may still be billed: its reservation row stays."""
        outcome = tries.outcome(PENDING, error="stopped before answer")
        for part in unpack(outcome, tries.cost) if tries.attempts else ():
            self.writer.submit(part)
        if tries.held is not None and not tries.on_wire:
            self.writer.submit(None, release=tries.held)

    async def _write(
        self, item: Item, outcomes: list[Outcome], *, release: int | None, final: bool
    ) -> bool:
        """Write an ask's outcomes, releasing its reservation row with them, and count them
        (a re-ask to come counts the item itself); False: the database refused, the run stops."""
        try:
            await self.writer.write_all(outcomes, release=release)
        except Exception as exc:
            self.switch.stop(could_not_write(self.db_path, exc))
            return False
        for part in outcomes:
            if final:
                self.stats.add(part)
            else:
                self.stats.spend(part)
        status = outcomes[0].status
        log.debug(
            "saved %s: %s",
            item.id,
            status,
            extra={"run_id": self.run_id, "item_id": item.id, "status": status},
        )
        return True

    def _died(self, item: Item, error: BaseException) -> None:
        """Stop the run for a worker that died: one line for the CLI, the traceback logged."""
        log.error(
            "the worker sending item %s died",
            item.id,
            exc_info=error,
            extra={DETAIL: True, "run_id": self.run_id, "item_id": item.id},
        )
        more = len(item.members) - 1 if item.members else 0
        named = item.id + (f" (and {more} packed with it)" if more else "")
        self.switch.stop(WorkerDied(named, error))
