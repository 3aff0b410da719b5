"""The run's one gate: requests/min, tokens/min and a concurrency cap, paused as one on a 429.

Pacing. OpenAI enforces its per-minute limits over much shorter windows, so 600 RPM sent as
a burst in the first second is refused. Each budget is therefore an aiolimiter leaky bucket
whose capacity (`max_rate`) is only `burst_seconds` worth of the limit and whose
`time_period` is `burst_seconds`: the bucket drains just under the pace the window guard
allows (`headroom` of it), but never lets more than a tenth of a second's worth through at
once. A bucket that holds a single request loses throughput to wake-up latency; about a
tenth of a second's worth does not.

The window guard. A bucket bounds the average, not the worst second: after a lull it lets
its capacity plus a second's drain through one second, and aiolimiter refuses more than its
capacity at once, so a large request passes in chunks over most of a second and then lands
whole on top of what passed just before. Both overfill a server's sliding 1-second window.
So, behind the buckets, a log of what was *sent* (`window.SendLog`) holds each request until
no span of `window_s` seconds would hold more than that span's share of the limit in force
(limit x window_s / 60) - whatever the lulls, pauses, sizes or changes of limits. aiolimiter
keeps one level, not the times of what passed, so it cannot say this itself. The guard's
span is `slack_s` longer than `window_s`: a request reaches the server a few milliseconds
after it leaves here, not always the same few. An isolated 429 lengthens the slack a little
(up to 0.05 s), as it shows the transit jitter is larger than allowed for.

Tokens. A request is charged what the server will count for it: batchbot's estimate times
the ratio learned per model (`calibration`: from the "Requested N" of 429s and from the
remaining-tokens headers), said once through `on_change`. A request larger than the whole
TPM could never be accepted by the server, so it is refused up front with `RequestTooLarge`.

Order. Waiters pass the buckets one at a time, first come first served: aiolimiter wakes the
smallest amount first, which would let a stream of small requests starve a large one. Past
the buckets they wait in a pool for the guard, and there strict order would waste the window:
a large request waiting for room leaves most of a second's share unused. So the first in the
pool goes as soon as it fits, and a later one goes ahead of it when it fits now and still
leaves room for the first when its turn comes (backfilling): the first is never delayed.

Pauses. A 429 means the server's window is full for everyone, so `pause()` holds every waiter
(and every newcomer) until its hint has passed; a second 429 can extend a pause, never
shorten it. The pace then goes on from the pause's end without catching up what the buckets
saved meanwhile: the server's bucket is empty, and a catch-up burst would meet another 429.
That is all a 429 costs: the guard keeps the resumed flow within the window.

Headroom. What the server's buckets hold beyond the pace - all of it, for a run that starts
after an idle spell; what a run paced under the limit left unused, for one that has gone a
while - is spent faster than the pace until the server shows it enforces short windows (see
`headroom`). What they hold is read from the headers, less all that went since the request
they answer (`Sent`, from `wait_for_capacity()`). Once the run has asked for every request
it will send (`last_call()`), what waits is all that is left: when the server's buckets hold
all of it, the burst spends the margin kept for later requests too, and the run ends sooner.
Never above a limit the user set (`caps`): that is a hard ceiling, and no rolling minute may
hold more than it (`ceiling`), whatever bursts the server's counters would allow.

Probing. Until the server has said anything, one request goes alone (see `probe`).

Learning. `observe()` reads each response's x-ratelimit-* headers: the limits to follow
(`learning`: lower at once, higher once they last, never above `caps`), each new pair
announced once through `on_change`.

Sharing. The `remaining` counts show what another client spending the same key leaves us
(see `sharing`); while that is less than the whole limit, every request is charged
proportionally more units, so the buckets keep their level and we aim at what is left, not
at the limit. That estimate goes blind once the server's bucket is empty (the other client
is refused too, so nothing of it is counted); there the 429s speak: repeated unexplained
429s cut the pace (`learning.Backoff`); a lone one is jitter, and only lengthens the guard's
slack. A 429 is explained, and counts for neither, when the limits changed in the second
before it, when its "Requested N" moved the learned ratio (in the second before it), or
when it ends a spell of spending the headroom.

Dialects. What the `remaining` counts mean depends on the server (see `dialect`): OpenAI's
refill, a gateway's fixed-minute counters do not, and some servers send none. Sharing,
headroom and the header half of calibration assume a refill, so they read OpenAI's alone; a
fixed window, once seen not to refill, has what it has left spent as headroom (bar a limit
the user set lower than the server's), and is held when used up, until it turns. The
first time a dialect worth saying is seen, `on_dialect` says it.

Refunds. Token charges are not refunded when the answer turns out shorter: OpenAI charges the
allowance on arrival, so a refund would make us overshoot.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Collection, Iterable, Mapping

from aiolimiter import AsyncLimiter

from batchbot.pace import levels
from batchbot.pace.calibration import (
    CHARS,
    EXACT,
    Calibrated,
    Calibration,
    Estimates,
    estimates,
    requested_in,
)
from batchbot.pace.ceiling import Ceiling
from batchbot.pace.dialect import FIXED_MINUTE, OPENAI, HeaderReader
from batchbot.pace.guard import KINDS, Guard
from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.headroom import BURST, Headroom
from batchbot.pace.learning import Backoff, LimitLearner
from batchbot.pace.levels import Sent
from batchbot.pace.notices import LimitsChanged, RequestTooLarge
from batchbot.pace.probe import Probe

__all__ = ["Calibrated", "Limiter", "LimitsChanged", "RequestTooLarge", "Sent"]

CHANGE_EXPLAINS_S = 1.0  # 429s this soon after the limits changed are the change's
ALL_OF_IT = 0.95  # a share of the key this close to all of it is all of it
MIN_HOST = 0.01  # a run given none of the key is held instead
SLACK_STEP_S = 0.005  # an isolated 429 lengthens the guard's span by this much...
MAX_SLACK_S = 0.05  # ...up to this

Notice = LimitsChanged | Calibrated


class Limiter:
    """Requests/min and tokens/min buckets plus a concurrency cap, for one run.

    `rpm` / `tpm`: the limits per minute; None means unlimited. `concurrency`: how many
    items may be in flight (sent, or waiting to retry, and not yet committed).
    `burst_seconds`: how much of the limit may pass at once. `headroom`: the fraction of
    the limit to aim for. `window_s`: the span no part of which may hold more than its share
    of the limit; `slack_s`: how much longer the guard counts, for transit jitter.
    `raise_after_s`: how long the server must report a higher limit before we follow it.
    `caps`: which of "requests" and "tokens" the configured limit is a hard ceiling for (the
    user set it; it is not a preset): never raised, never burst above, never exceeded in
    any rolling minute. `on_change`: called once for each new pair of limits the
    server's headers set, and once per model whose tokens the server counts notably
    differently. `probe`: send one request alone before the server has said anything (see
    the module docstring). `on_dialect`: called with a note the first time the server shows
    a header dialect worth saying. `wall_clock`: where the minutes of a fixed-minute server
    turn (tests pass their own). `token_count`: "exact" or "chars", to charge requests by
    whatever the server's evidence (see `calibration`). Create it inside the running event
    loop (aiolimiter binds to it).
    """

    def __init__(
        self,
        *,
        rpm: float | None,
        tpm: float | None,
        concurrency: int,
        burst_seconds: float = 0.1,
        headroom: float = 0.99,
        window_s: float = 1.0,
        slack_s: float = 0.005,
        raise_after_s: float = 2.0,
        caps: Collection[str] = (),
        on_change: Callable[[Notice], object] | None = None,
        probe: bool = False,
        probe_wait_s: float = 10.0,
        on_dialect: Callable[[str], object] | None = None,
        wall_clock: Callable[[], float] = time.time,
        token_count: str | None = None,
    ) -> None:
        _check_positive("rpm", rpm)
        _check_positive("tpm", tpm)
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        if not burst_seconds > 0:
            raise ValueError(f"burst_seconds must be positive, not {burst_seconds}")
        if not 0 < headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], not {headroom}")
        if not (window_s > 0 and slack_s >= 0):
            raise ValueError(f"window_s must be positive and slack_s not negative, not {slack_s}")
        self._loop = asyncio.get_running_loop()
        self._burst_seconds = burst_seconds
        self._headroom = headroom
        self._rpm = rpm
        self._tpm = tpm
        self._spare = Headroom()  # a full bucket's worth to spend fast; not `headroom`
        self._window_s, self._slack_s = window_s, slack_s
        self._requests = self._bucket(rpm)
        self._tokens = self._bucket(tpm)
        configured = {"requests": rpm, "tokens": tpm}
        self._caps = {kind: limit for kind in caps if (limit := configured[kind]) is not None}
        self._guard = Guard(
            window_s + slack_s,
            share=self._share,
            paused_until=lambda: self._paused_until,
            on_sent=self._sent_now,
            ceiling=Ceiling(self._caps),
            on_capped=self._capped,
        )
        self._concurrency = concurrency
        self._slots = asyncio.Semaphore(concurrency)
        self._in_flight = 0
        self._queue = asyncio.Lock()  # asyncio.Lock wakes waiters in FIFO order
        self._charged = {"requests": 0.0, "tokens": 0.0}  # all sent, as the server counts it
        self._readings = 0  # headers read in OpenAI's dialect
        self._waiting = {"requests": 0.0, "tokens": 0.0}  # in wait_for_capacity(), server units
        self._last_call = False  # every request the run will send is waiting, or sent
        self._from_zero = False
        self._paused_until = -math.inf
        self._resumed = asyncio.Event()  # clear while paused; set by a timer when it ends
        self._resumed.set()
        self._resume_timer: asyncio.TimerHandle | None = None
        self._probe = Probe(enabled=probe, wait_s=probe_wait_s)
        self.latest: RateLimitHeaders | None = None  #: the last headers passed to observe()
        self._learner = LimitLearner(rpm, tpm, caps, raise_after_s)
        self._on_change = on_change
        self._reader = HeaderReader(wall_offset=wall_clock() - self._loop.time())
        self._on_dialect = on_dialect
        self.calibration = Calibration(token_count)  #: the server's count over ours, per model
        self._backoff = Backoff()
        self._changed_at = -math.inf  # when the limits in force last changed
        self._host = dict.fromkeys(KINDS, 1.0)  # this machine's share of the key (`share_host`)
        self._alone = True
        self._host_given = asyncio.Event()  # clear while this run's share is none at all
        self._host_given.set()

    @property
    def rpm(self) -> float | None:
        """The requests/min limit in force (configured, or lower if the server said so)."""
        return self._rpm

    @property
    def tpm(self) -> float | None:
        """The tokens/min limit in force (configured, or lower if the server said so)."""
        return self._tpm

    @property
    def pace(self) -> float:
        """The share of the limits we aim for: below 1 while another client spends the key,
        or while runs on this machine share it (`share_host`)."""
        return min(self.paces.values())

    @property
    def paces(self) -> dict[str, float]:
        """`pace`, per kind: runs on this machine may share one kind more than the other."""
        key = self._key_pace()
        return {kind: share * key for kind, share in self._host.items()}

    def _key_pace(self) -> float:
        """What the key leaves this machine's runs: the headers' word, and 429s'."""
        # Remaining counts that refill faster than a minute's bucket can say nothing of
        # another client either (see `calibration`).
        shares = [] if self._headers_lie else self._reader.bucket_shares()
        aims = {kind: self._aim(limit) if limit else None for kind, limit in self._limits()}
        window = self._reader.window_share(self._loop.time(), aims)
        # A share just under 1 is the estimate's noise (it is clipped at 1 from above), not
        # another client: following it would only lose throughput.
        backoff = self._backoff.pace(self._loop.time())
        return min(backoff, window, *(share if share < ALL_OF_IT else 1.0 for share in shares))

    @property
    def _headers_lie(self) -> bool:
        """Remaining counts that rise faster than a minute's bucket refills are not what the
        server's per-minute buckets hold: another client, headroom, the server's count."""
        return self.calibration.headers_lie or self._reader.lies

    def _limits(self) -> Iterable[tuple[str, float | None]]:
        return (("requests", self._rpm), ("tokens", self._tpm))

    @property
    def concurrency(self) -> int:
        return self._concurrency

    @property
    def in_flight(self) -> int:
        """How many concurrency slots are taken."""
        return self._in_flight

    @property
    def paused_until(self) -> float:
        """Event-loop time at which the current pause ends (in the past if not paused)."""
        return self._paused_until

    async def enter(self) -> None:
        """Take a concurrency slot; hold it across retries until the item's result is saved."""
        await self._slots.acquire()
        self._in_flight += 1

    @property
    def slot_free(self) -> bool:
        """Whether `enter()` would return without waiting."""
        return not self._slots.locked()

    def leave(self) -> None:
        """Give back a slot taken by `enter()`."""
        if self._in_flight == 0:
            raise RuntimeError("Limiter.leave() called without a matching enter()")
        self._in_flight -= 1
        self._slots.release()

    async def wait_for_capacity(
        self, tokens: int, model: str | None = None, chars: int | None = None
    ) -> Sent:
        """Before each HTTP attempt: wait out any pause, then take 1 request and `tokens`
        (`chars`: the request counted by its characters, see `charcount`). Pass what it
        returns to `observe()` with the answer's headers."""
        if tokens < 0:
            raise ValueError(f"tokens must not be negative, not {tokens}")
        if self._tpm is not None and tokens > self._tpm:
            raise RequestTooLarge(tokens, self._tpm)
        counts = estimates(tokens, chars)
        waiting = {"requests": 1.0, "tokens": self.calibration.charge(model, tokens, chars)}
        for kind in KINDS:
            self._waiting[kind] += waiting[kind]
        try:
            now, charge = await self._turn(counts, model)
        finally:
            for kind in KINDS:
                self._waiting[kind] -= waiting[kind]
        self.calibration[model].sent(counts)
        self._reader.sent(1, charge)
        self._charged["requests"] += 1
        self._charged["tokens"] += charge
        return Sent(now, self._charged["requests"], self._charged["tokens"])

    async def _turn(self, counts: Estimates, model: str | None) -> tuple[float, float]:
        """Through the queue, the buckets and the guard: when it went, and its charge."""
        async with self._queue:
            await self._probe.turn()
            await self._wait_out_pause()
            await self._host_given.wait()
            await self._wait_for_turn()
            if self._from_zero:  # after a 429 the server's bucket is empty: no catching up
                self._from_zero = False
                for kind in KINDS:
                    await self._charge(kind, self._capacity(kind))
            charge = self.calibration.charge(model, counts[EXACT], counts[CHARS])
            # Slowing down charges every unit more; the buckets keep their level and rate.
            paces = self.paces
            units = {"requests": 1 / paces["requests"], "tokens": charge / paces["tokens"]}
            await self._charge("requests", units["requests"])
            await self._charge("tokens", units["tokens"])
        return await self._guard.through(units, {"requests": 1.0, "tokens": charge}), charge

    def last_call(self) -> None:
        """Every request the run will send has been asked for: what waits is all that is left.
        The headroom need then keep nothing back for later ones (see `headroom`)."""
        # From the loop's next turn: tasks just created to ask have not run yet.
        self._loop.call_soon(self._hear_last_call)

    def _hear_last_call(self) -> None:
        self._last_call = True

    def _left(self) -> dict[str, float] | None:
        """After the last call, what is still to be sent (None before it)."""
        return dict(self._waiting) if self._last_call else None

    def _sent_now(self, now: float, units: dict[str, float]) -> None:
        """The guard let `units` go: count them against the headroom's burst."""
        if (left := self._left()) is not None:  # it still counts what is going now
            self._spare.last_call(left)
        if self._spare.spend(now, units):
            # Used up, not refused: the server has no short windows to fill, so what the
            # burst sent in the last second holds the pace back only as much as a second
            # at the pace would.
            self._guard.scale(1 / BURST)
            self._repace()

    def _capped(self, now: float) -> None:
        """The user's ceiling holds a request back: a burst, now or later, would only bring
        on the next wait at it."""
        if self._spare.stop(now, for_good=True):
            self._repace()

    def _share(self, kind: str) -> float | None:
        """How much of `kind` one guarded span may hold: the limit's share of `window_s`."""
        limit = self._limit(kind)
        if limit is None:
            return None
        return limit / 60 * self._window_s * self._spare.factor

    def share_host(self, paces: Mapping[str, float], *, neighbours: bool) -> None:
        """Runs on this machine share the key (see `hostshare`): aim at `paces` of the limits,
        per kind. While `neighbours` spend it, no burst spends the server's buckets (each
        would count the same headroom as its own), nor is their spending read as the
        server's count."""
        self._host = {kind: max(MIN_HOST, paces[kind]) for kind in KINDS}
        self._alone = not neighbours
        if min(paces.values()) > 0:
            self._host_given.set()
        else:  # held until the others have made room
            self._host_given.clear()
        if neighbours and self._spare.stop(self._loop.time()):
            self._repace()

    def neighbours_sent(self, requests: float, tokens: float) -> None:
        """What runs sharing the key on this machine sent, as the server counts it: not
        another client's, when the headers are read."""
        self._reader.sent(requests, tokens)

    @property
    def sent(self) -> Sent:
        """All this limiter has let through so far, as the server counts it."""
        return Sent(self._loop.time(), self._charged["requests"], self._charged["tokens"])

    @property
    def waiting(self) -> float:
        """Requests waiting for their turn now."""
        return self._waiting["requests"]

    def pause(self, seconds: float) -> None:
        """Hold every waiter for `seconds` from now; extends a longer pause, never shortens one."""
        if not (math.isfinite(seconds) and seconds > 0):
            return
        until = self._loop.time() + seconds
        if until <= self._paused_until:
            return
        self._paused_until = until
        self._resumed.clear()
        if self._resume_timer is not None:
            self._resume_timer.cancel()
        self._resume_timer = self._loop.call_at(until, self._resumed.set)

    def refused(
        self,
        tokens: int,
        *,
        model: str | None = None,
        message: str | None = None,
        hint: float | None = None,
        chars: int | None = None,
    ) -> None:
        """A request of `tokens` (`chars` by its characters) got a rate-limit 429 (`message`,
        waiting `hint` seconds): it cost nothing, and something sent too fast."""
        self._probe.heard()
        now = self._loop.time()
        before = self.calibration.charge(model, tokens, chars)
        self._reader.sent(-1, -before)
        if self._spare.refused(now, hint):
            self._repace()
        self._from_zero = True
        count = self.calibration[model]
        mode = self.calibration.mode(model)
        recounted = count.refused(now, estimates(tokens, chars), requested_in(message), mode)
        self._say_count(model)
        after = self.calibration.charge(model, tokens, chars)
        if after > before:  # what is in the window was sent at the old count
            self._guard.logs["tokens"].scale(after / before)
            self._guard.ceiling.recount("tokens", after / before)
        if recounted or self._spare.explains(now) or now - self._changed_at < CHANGE_EXPLAINS_S:
            return
        shared = min(self._reader.bucket_shares(), default=1.0) < ALL_OF_IT
        if not self._backoff.refused(now, self._key_pace(), shared=shared):
            # An accident of timing: allow a little more for the way to the server.
            self._slack_s = min(MAX_SLACK_S, self._slack_s + SLACK_STEP_S)
            self._guard.length_s = self._window_s + self._slack_s
            self._repace()

    def observe(
        self, headers: RateLimitHeaders, model: str | None = None, sent: Sent | None = None
    ) -> None:
        """Learn from the server's x-ratelimit-* headers: its limits, and what is left of them.
        `sent`: what `wait_for_capacity()` returned for the request they answer."""
        self._probe.heard()
        self.latest = headers
        before = (self._rpm, self._tpm)
        now = self._loop.time()
        follow = self._learner.follow
        if (rpm := follow(now, "requests", headers.limit_requests, self._rpm)) is not None:
            self._set_limit("requests", rpm)
        if (tpm := follow(now, "tokens", headers.limit_tokens, self._tpm)) is not None:
            self._set_limit("tokens", tpm)
        after = (self._rpm, self._tpm)
        if after != before:
            self._changed_at = now
        if after != before and self._learner.is_new(after):
            self._say(LimitsChanged(*after, *before))
        note = self._reader.observe(now, headers, dict(self._limits()))
        if note is not None and self._on_dialect is not None:
            self._on_dialect(note)
        refills = self._reader.dialect == OPENAI
        remaining = headers.remaining_tokens if refills else None
        mode, alone = self.calibration.mode(model), self._alone
        self.calibration[model].observe(now, headers.limit_tokens, remaining, mode, alone=alone)
        self._say_count(model, now)
        # Remaining counts that rise faster than a minute's bucket refills are not what
        # the server's per-minute buckets hold (see `calibration`): no headroom in them. It
        # takes a second reading to see that, unless the first shows the buckets full.
        self._readings += refills
        paced = [kind for kind, limit in self._limits() if limit is not None]
        seen = refills and (self._readings > 1 or levels.full(headers, paced))
        if not self._alone:  # every run on the key would spend the same headroom
            return
        if seen and self._spare.looking and not self._headers_lie:
            # Not above a limit the user set lower than the server's (see `ceiling`).
            capped = [kind for kind in self._caps if self._learner.user_bound(kind)]
            charged = self._charged
            found = levels.bucket_levels(now, headers, paced, charged, sent, capped=capped)
            if self._spare.find(now, found, self._left()):
                self._repace()
        elif self._reader.dialect == FIXED_MINUTE and self._spare.looking:
            # What a fixed minute has left is spent fast, then the next minute's in full;
            # not above a limit the user set lower than the server's (see `ceiling`).
            found = self._reader.window_levels(now, paced, self._learner.user_bound)
            if self._spare.find(now, found, self._left(), refills=False):
                self._repace()

    def _set_limit(self, kind: str, limit: float) -> None:
        if kind == "requests":
            self._rpm, self._requests = limit, self._bucket(limit)
        else:
            self._tpm, self._tokens = limit, self._bucket(limit)

    def _say_count(self, model: str | None, now: float | None = None) -> None:
        if (notice := self.calibration.news(model, now)) is not None:
            self._say(notice)

    def _say(self, notice: Notice) -> None:
        if self._on_change is not None:
            self._on_change(notice)

    def _repace(self) -> None:
        """New buckets for the pace of the moment: the headroom's burst began or ended."""
        self._requests = self._bucket(self._rpm)
        self._tokens = self._bucket(self._tpm)

    def _bucket(self, per_minute: float | None) -> AsyncLimiter | None:
        """A leaky bucket pacing `per_minute` (times headroom, and the headroom's burst factor),
        letting `burst_seconds` worth through at once."""
        if per_minute is None:
            return None
        per_second = self._aim(per_minute) / 60
        # At least one whole unit must fit; a low limit then gets a longer period, same pace.
        capacity = max(1.0, per_second * self._burst_seconds)
        return AsyncLimiter(capacity, capacity / per_second)

    def _aim(self, per_minute: float) -> float:
        """The pace per minute the buckets keep to for a limit of `per_minute`, unslowed."""
        # Under the guard's pace (the share per window_s + slack_s), so the guard only
        # holds a request back after a lull, not every one: each wait costs a wake-up.
        guarded = self._window_s / (self._window_s + self._slack_s)
        return per_minute * self._headroom * guarded * self._spare.factor

    async def _charge(self, kind: str, amount: float) -> None:
        # Re-read the bucket each chunk: observe() may have replaced it with another.
        remaining = amount
        while remaining > 0 and (bucket := self._buckets(kind)) is not None:
            chunk = min(remaining, bucket.max_rate)
            await bucket.acquire(chunk)
            remaining -= chunk

    def _capacity(self, kind: str) -> float:
        bucket = self._buckets(kind)
        return bucket.max_rate if bucket is not None else 0.0

    def _buckets(self, kind: str) -> AsyncLimiter | None:
        return self._requests if kind == "requests" else self._tokens

    def _limit(self, kind: str) -> float | None:
        return self._rpm if kind == "requests" else self._tpm

    def start_from(self, rpm: int | None, tpm: int | None) -> None:
        """Start from the limits the server stated to an earlier run (the user's still cap
        them): the server has spoken, so no probe."""
        for kind, stated in (("requests", rpm), ("tokens", tpm)):
            if (limit := self._learner.adopt(kind, stated)) is not None:
                self._set_limit(kind, limit)
        self._learner.is_new((self._rpm, self._tpm))  # said already: not news when seen again
        self._probe.heard()

    @property
    def stated(self) -> dict[str, int]:
        """The limits the server last stated (to this run, or one before it)."""
        return self._learner.stated

    def end_probe(self) -> None:
        """The probe came back without limits (a dropped connection, a timeout): waiting for
        the server's word would only stall the run, so go on at the configured pace."""
        self._probe.heard()

    async def _wait_out_pause(self) -> None:
        await self._resumed.wait()

    async def _wait_for_turn(self) -> None:
        """A fixed window with nothing left opens again when it turns, not before."""
        self.pause(self._reader.until_turn(self._loop.time()))
        await self._wait_out_pause()


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number or None (unlimited), not {value}")
