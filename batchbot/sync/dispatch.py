"""Sending one run's items: the feed hands each to a worker once the budget and a slot allow.

The parts: `worker` (one item, top to bottom), `sending` (one ask's attempts under the error
policy), `spending` (the budget), `stopping` (the stop switch and the grace period), `wire`
(what goes out with each request). This module feeds the items and owns the run's state.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from batchbot import modes
from batchbot.answers.asking import SKIP, Asking
from batchbot.answers.cache import ResponseCache
from batchbot.answers.reask import Reask
from batchbot.api.client import ChatClient
from batchbot.config import Config
from batchbot.endpoints import DEFAULT_PACK, packs
from batchbot.errors import RunStopped
from batchbot.jobs.job import YIELD_EVERY_ITEMS, Item, Job
from batchbot.limits import tiers
from batchbot.logs import NOTICE
from batchbot.money.budget import Budget
from batchbot.money.pricing import Pricer
from batchbot.outcome import Outcome
from batchbot.pace.dialect import worded_for
from batchbot.pace.limiter import Limiter, Notice, Settings
from batchbot.store.store import Store
from batchbot.sync import stopping
from batchbot.sync.checking import Check
from batchbot.sync.pack import Packer
from batchbot.sync.sending import Sender
from batchbot.sync.spending import Spending
from batchbot.sync.stats import RunStats
from batchbot.sync.stopping import StopSwitch
from batchbot.sync.wire import Wire
from batchbot.sync.worker import Worker
from batchbot.sync.writer import ResultWriter
from batchbot.tokens.cost import Cost

log = logging.getLogger("batchbot")


class Dispatcher:
    """One invocation's state: the limiter, the writer, counters and the stop switch."""

    def __init__(
        self,
        job: Job,
        config: Config,
        store: Store,
        client: ChatClient,
        run_id: int,
        stats: RunStats,
        pricer: Pricer,
        cache: ResponseCache,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """`sleep` waits out backoffs and the writer's pauses (tests pass one that records)."""
        self.job, self.config, self.store, self.run_id = job, config, store, run_id
        self.stats = stats
        self.pricer, self.cache = pricer, cache
        self.switch = StopSwitch(config.grace_s)
        tier = modes.service_tier(config.mode)  # Flex: every request asks for it
        # Azure takes no prompt_cache_key (it caches prompts by itself).
        self.wire = Wire(job.endpoint, tier=tier, cache_keys=config.azure is None)
        self.spending = Spending(
            store,
            self.switch,
            pricer,
            job=job.name,
            endpoint=job.endpoint,
            run_id=run_id,
            db_path=config.db_path,
            tier=tier,
            limits=(config.max_cost_usd, config.max_cost_per_day_usd),
        )
        self.limiter = pacing(config)
        self.writer = ResultWriter(
            store, run_id=run_id, job=job.name, mode=modes.SYNC, sleep=sleep, kept=cache.keep
        )
        self.packer = Packer(job.settings.pack or DEFAULT_PACK, enabled=packs(job.endpoint))
        self.tasks: set[asyncio.Task[None]] = set()
        self.check: Check | None = None  # a large job is checked as it is sent
        self.asking = Asking(job, store, config.reask_policy())
        sender = Sender(
            client, self.limiter, self.wire, stats, self.spending, self.switch, config, sleep=sleep
        )
        self.worker = Worker(
            sender,
            self.writer,
            self.asking,
            pricer,
            limiter=self.limiter,
            stats=stats,
            run_id=run_id,
            endpoint=job.endpoint,
            db_path=config.db_path,
        )

    @property
    def budget(self) -> Budget:
        return self.spending.budget

    @property
    def stopped(self) -> RunStopped | None:
        """Why the run stopped, if it did: the first stop's reason."""
        return self.switch.reason

    def stop(self, reason: RunStopped) -> None:
        """Stop sending; a second stop (say, a second Ctrl-C) also drops the grace period."""
        self.switch.stop(reason)

    async def feed(self, items: Iterable[Item]) -> None:
        """Hand each item not answered yet to a worker, in the job's order, until the run
        stops; then tell the limiter every item has its worker."""
        # Ids are unique within a job and the job is locked, so a job with no answers yet
        # gets none from elsewhere while this run feeds it: no need to look each item up.
        resuming = self.store.has_answers(self.job.name)
        for count, item in enumerate(items, 1):
            if self.switch.is_set:
                return
            if count % YIELD_EVERY_ITEMS == 0:
                await asyncio.sleep(0)  # let signals and the display in during long skips
            if self.check is not None:  # never an item the check has not passed
                await self.check.passed(count)
            if not await self._take(item, resuming=resuming):
                return
        for ready in self.wire.lookahead.flush():
            if self.switch.is_set or not await self._send_new(ready):
                return
        request = self.packer.flush()
        if request is not None and not self.switch.is_set:
            await self._start(*request)
        self.limiter.last_call()  # every item has its worker: what waits is all that is left

    async def _take(self, item: Item, *, resuming: bool) -> bool:
        """Skip `item` (answered), re-ask it, answer it from the cache, or send it; False:
        stop feeding."""
        ask = self.asking.stored(item) if resuming else None
        if ask is SKIP:
            self.stats.skipped += 1
            return True
        if isinstance(ask, Reask):
            return await self._start(item, ask=ask)
        reused = self.cache.find(item)
        if reused is not None:
            return await self._start(item, reused=reused)
        for ready in self.wire.lookahead.add(item):
            if not await self._send_new(ready):
                return False
        return True

    async def _send_new(self, item: Item) -> bool:
        """Send an item not asked before (in a pack, once the pack is full); False: stop."""
        request = self.packer.add(item, self.worker.cost(item.body))
        return request is None or await self._start(*request)

    async def _start(
        self,
        item: Item,
        cost: Cost | None = None,
        ask: Reask | None = None,
        *,
        reused: Outcome | None = None,
    ) -> bool:
        """Send `item` (or re-ask it) once the budget and a slot allow, or write the answer
        `reused` from the response cache once a slot does; False: stop feeding. `cost`: the
        request's, when the feed has counted it already."""
        reservation = None
        if reused is None:
            body = ask.body if ask else item.body
            cost = cost or self.worker.cost(body)
            reservation = await self.spending.reserve(item, body, cost)
            if reservation is None:
                return False
        if not await self._take_slot():
            if reservation is not None:
                self.budget.settle(reservation, 0.0)
            return False
        task = asyncio.create_task(self.worker.process(item, cost, reservation, ask, reused))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _take_slot(self) -> bool:
        """A concurrency slot, once one is free; False: the run stopped first."""
        if self.limiter.slot_free and not self.switch.is_set:
            await self.limiter.enter()  # returns at once
            return True
        enter = asyncio.ensure_future(self.limiter.enter())
        await self.switch.first_of({enter})
        if enter.done() and not enter.cancelled():
            if not self.switch.is_set:
                return True
            self.limiter.leave()
        enter.cancel()
        return False

    async def finish_in_flight(self) -> None:
        """Wait for every worker; once stopping, wait at most the grace period."""
        await stopping.finish_in_flight(self.tasks, self.switch)


def pacing(config: Config) -> Limiter:
    """The run's limiter: limits from a tier preset are a starting point; limits the user
    set are a ceiling (docs/limits.md)."""
    limits = config.limits
    azure = config.azure is not None
    settings = Settings(
        rpm=limits.rpm.value,
        tpm=limits.tpm.value,
        concurrency=config.concurrency,
        caps=limits.caps(),
        token_count=config.token_count,
        probe=_may_be_too_high(config),
    )
    return Limiter(
        settings,
        on_change=lambda change: _limits_changed(change, from_tier=not limits.caps()),
        on_dialect=lambda note: log.info(worded_for(note, azure=azure), extra={NOTICE: True}),
    )


def _limits_changed(change: Notice, *, from_tier: bool) -> None:
    log.info(change.message("tier said" if from_tier else "configured"), extra={NOTICE: True})


def _may_be_too_high(config: Config) -> bool:
    """Whether the limits a run starts from may be above the key's, so its first request goes
    alone (see `pace.probe`): not the lowest paid tier's preset, below which no paid key is
    (a free-tier key, or a project capped lower, learns from its first answers)."""
    return config.tier != tiers.DEFAULT_TIER or bool(config.limits.caps())
