"""The window guard: what passed the buckets waits here until every sliding span has room.

A leaky bucket bounds the average, not the worst second (see `window`). So behind the
buckets, requests wait in a pool until sending them keeps every span of the guard's length
within its share of the limit, counted from a log of what was sent (`window.SendLog`).

Strict order would waste the window: a large request waiting for room leaves most of a
second's share unused. So the first in the pool goes as soon as it fits, and a later one goes
ahead of it when it fits now and still leaves room for the first when its turn comes
(backfilling, as batch schedulers do with one reservation): the first is never delayed, so a
stream of small requests cannot starve a large one.

Its span is `slack_s` longer than `window_s`: a request reaches the server a few milliseconds
after it leaves here, not always the same few. An isolated 429 lengthens the slack a little
(`widen`, up to `MAX_SLACK_S`), as it shows the transit jitter is larger than allowed for.

It keeps no limits of its own: `share(kind)` says what a span may hold now (None: unlimited),
`paused_until()` when a pause ends, and `on_sent(now, units)` hears of each request let go.
A `Ceiling` (the user's limits over any minute) holds requests the same way, counting what
they are as the server counts them (`sent`), not the slowed units of the pace; when it does,
`on_capped(now)` hears of it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from batchbot.pace.ceiling import Ceiling
from batchbot.pace.window import EPSILON, SendLog

KINDS = ("requests", "tokens")
SLACK_STEP_S = 0.005  # an isolated 429 lengthens the guard's span by this much...
MAX_SLACK_S = 0.05  # ...up to this
Units = dict[str, float]


class Guard:
    """The pool of requests waiting for room, and the logs of what was sent, per kind."""

    def __init__(
        self,
        window_s: float,
        slack_s: float,
        *,
        share: Callable[[str], float | None],
        paused_until: Callable[[], float],
        on_sent: Callable[[float, Units], object],
        ceiling: Ceiling | None = None,
        on_capped: Callable[[float], object] | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.window_s, self._slack_s = window_s, slack_s
        self.logs = {kind: SendLog(window_s + slack_s) for kind in KINDS}
        self.ceiling = ceiling or Ceiling({})
        self._on_capped = on_capped
        self._share, self._paused_until, self._on_sent = share, paused_until, on_sent
        self._pool: list[_Waiter] = []
        self._timer: asyncio.TimerHandle | None = None

    @property
    def length_s(self) -> float:
        """The span no part of which may hold more than its share: `window_s` plus slack."""
        return self.logs["requests"].length_s

    def widen(self) -> None:
        """An isolated 429, an accident of timing: allow a little more for the way there."""
        self._slack_s = min(MAX_SLACK_S, self._slack_s + SLACK_STEP_S)
        for log in self.logs.values():
            log.length_s = self.window_s + self._slack_s

    def scale(self, factor: float) -> None:
        """Count everything in the logs `factor` times what it was."""
        for log in self.logs.values():
            log.scale(factor)

    def recount(self, kind: str, factor: float) -> None:
        """What was sent of `kind` is now known to count `factor` times as much."""
        self.logs[kind].scale(factor)
        self.ceiling.recount(kind, factor)

    async def through(self, units: Units, sent: Units | None = None) -> float:
        """Wait until `units` (`sent`, as the server counts them) may go; when they went."""
        waiter = _Waiter(units, sent or units)
        now = self._loop.time()
        if not self._pool and now >= self._paused_until() and self._earliest(now, waiter) <= now:
            self._log(now, waiter)
            return now
        waiter.released = self._loop.create_future()
        waiter.released.add_done_callback(self._abandoned)
        self._pool.append(waiter)
        self.dispatch()
        return await waiter.released

    def dispatch(self) -> None:
        """Let go what fits now: the first waiter, and later ones that cannot delay it."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        now = self._loop.time()
        if now < (resume := self._paused_until()):
            self._wake_at(resume)
            return
        pool = [waiter for waiter in self._pool if not waiter.released.done()]
        while pool and (first_at := self._earliest(now, pool[0])) <= now:
            self._release(pool.pop(0), now)
        if pool:
            first = pool[0]
            for waiter in list(pool[1:]):
                if self._fits_beside(now, waiter, first, first_at):
                    pool.remove(waiter)
                    self._release(waiter, now)
            # Room comes when the first fits, or when something leaves the window.
            expiries = [log.next_expiry(now) for log in self.logs.values()]
            expiries += self.ceiling.next_expiry(now)
            self._wake_at(min([first_at, *(when for when in expiries if when is not None)]))
        self._pool = pool

    def _abandoned(self, released: asyncio.Future[float]) -> None:
        """A waiter was cancelled (the run stops): the next may go sooner."""
        if released.cancelled():
            self.dispatch()

    def _wake_at(self, when: float) -> None:
        self._timer = self._loop.call_at(when, self.dispatch)

    def _release(self, waiter: _Waiter, now: float) -> None:
        self._log(now, waiter)
        waiter.released.set_result(now)

    def _log(self, now: float, waiter: _Waiter) -> None:
        for kind, amount in waiter.units.items():
            self.logs[kind].add(now, amount)
        self.ceiling.add(now, waiter.sent)
        # Now, not when the waiter wakes: the next one let go must see what this changed.
        self._on_sent(now, waiter.units)

    def _earliest(self, now: float, waiter: _Waiter) -> float:
        """The earliest time at which sending `waiter` keeps every span within its share."""
        capped = self.ceiling.wait(now, waiter.sent)
        if capped > 0 and self._on_capped is not None:
            self._on_capped(now)
        waits = [0.0, capped]
        for kind in KINDS:
            share = self._share(kind)
            if share is not None:
                waits.append(self.logs[kind].wait(now, waiter.units[kind], share))
        return now + max(waits)

    def _fits_beside(self, now: float, waiter: _Waiter, first: _Waiter, first_at: float) -> bool:
        """Whether `waiter` fits now and still leaves room for `first` at `first_at`."""
        if not self.ceiling.fits_beside(now, waiter.sent, first.sent, first_at):
            return False
        units = waiter.units
        for kind in KINDS:
            share = self._share(kind)
            if share is None:
                continue
            log, amount = self.logs[kind], units[kind]
            if log.wait(now, amount, share) > 0:
                return False
            after = log.total_at(now, first_at) + min(first.units[kind], share) + amount
            if after > share + EPSILON:
                return False
        return True


class _Waiter:
    """A request past the buckets, waiting for the guard to let it go."""

    __slots__ = ("released", "sent", "units")

    released: asyncio.Future[float]  # set once it has to wait

    def __init__(self, units: Units, sent: Units) -> None:
        self.units = units
        self.sent = sent  # as the server counts it: for the ceiling
