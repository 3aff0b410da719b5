"""Sending one run's items: a slot, the limiter, the client, the policy, then the writer.

A request holds its concurrency slot from before it is sent until its result is committed.
`stop()` (a signal, or a run-fatal answer such as 401) stops new sends at once: workers that
are only waiting (for the limiter or a backoff) are cancelled, requests already on the wire
may finish for up to `grace_s` seconds.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from batchbot import modes
from batchbot.answers.asking import SKIP, Asking
from batchbot.answers.cache import ResponseCache
from batchbot.answers.reask import Reask
from batchbot.api import policy
from batchbot.api.client import ChatClient, Reply
from batchbot.api.exceptions import NoConnection
from batchbot.api.outage import UNREACHABLE, OutageWatch, server_answered
from batchbot.config import Config
from batchbot.endpoints import DEFAULT_PACK, packs
from batchbot.errors import BudgetUnbounded, RunStopped, ServerUnreachable, WorkerDied
from batchbot.jobs.job import YIELD_EVERY_ITEMS, Item, Job
from batchbot.limits import tiers
from batchbot.logs import DETAIL, NOTICE
from batchbot.money import budget as budgets
from batchbot.money.budget import Budget, Reservation
from batchbot.money.pricing import Pricer, priced
from batchbot.money.usd import usd
from batchbot.outcome import FAILED, PENDING, Outcome, utc_now
from batchbot.pace.dialect import worded_for
from batchbot.pace.headers import parse_rate_limit_headers
from batchbot.pace.limiter import Limiter, Notice, Settings
from batchbot.store.store import Store
from batchbot.sync.checking import Check
from batchbot.sync.pack import Packer, unpack
from batchbot.sync.stats import RunStats
from batchbot.sync.tries import Tries, describe
from batchbot.sync.wire import Wire
from batchbot.sync.writer import ResultWriter
from batchbot.tokens.cost import Cost, cost_of

T = TypeVar("T")
log = logging.getLogger("batchbot")

LEFT_ON_THE_WIRE = (
    "{count} request(s) of this job were on the wire today when a run was killed: their cost "
    "is unknown, so today's budget counts them at their worst case, {usd}"
)


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
        self.job, self.config, self.store, self.client = job, config, store, client
        self.sleep = sleep
        self.run_id, self.stats = run_id, stats
        self.pricer, self.cache = pricer, cache
        self.tier = modes.service_tier(config.mode)  # Flex: every request asks for it
        # Azure takes no prompt_cache_key (it caches prompts by itself).
        self.wire = Wire(job.endpoint, tier=self.tier, cache_keys=config.azure is None)
        self.budget = Budget(
            run_limit=config.max_cost_usd,
            day_limit=config.max_cost_per_day_usd,
            spent_today=self._spent_today() if config.max_cost_per_day_usd is not None else 0.0,
        )
        # Limits from the tier preset are a starting point; limits the user set are a ceiling.
        self.limiter = Limiter(
            Settings(
                rpm=config.rpm,
                tpm=config.tpm,
                concurrency=config.concurrency,
                caps=config.caps(),
                token_count=config.token_count,
                probe=_may_be_too_high(config),
            ),
            on_change=self._limits_changed,
            on_dialect=lambda note: log.info(
                worded_for(note, azure=config.azure is not None), extra={NOTICE: True}
            ),
        )
        self.writer = ResultWriter(
            store, run_id=run_id, job=job.name, mode=modes.SYNC, sleep=sleep, kept=cache.keep
        )
        self.packer = Packer(job.settings.pack or DEFAULT_PACK, enabled=packs(job.endpoint))
        self.tasks: set[asyncio.Task[None]] = set()
        self.waiting: set[asyncio.Task[Any]] = set()  # workers not on the wire: safe to cancel
        self.check: Check | None = None  # a large job is checked as it is sent
        self.stopped: RunStopped | None = None
        self.stop_event = asyncio.Event()
        self.grace_s = config.grace_s
        self.outage = OutageWatch(max_wait_s=config.outage_wait_s)
        self.policy = policy.retrying(
            max_attempts=config.max_attempts, wait=config.retry_wait, sleep=self._sleep
        )
        self.asking = Asking(job, store, config.reask_policy())
        self._outage_reported = False

    def _spent_today(self) -> float:
        """What the job spent today, saying so when killed runs left requests on the wire."""
        left, worst_usd = self.store.left_today(self.job.name)
        if left:
            notice = LEFT_ON_THE_WIRE.format(count=left, usd=usd(worst_usd))
            log.info(notice, extra={NOTICE: True})
        return self.store.spent_today(self.job.name)

    def _limits_changed(self, change: Notice) -> None:
        from_tier = not self.config.caps()
        log.info(change.message("tier said" if from_tier else "configured"), extra={NOTICE: True})

    # -- stopping ---------------------------------------------------------------------------

    def stop(self, reason: RunStopped) -> None:
        """Stop sending; a second stop (say, a second Ctrl-C) also drops the grace period."""
        if self.stop_event.is_set():
            self.grace_s = 0.0
        self.stopped = self.stopped or reason
        self.stop_event.set()
        for task in list(self.waiting):
            task.cancel()

    # -- the feed ---------------------------------------------------------------------------

    async def feed(self, items: Iterable[Item]) -> None:
        # Ids are unique within a job and the job is locked, so a job with no answers yet
        # gets none from elsewhere while this run feeds it: no need to look each item up.
        resuming = self.store.has_answers(self.job.name)
        for count, item in enumerate(items, 1):
            if self.stop_event.is_set():
                return
            if count % YIELD_EVERY_ITEMS == 0:
                await asyncio.sleep(0)  # let signals and the display in during long skips
            if self.check is not None:  # never an item the check has not passed
                await self.check.passed(count)
            ask = self.asking.stored(item) if resuming else None
            if ask is SKIP:
                self.stats.skipped += 1
                continue
            if isinstance(ask, Reask):
                if not await self._start(item, ask=ask):
                    return
                continue
            reused = self.cache.find(item)
            if reused is not None:
                if not await self._start(item, reused=reused):
                    return
                continue
            for ready in self.wire.lookahead.add(item):
                if not await self._send_new(ready):
                    return
        for ready in self.wire.lookahead.flush():
            if self.stop_event.is_set() or not await self._send_new(ready):
                return
        request = self.packer.flush()
        if request is not None and not self.stop_event.is_set():
            await self._start(*request)
        self.limiter.last_call()  # every item has its worker: what waits is all that is left

    async def _send_new(self, item: Item) -> bool:
        """Send an item not asked before (in a pack, once the pack is full); False: stop."""
        request = self.packer.add(item, self._cost(item.body))
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
            cost = cost or self._cost(body)
            reservation = await self._reserve(item, body, cost)
            if reservation is None:
                return False
        if not await self._take_slot():
            if reservation is not None:
                self.budget.settle(reservation, 0.0)
            return False
        task = asyncio.create_task(self.process(item, cost, reservation, ask, reused))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    def _cost(self, body: dict[str, Any]) -> Cost:
        """What a request costs in tokens: counted here, once, for the budget, the limiter and
        a pack's shares alike."""
        return cost_of(body, self.job.endpoint)

    async def _take_slot(self) -> bool:
        if self.limiter.slot_free and not self.stop_event.is_set():
            await self.limiter.enter()  # returns at once
            return True
        enter = asyncio.ensure_future(self.limiter.enter())
        stop = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({enter, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if enter.done() and not enter.cancelled():
            if not self.stop_event.is_set():
                return True
            self.limiter.leave()
        enter.cancel()
        return False

    # -- one item ---------------------------------------------------------------------------

    async def process(
        self,
        item: Item,
        cost: Cost | None,
        reservation: Reservation | None = None,
        ask: Reask | None = None,
        reused: Outcome | None = None,
    ) -> None:
        """One item, top to bottom: send it as the policy says (or take the answer `reused`
        from the response cache), price and check its answer, write it, count it; ask again
        while the job's re-ask policy says so.

        A packed request's outcome is split into its items' outcomes before pricing. A worker
        that dies of anything but the run's own stop stops the run (WorkerDied) rather than
        vanish: its item is left unwritten, so it stays pending for the next run.
        """
        try:
            await self._process(item, cost, reservation, ask, reused)
        except asyncio.CancelledError as exc:
            if self._stopping():
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
                # Counted by _start, or below for a re-ask; only a cached answer's is not.
                cost = cost or self._cost(ask.body if ask else item.body)
                tries = self.wire.tries(item, ask, cost)
                if reservation is not None and self.budget.enabled:
                    tries.worst_usd = reservation.worst_usd  # each ask holds its own row
                answers = await self._ask(tries, reservation)
                if answers is None:
                    return
                outcomes, held = answers, tries.held
            ask = self.asking.next(ask, outcomes)
            written = await self._write(item, outcomes, release=held, final=ask is None)
            if not written or ask is None:
                return
            if self.stop_event.is_set():
                reservation = None
            else:
                cost = self._cost(ask.body)
                reservation = await self._reserve(item, ask.body, cost)
            if reservation is None:
                self.stats.count(outcomes[0].status)  # no re-ask: the item keeps this answer
                return

    async def _ask(self, tries: Tries, reservation: Reservation | None) -> list[Outcome] | None:
        """Send, price and check one ask; None if the run stopped first (what its attempts saw
        is written, the item left as it was)."""
        self.stats.in_flight += 1
        outcomes: list[Outcome] | None = None
        try:
            outcome = await self._answer(tries)
            parts = unpack(outcome, tries.cost)
            outcomes = [self.asking.check(priced(part, self.pricer)) for part in parts]
        except asyncio.CancelledError:
            if not self._stopping():
                raise  # not the run's stop: process() reports the death
            # Stopped before an answer came: keep what the attempts saw, leave it pending. A
            # request cut off on the wire may still be billed: its reservation stays.
            outcome = tries.outcome(PENDING, error="stopped before answer")
            for part in unpack(outcome, tries.cost) if tries.attempts else ():
                self.writer.submit(part)
            if tries.held is not None and not tries.on_wire:
                self.writer.submit(None, release=tries.held)
            return None
        finally:
            self.stats.in_flight -= 1
            if reservation is not None:
                self._settle(reservation, outcomes)
            self.wire.primed(tries)
        return outcomes

    async def _write(
        self, item: Item, outcomes: list[Outcome], *, release: int | None, final: bool
    ) -> bool:
        """Write an ask's outcomes, releasing its reservation row with them, and count them
        (a re-ask to come counts the item itself)."""
        try:
            await self.writer.write_all(outcomes, release=release)
        except Exception as exc:
            self._write_failed(exc)
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

    def _write_failed(self, exc: Exception) -> None:
        """The database refused a write: stop (a RunStopped, the database stayed locked, says
        why itself)."""
        failed = f"Could not write to {self.config.db_path}: {exc}"
        self.stop(exc if isinstance(exc, RunStopped) else RunStopped(failed))

    def _stopping(self) -> bool:
        """Whether a cancellation is the run's own: a stop, or the event loop shutting down."""
        task = asyncio.current_task()
        return self.stop_event.is_set() or (task is not None and task.cancelling() > 0)

    def _died(self, item: Item, error: BaseException) -> None:
        """Stop the run for a worker that died: one line for the CLI, the traceback logged."""
        log.error(
            "the worker sending item %s died",
            item.id,
            exc_info=error,
            extra={DETAIL: True, "run_id": self.run_id, "item_id": item.id},
        )
        more = len(item.members) - 1 if item.members else 0
        self.stop(WorkerDied(item.id + (f" (and {more} packed with it)" if more else ""), error))

    async def _answer(self, tries: Tries) -> Outcome:
        """Try once; after a failure, the rest of the error policy; the outcome either way."""
        try:
            reply = await self._try(tries, 0.0)
        except Exception as first_error:
            self.stats.retrying += 1
            try:
                again = functools.partial(self._try, tries)
                reply = await policy.retry_after_first(self.policy, first_error, again)
            except Exception as exc:
                return self._failure(tries, exc)
            finally:
                self.stats.retrying -= 1
        return tries.reply(reply)

    async def _try(self, tries: Tries, wait_s: float) -> Reply:
        """One attempt the policy counts: a turn from the limiter, then send (through outages)."""
        tries.counted += 1
        await self.wire.warm_up(tries, self._cancellable)
        await self._wait_turn(tries)
        last_try = tries.counted >= self.config.max_attempts
        return await self._send_through_outage(tries, wait_s, last_try=last_try)

    async def _send_through_outage(self, tries: Tries, wait_s: float, *, last_try: bool) -> Reply:
        """Send; while the server is away for everyone, hold the run and try again (outage.py).

        Attempts made during an outage are recorded but do not count against the item. An
        item's last attempt refused is not a failure yet either: it may be the start of an
        outage, so it waits and tries again, unless the server answered someone else
        meanwhile (then it is this request the server refuses, and it fails as usual).
        """
        loop = asyncio.get_running_loop()
        answers_then: int | None = None
        while True:
            try:
                reply = await self._send(tries, wait_s)
            except Exception as exc:
                if not isinstance(exc, NoConnection):
                    if server_answered(exc):
                        self.outage.answered()
                    raise
                self.outage.failed(loop.time())
                if not self.outage.active:
                    if not last_try or answers_then not in (None, self.outage.answers):
                        raise
                    answers_then = self.outage.answers
                if self.outage.exceeded(loop.time()):
                    waited = self.outage.waited(loop.time())
                    self.stop(
                        ServerUnreachable(UNREACHABLE.format(url=self.client.url, seconds=waited))
                    )
                    raise
                wait_s = self.outage.next_probe_in(loop.time())
                if self.outage.active:
                    self._note_outage(wait_s)
                    self.limiter.pause(wait_s)
                else:
                    await self._sleep(wait_s)
                await self._wait_turn(tries)
                continue
            if self.outage.active:
                log.warning("the API answers again; the run goes on")
            self.outage.answered()
            return reply

    async def _send(self, tries: Tries, wait_s: float) -> Reply:
        """One HTTP request, recorded as an attempt; its rate-limit news goes to the limiter."""
        self._hold(tries)
        started_at, started = utc_now(), time.perf_counter()
        self.stats.requests += 1
        self.stats.charged_tokens += tries.cost.total
        tries.on_wire = True
        try:
            reply = await self.client.complete(tries.body)
        except Exception as exc:
            tries.on_wire = False
            tries.failed(exc, started_at, (time.perf_counter() - started) * 1000, wait_s)
            self._after_error(exc, tries)
            raise
        finally:
            self.wire.primed(tries)
        tries.on_wire = False
        tries.answered(reply, started_at, (time.perf_counter() - started) * 1000, wait_s)
        self.limiter.observe(
            parse_rate_limit_headers(reply.headers), _model(tries.item), tries.sent
        )
        return reply

    def _after_error(self, exc: Exception, tries: Tries) -> None:
        headers, model = policy.response_headers(exc), _model(tries.item)
        if headers:
            self.limiter.observe(parse_rate_limit_headers(headers), model, tries.sent)
        else:
            self.limiter.end_probe()
        if policy.is_rate_limited(exc):
            hint = policy.server_wait_hint(exc)
            message = getattr(exc, "message", None) or str(exc)
            limiter = self.limiter
            limiter.refused(
                tries.cost.total, model=model, message=message, hint=hint, chars=tries.chars
            )
            self.limiter.pause(hint or 1.0)
        log.debug("attempt failed: %s", describe(exc))

    def _failure(self, tries: Tries, exc: Exception) -> Outcome:
        """The item failed, unless it was not its fault (run-fatal, server away): then pending."""
        status = FAILED
        if policy.classify_error(exc) is policy.ErrorClass.RUN_FATAL:
            self.stop(policy.run_stop_error(exc, str(tries.item.body.get("model"))))
            status = PENDING  # not this item's fault: the next run sends it again
        elif isinstance(self.stopped, ServerUnreachable) and isinstance(exc, NoConnection):
            status = PENDING  # the server was away, not this item at fault
        return tries.error(status, exc)

    async def _sleep(self, seconds: float) -> None:
        await self._cancellable(self.sleep(seconds))

    async def _wait_turn(self, tries: Tries) -> None:
        wait = self.limiter.wait_for_capacity(tries.cost.total, _model(tries.item), tries.chars)
        tries.sent = await self._cancellable(wait)

    async def _cancellable(self, waiting: Awaitable[T]) -> T:
        """Await something that sends nothing; stop() may cancel it (and so the worker)."""
        task = asyncio.current_task()
        if self.stop_event.is_set() or task is None:
            if inspect.iscoroutine(waiting):
                waiting.close()
            raise asyncio.CancelledError
        self.waiting.add(task)
        try:
            return await waiting
        finally:
            self.waiting.discard(task)

    def _note_outage(self, probe_in: float) -> None:
        if not self._outage_reported:
            self._outage_reported = True
            log.warning(
                "cannot connect to the API at %s: holding every request, trying again for up "
                "to %.0f s (--outage-wait)",
                self.client.url,
                self.config.outage_wait_s,
            )
        log.debug("still no connection; next try in %.1f s", probe_in)

    # -- money ------------------------------------------------------------------------------

    def _hold(self, tries: Tries) -> None:
        """Commit the item's reservation before its first request leaves, so a run killed
        with it on the wire leaves it for the next run to count (money/budget.py). A database that
        refuses stops the run, and this item is not sent."""
        if tries.worst_usd is None or tries.held is not None:
            return
        item = tries.item
        try:
            tries.held = self.store.reserve(
                self.run_id, self.job.name, item.id, _model(item), tries.worst_usd
            )
        except Exception as exc:
            self._write_failed(exc)
            raise asyncio.CancelledError from exc  # the run's stop: the item stays pending

    def _settle(self, reservation: Reservation, outcomes: list[Outcome] | None) -> None:
        cost = sum(outcome.cost_usd or 0.0 for outcome in outcomes or ())
        self.budget.settle(reservation, cost)

    async def _reserve(self, item: Item, body: dict[str, Any], cost: Cost) -> Reservation | None:
        """Hold the worst-case cost of sending `body` (which costs `cost`) for `item` once the
        budget has room; None: do not send."""
        if not self.budget.enabled:
            return await self.budget.reserve(0.0)
        worst = self._worst_case(item, body, cost)
        if worst is None:
            return None
        waiting = asyncio.ensure_future(self.budget.reserve(worst))
        stop = asyncio.ensure_future(self.stop_event.wait())
        await asyncio.wait({waiting, stop}, return_when=asyncio.FIRST_COMPLETED)
        stop.cancel()
        if not waiting.done():
            waiting.cancel()
            return None
        reservation = waiting.result()
        if reservation is None:
            self.stop(budgets.exhausted(self.budget))
        elif self.stop_event.is_set():
            self.budget.settle(reservation, 0.0)
            return None
        return reservation

    def _worst_case(self, item: Item, body: dict[str, Any], cost: Cost) -> float | None:
        """The most `body` may cost; None (and the run stops) when that has no known bound."""
        try:
            return budgets.worst_case(
                item.id, body, cost, self.pricer, endpoint=self.job.endpoint, tier=self.tier
            )
        except BudgetUnbounded as exc:
            self.stop(exc)
            return None

    # -- the whole run ----------------------------------------------------------------------

    async def finish_in_flight(self) -> None:
        """Wait for every worker; once stopping, wait at most the grace period."""
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while self.tasks:
            if self.stop_event.is_set() and deadline is None:
                deadline = loop.time() + self.grace_s
            timeout = None if deadline is None else max(0.0, deadline - loop.time())
            if timeout == 0.0:
                for task in self.tasks:
                    task.cancel()
                await asyncio.gather(*self.tasks, return_exceptions=True)
                break
            stop = asyncio.ensure_future(self.stop_event.wait())
            await asyncio.wait(
                {*self.tasks, stop}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            stop.cancel()
            if self.stop_event.is_set() and self.grace_s == 0.0:
                deadline = loop.time()


def _may_be_too_high(config: Config) -> bool:
    """Whether the limits a run starts from may be above the key's, so its first request goes
    alone (see `pace.probe`): not the lowest paid tier's preset, below which no paid key is
    (a free-tier key, or a project capped lower, learns from its first answers)."""
    return config.tier != tiers.DEFAULT_TIER or bool(config.caps())


def _model(item: Item) -> str | None:
    """The model an item asks for: the limiter learns how the server counts, per model."""
    model = item.body.get("model")
    return model if isinstance(model, str) else None
