"""One ask's attempts: a turn from the limiter, the request, and the error policy around it
(api/policy.py), holding the whole run while the server is away (api/outage.py).

Each request's rate-limit headers go to the limiter, answered or refused; a 429 pauses the
limiter for everyone, not the one worker.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable

from batchbot.api import policy
from batchbot.api.client import ChatClient, Reply
from batchbot.api.exceptions import NoConnection
from batchbot.api.outage import UNREACHABLE, OutageWatch, server_answered
from batchbot.config import Config
from batchbot.errors import ServerUnreachable
from batchbot.outcome import FAILED, PENDING, Outcome, utc_now
from batchbot.pace.headers import parse_rate_limit_headers
from batchbot.pace.limiter import Limiter
from batchbot.sync.spending import Spending
from batchbot.sync.stats import RunStats
from batchbot.sync.stopping import StopSwitch
from batchbot.sync.tries import Tries, describe, model_of
from batchbot.sync.wire import Wire

log = logging.getLogger("batchbot")

OUTAGE = (
    "cannot connect to the API at %s: holding every request, trying again for up to %.0f s "
    "(--outage-wait)"
)


class Sender:
    """Sends asks for one run: its client, limiter and error policy, shared by every worker."""

    def __init__(
        self,
        client: ChatClient,
        limiter: Limiter,
        wire: Wire,
        stats: RunStats,
        spending: Spending,
        switch: StopSwitch,
        config: Config,
        *,
        sleep: Callable[[float], Awaitable[None]],
    ) -> None:
        """`config`: the error policy's settings (attempts, waits, the outage's longest);
        `sleep` waits out backoffs."""
        self.client, self.limiter, self.wire, self.stats = client, limiter, wire, stats
        self.spending, self.switch = spending, switch
        self.sleep = sleep
        self.max_attempts = config.max_attempts
        self.policy = policy.retrying(
            max_attempts=config.max_attempts, wait=config.retry_wait, sleep=self._sleep
        )
        self.outage = OutageWatch(max_wait_s=config.outage_wait_s)
        self._outage_reported = False

    async def answer(self, tries: Tries) -> Outcome:
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
        await self.wire.warm_up(tries, self.switch.cancellable)
        await self._wait_turn(tries)
        last_try = tries.counted >= self.max_attempts
        return await self._send_through_outage(tries, wait_s, last_try=last_try)

    async def _send_through_outage(self, tries: Tries, wait_s: float, *, last_try: bool) -> Reply:
        """Send; while the server is away for everyone, hold the run and try again.

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
                    unreachable = UNREACHABLE.format(url=self.client.url, seconds=waited)
                    self.switch.stop(ServerUnreachable(unreachable))
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
        self.spending.hold(tries)
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
        headers = parse_rate_limit_headers(reply.headers)
        self.limiter.observe(headers, model_of(tries.item), tries.sent)
        return reply

    def _after_error(self, exc: Exception, tries: Tries) -> None:
        """What a failed request tells the limiter: its headers, and a 429's pause."""
        headers, model = policy.response_headers(exc), model_of(tries.item)
        if headers:
            self.limiter.observe(parse_rate_limit_headers(headers), model, tries.sent)
        else:
            self.limiter.end_probe()
        if policy.is_rate_limited(exc):
            hint = policy.server_wait_hint(exc)
            message = getattr(exc, "message", None) or str(exc)
            self.limiter.refused(
                tries.cost.total, model=model, message=message, hint=hint, chars=tries.chars
            )
            self.limiter.pause(hint or 1.0)
        log.debug("attempt failed: %s", describe(exc))

    def _failure(self, tries: Tries, exc: Exception) -> Outcome:
        """The item failed, unless it was not its fault (run-fatal, server away): then pending."""
        status = FAILED
        if policy.classify_error(exc) is policy.ErrorClass.RUN_FATAL:
            self.switch.stop(policy.run_stop_error(exc, str(tries.item.body.get("model"))))
            status = PENDING  # not this item's fault: the next run sends it again
        elif isinstance(self.switch.reason, ServerUnreachable) and isinstance(exc, NoConnection):
            status = PENDING  # the server was away, not this item at fault
        return tries.error(status, exc)

    async def _sleep(self, seconds: float) -> None:
        await self.switch.cancellable(self.sleep(seconds))

    async def _wait_turn(self, tries: Tries) -> None:
        wait = self.limiter.wait_for_capacity(tries.cost.total, model_of(tries.item), tries.chars)
        tries.sent = await self.switch.cancellable(wait)

    def _note_outage(self, probe_in: float) -> None:
        if not self._outage_reported:
            self._outage_reported = True
            log.warning(OUTAGE, self.client.url, self.outage.max_wait_s)
        log.debug("still no connection; next try in %.1f s", probe_in)
