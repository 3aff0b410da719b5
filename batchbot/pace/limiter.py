"""The run's one gate: requests/min, tokens/min and a concurrency cap, paused as one on a 429.

`Limiter` composes small parts, each in its own module with its own tests:

| part | module | what it does |
| --- | --- | --- |
| `Settings` | `settings` | the limits and every knob, checked once |
| `Slots` | `slots` | the concurrency cap, held across retries |
| `Buckets` | `buckets` | the limits in force, paced by leaky buckets a fraction of a second deep |
| `Guard` | `guard` | no sliding second over its share; backfilling; the user's `ceiling` |
| `Pause` | `pause` | a 429 holds everyone until its hint has passed |
| `Probe` | `probe` | one request alone until the server has said anything |
| `Aim` | `aim` | the share of the limits to aim at: other clients, this machine's runs, 429s |
| `Headroom` | `headroom` | what the server's buckets hold beyond the pace, spent fast |
| `Tally` | `tally` | what went and what waits, as the server counts it |
| `Feedback` | `feedback` | the server's headers and 429s, read into the parts above |

Waiters pass the buckets one at a time, first come first served (aiolimiter wakes the
smallest amount first, which would starve a large request), then wait in the guard's pool.
A request is charged what the server will count for it (`calibration`); one larger than the
whole TPM could never be accepted, so it is refused up front with `RequestTooLarge`. While
the aim is below 1 every request is charged proportionally more units: the buckets keep
their level and rate. Token charges are not refunded when an answer is shorter: OpenAI
charges the allowance on arrival, so a refund would overshoot. docs/limits.md describes
the limiter for users.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from batchbot.pace.calibration import CHARS, EXACT, Calibrated, estimates
from batchbot.pace.feedback import Feedback, Notice
from batchbot.pace.levels import Sent
from batchbot.pace.notices import LimitsChanged, RequestTooLarge
from batchbot.pace.parts import Parts
from batchbot.pace.settings import Settings
from batchbot.pace.slots import Slots

__all__ = [
    "Calibrated",
    "Limiter",
    "LimitsChanged",
    "Notice",
    "RequestTooLarge",
    "Sent",
    "Settings",
]


class Limiter:
    """The pace of one run, from `settings`. `on_change` hears each new pair of limits the
    server's headers set, and each model whose tokens the server counts notably otherwise;
    `on_dialect` a note the first time the server shows a header dialect worth saying;
    `wall_clock` places the minutes of a fixed-minute server (tests pass their own).
    Create it inside the running event loop (aiolimiter binds to it)."""

    def __init__(
        self,
        settings: Settings,
        *,
        on_change: Callable[[Notice], object] | None = None,
        on_dialect: Callable[[str], object] | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self.slots, self._queue = Slots(settings.concurrency), asyncio.Lock()  # FIFO waiters
        self._parts = Parts.build(settings, wall_clock)
        self._pause, self.calibration = self._parts.pause, self._parts.calibration
        self.feedback = Feedback(settings, self._parts, on_change, on_dialect)
        # What the run calls, as the parts do it.
        self.enter, self.leave = self.slots.enter, self.slots.leave
        self.pause, self.last_call = self._pause.hold, self._parts.tally.last_call
        self.observe, self.start_from = self.feedback.observe, self.feedback.start_from
        self.end_probe = self._parts.probe.heard  # the probe came back without limits

    @property
    def rpm(self) -> float | None:
        """The requests/min limit in force (configured, or lower if the server said so)."""
        return self._parts.buckets.limits["requests"]

    @property
    def tpm(self) -> float | None:
        """The tokens/min limit in force (configured, or lower if the server said so)."""
        return self._parts.buckets.limits["tokens"]

    @property
    def pace(self) -> float:
        """The share of the limits we aim for: below 1 while another client spends the key,
        or while runs on this machine share it (`share_host`)."""
        return min(self.paces.values())

    @property
    def paces(self) -> dict[str, float]:
        """`pace`, per kind: runs on this machine may share one kind more than the other."""
        return self._parts.aim.paces()

    @property
    def slot_free(self) -> bool:
        """Whether `enter()` would return without waiting."""
        return self.slots.free

    @property
    def sent(self) -> Sent:
        """All this limiter has let through so far, as the server counts it."""
        return self._parts.tally.sent()

    @property
    def waiting(self) -> float:
        """Requests waiting for their turn now."""
        return self._parts.tally.requests_waiting

    @property
    def stated(self) -> dict[str, int]:
        """The limits the server last stated (to this run, or one before it)."""
        return self.feedback.learner.stated

    async def wait_for_capacity(
        self, tokens: int, model: str | None = None, chars: int | None = None
    ) -> Sent:
        """Before each HTTP attempt: wait out any pause, then take 1 request and `tokens`
        (`chars`: the request counted by its characters, see `charcount`). Pass what it
        returns to `observe()` with the answer's headers."""
        if tokens < 0:
            raise ValueError(f"tokens must not be negative, not {tokens}")
        if (tpm := self.tpm) is not None and tokens > tpm:
            raise RequestTooLarge(tokens, tpm)
        parts, counts = self._parts, estimates(tokens, chars)
        waiting = {"requests": 1.0, "tokens": self.calibration.charge(model, tokens, chars)}
        with parts.tally.waiting(waiting):
            async with self._queue:
                await parts.probe.turn()
                await self._pause.wait()
                await parts.aim.given()
                # A fixed window with nothing left opens again when it turns, not before.
                self._pause.hold(parts.reader.until_turn(self._loop.time()))
                await self._pause.wait()
                await parts.buckets.spend_saved()
                charge = self.calibration.charge(model, counts[EXACT], counts[CHARS])
                # Slowing down charges every unit more; the buckets keep their level and rate.
                paces = self.paces
                units = {"requests": 1 / paces["requests"], "tokens": charge / paces["tokens"]}
                await parts.buckets.take(units)
            now = await parts.guard.through(units, {"requests": 1.0, "tokens": charge})
        self.calibration[model].sent(counts)
        parts.reader.sent(1, charge)
        return parts.tally.went(now, 1, charge)

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
        self.feedback.refused(tokens, model, message, hint, chars)

    def share_host(self, paces: Mapping[str, float], *, neighbours: bool) -> None:
        """Runs on this machine share the key (see `hostshare`): aim at `paces` of the limits,
        per kind. While `neighbours` spend it, no burst spends the server's buckets (each
        would count the same headroom as its own), nor is their spending read as the
        server's count."""
        self._parts.aim.share(paces, neighbours=neighbours)
        if neighbours:
            self._parts.pacer.stop(self._loop.time())

    def neighbours_sent(self, requests: float, tokens: float) -> None:
        """What runs sharing the key on this machine sent, as the server counts it: not
        another client's, when the headers are read."""
        self._parts.reader.sent(requests, tokens)
