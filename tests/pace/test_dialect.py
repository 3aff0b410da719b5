"""Header dialects on the limiter's controlled clock: what is inferred, and how a run paces in it.

The server here is a few lines of arithmetic beside the limiter: each request the limiter lets
through is counted at once and its answer's headers go straight back into `observe()`, as a
server with no latency would answer. Minutes turn at 60 s, 120 s ... of the simulated clock,
which the limiter is told is the wall clock.
"""

from __future__ import annotations

import math

import clocked
import pytest
from clocked import Sim

from batchbot.pace.dialect import (
    FIXED_MINUTE,
    NONE,
    NOTES,
    OPENAI,
    HeaderReader,
    Minutes,
    WindowShare,
)
from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.levels import Sent
from batchbot.pace.limiter import Limiter, Settings
from batchbot.pace.sharing import MIN_SHARE, SharedBudget

sim = clocked.sim  # the hand-moved clock, as a fixture here

LIMIT = 600  # requests per minute, as the gateway's config says
WORKERS = 8


class FixedMinuteServer:
    """A gateway's per-minute request counter, as LiteLLM's proxy keeps it (no refusals)."""

    def __init__(self, sim: Sim, *, used: int = 0) -> None:
        self.sim, self.used, self.minute = sim, used, 0
        self.per_minute: dict[int, int] = {}  # our requests counted in each minute

    def _turn(self) -> None:
        minute = math.floor(self.sim.now / 60)
        if minute != self.minute:
            self.minute, self.used = minute, 0

    def spend(self, requests: int) -> None:
        """Another client's requests, in the current minute."""
        self._turn()
        self.used += requests

    def answer(self) -> RateLimitHeaders:
        """Count one of our requests; the headers of its answer."""
        self._turn()
        self.used += 1
        self.per_minute[self.minute] = self.per_minute.get(self.minute, 0) + 1
        return RateLimitHeaders(limit_requests=LIMIT, remaining_requests=LIMIT - self.used)


def start(sim: Sim, limiter: Limiter, server: FixedMinuteServer, count: int) -> list[float]:
    """Send `count` requests answered by `server`, from a few workers (few tasks keep the
    clock fast); returns the pace seen at each release."""
    paces: list[float] = []
    left = [count]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await limiter.wait_for_capacity(0)
            paces.append(limiter.pace)
            limiter.observe(server.answer())
            assert server.used <= LIMIT, f"over the limit at {sim.now:.2f} s"

    for _ in range(WORKERS):
        sim.spawn(worker())
    return paces


def gateway_limiter(sim: Sim, notes: list[str], wall_offset: float = 0.0) -> Limiter:
    """A limiter at the gateway's 600 RPM with a run's defaults; `sim`'s clock is the wall's."""
    return Limiter(
        Settings(rpm=LIMIT, tpm=None, concurrency=1000),
        on_dialect=notes.append,
        wall_clock=lambda: sim.now + wall_offset,
    )


@pytest.mark.parametrize(
    ("headers", "dialect"),
    [
        (RateLimitHeaders(limit_requests=500, remaining_requests=499, reset_requests=0.12), OPENAI),
        (RateLimitHeaders(remaining_tokens=9000, reset_tokens=1.5), OPENAI),
        (RateLimitHeaders(limit_requests=600, remaining_requests=599), FIXED_MINUTE),
        (RateLimitHeaders(remaining_tokens=99_970), FIXED_MINUTE),
        (RateLimitHeaders(limit_requests=600), None),  # limits alone say nothing of counting
    ],
)
def test_the_dialect_is_read_from_which_headers_come(
    headers: RateLimitHeaders, dialect: str | None
) -> None:
    """A reset header means a refilling bucket; a remaining count without one, a fixed window."""
    reader = HeaderReader(wall_offset=0.0)
    reader.observe(0.0, headers, {"requests": 600, "tokens": 100_000})
    assert reader.dialect == dialect


def test_each_dialect_worth_saying_is_said_once() -> None:
    """The note comes with the first answer that shows the dialect, and never again."""
    reader = HeaderReader(wall_offset=0.0)
    limits: dict[str, float | None] = {"requests": 600, "tokens": None}
    counted = RateLimitHeaders(limit_requests=600, remaining_requests=599)
    assert reader.observe(0.0, counted, limits) == NOTES[FIXED_MINUTE]
    assert reader.observe(0.1, counted, limits) is None
    assert NOTES[FIXED_MINUTE] == (
        "server counts per fixed minute (no reset header); pacing by the configured limits"
    )


def test_no_headers_at_all_is_said_after_a_few_answers() -> None:
    """Three bare answers make a server that sends none; one with headers, ever, does not."""
    reader = HeaderReader(wall_offset=0.0)
    limits: dict[str, float | None] = {"requests": 600, "tokens": None}
    said = [reader.observe(float(i), RateLimitHeaders(), limits) for i in range(5)]
    assert said == [None, None, NOTES[NONE], None, None]
    assert reader.dialect == NONE
    assert reader.window_share(5.0, limits) == 1.0
    assert reader.bucket_shares() == []
    speaking = HeaderReader(wall_offset=0.0)
    speaking.observe(0.0, RateLimitHeaders(limit_requests=600), limits)
    for i in range(5):
        assert speaking.observe(float(i), RateLimitHeaders(), limits) is None
    assert speaking.dialect is None


def test_a_fixed_minute_count_read_as_a_bucket_is_a_phantom_client() -> None:
    """Why the dialect matters: our own sends in a fixed window look like another client's."""
    bucket, window, minutes = SharedBudget(), WindowShare(), Minutes(0.0)
    for second in range(20):
        remaining = LIMIT - 1 - 9 * second  # we alone send 9 a second; nothing refills
        bucket.observe(float(second), LIMIT, remaining)
        window.observe(float(second), remaining, LIMIT, minutes, stated=True)
        bucket.sent(9)
        window.sent(9)
    assert bucket.share == MIN_SHARE  # the refill arithmetic would crawl at 5 %
    assert window.share(19.5, LIMIT, aim=0.97 * LIMIT) == 1.0  # ample left: full pace


def test_a_count_with_no_reset_that_refills_after_all_slows_nothing() -> None:
    """A server that sends no reset yet refills (as some may): a low count alone is no reason."""
    window, minutes = WindowShare(), Minutes(0.0)
    for second in range(50):
        remaining = 30 + second % 3  # we spend what refills, ten a second, near the bottom
        window.observe(float(second), remaining, LIMIT, minutes, stated=True)
        window.sent(10)
    assert window.share(50.5, LIMIT, aim=0.99 * LIMIT) == 1.0
    assert window.until_turn(50.5, LIMIT) == 0.0


async def test_fresh_fixed_minute_runs_at_the_configured_pace(sim: Sim) -> None:
    """Alone behind a fixed-minute gateway, no phantom client: full pace, never over the limit."""
    notes: list[str] = []
    limiter = gateway_limiter(sim, notes)
    server = FixedMinuteServer(sim)
    paces = start(sim, limiter, server, 700)
    await sim.run_until(90.0)
    assert min(paces) == 1.0
    assert 0.95 * LIMIT <= server.per_minute[0] <= LIMIT  # 97 % headroom
    assert sum(server.per_minute.values()) == 700
    assert notes == [NOTES[FIXED_MINUTE]]


async def test_a_part_used_minute_is_spent_then_the_next_in_full(sim: Sim) -> None:
    """200 spent by another client: we spend ≥ 90 % of the 400 left by the turn, never more;
    then what is left of the job goes at the start of the next minute, not over the whole of it."""
    limiter = gateway_limiter(sim, [])
    server = FixedMinuteServer(sim, used=200)
    paces = start(sim, limiter, server, 600)
    await sim.run_until(59.9)
    assert 0.9 * 400 <= server.per_minute[0] <= 400
    assert min(paces) < 1.0
    await sim.run_until(60.0 + (600 - server.per_minute[0]) / 30 + 1.0)  # at 3x the pace
    assert limiter.pace == 1.0  # a new minute: the whole limit again
    assert sum(server.per_minute.values()) == 600


async def test_a_limit_set_below_the_gateways_is_not_burst_above(sim: Sim) -> None:
    """Told 300 RPM by the user, behind a gateway counting 600: smooth at 300, never a burst."""
    capped = Settings(rpm=300, tpm=None, concurrency=1000, caps=["requests"])
    limiter = Limiter(capped, wall_clock=lambda: sim.now)
    server = FixedMinuteServer(sim)
    times: list[float] = []

    async def worker() -> None:
        while len(times) < 400:
            await limiter.wait_for_capacity(0)
            times.append(sim.now)
            limiter.observe(server.answer())

    for _ in range(WORKERS):
        sim.spawn(worker())
    await sim.run_until(90.0)
    assert max(sum(t - 1 < other <= t for other in times) for t in times) <= 5
    assert max(sum(t - 60 < other <= t for other in times) for t in times) <= 300


async def test_another_client_spending_all_along_is_seen(sim: Sim) -> None:
    """Another client's 5 a second in a fixed window: we spend what it leaves, never more."""
    limiter = gateway_limiter(sim, [])
    server = FixedMinuteServer(sim)
    start(sim, limiter, server, 1200)  # each of our sends checks the count is within the limit
    for second in range(120):
        await sim.run_until(float(second))
        server.spend(5)
    await sim.run_until(119.9)
    for minute in (0, 1):
        assert server.per_minute[minute] >= 0.9 * (LIMIT - 300)


async def test_a_used_up_window_holds_everything_until_it_turns(sim: Sim) -> None:
    """With nothing left in the minute, nothing is sent until it turns, then the pace resumes."""
    limiter = gateway_limiter(sim, [])
    server = FixedMinuteServer(sim, used=LIMIT - 5)
    start(sim, limiter, server, 20)
    await sim.run_until(59.9)
    assert server.per_minute[0] <= 5
    await sim.run_until(64.0)
    assert sum(server.per_minute.values()) == 20


async def test_a_turn_seen_elsewhere_moves_the_minutes(sim: Sim) -> None:
    """Told the minutes turn at 30 s, the limiter learns from the jump that they turn at 60 s."""
    limiter = gateway_limiter(sim, [], wall_offset=30.0)
    server = FixedMinuteServer(sim, used=200)
    start(sim, limiter, server, 1000)
    await sim.run_until(119.9)
    # Until the jump at 60 s it spread the 400 left over 30 s, and spent the rest at the
    # limit's pace; from then on it knows where minutes end.
    assert server.per_minute[0] <= 400
    assert server.used <= LIMIT
    assert server.per_minute[1] >= 0.9 * LIMIT


def test_minutes_turn_with_the_wall_clock() -> None:
    """The window's end is the next wall-clock minute; an unexpected turn moves it."""
    minutes = Minutes(wall_offset=30.0)  # loop time 0 is wall-clock second 30
    assert minutes.end(10.0) == 30.0
    minutes.turned(31.0)  # about when expected: nothing moves
    assert minutes.end(31.0) == 90.0
    minutes.turned(61.0)
    assert minutes.end(61.0) == pytest.approx(121.0)


async def test_no_headers_paces_by_the_configured_limits_and_429s(sim: Sim) -> None:
    """A server that sends no headers: the configured pace, cut only by repeated 429s."""
    notes: list[str] = []
    limiter = gateway_limiter(sim, notes)
    for _ in range(3):
        limiter.observe(RateLimitHeaders())
    assert notes == [NOTES[NONE]]
    assert limiter.pace == 1.0
    for _ in range(3):  # three in a row: we go too fast
        limiter.refused(0)
    assert limiter.pace == 0.8


def test_the_headroom_is_read_once_the_counts_can_be_believed() -> None:
    """OpenAI's counts say what a bucket holds from the second reading on, or at once when the
    first shows it full; a kind a lower limit of the user's holds back is never burst."""
    reader = HeaderReader(wall_offset=0.0)
    limits: dict[str, float | None] = {"requests": 600, "tokens": None}
    half = RateLimitHeaders(limit_requests=600, remaining_requests=300, reset_requests=30.0)
    charged = {"requests": 0.0, "tokens": 0.0}
    reader.observe(0.0, half, limits)
    assert reader.refills
    assert reader.levels(0.0, half, ["requests"], charged, None, lambda kind: False) is None
    reader.observe(0.5, half, limits)
    sent = Sent(0.5, 0.0, 0.0)
    levels = reader.levels(0.5, half, ["requests"], charged, sent, lambda kind: False)
    assert levels == {"requests": (600, 300)}
    held = reader.levels(0.5, half, ["requests"], charged, sent, lambda kind: True)
    assert held == {"requests": None}


def test_a_fixed_minute_has_its_headroom_once_seen_not_to_refill() -> None:
    """A fixed window's count is read as headroom only once it has shown it does not refill;
    a server with no counts has none."""
    reader = HeaderReader(wall_offset=0.0)
    limits: dict[str, float | None] = {"requests": 600, "tokens": None}
    charged = {"requests": 0.0, "tokens": 0.0}
    found = []
    for now, left in ((0.0, 500), (1.0, 480)):
        counted = RateLimitHeaders(limit_requests=600, remaining_requests=left)
        reader.observe(now, counted, limits)
        found.append(reader.levels(now, counted, ["requests"], charged, None, lambda k: False))
    assert not reader.refills
    # Less a little kept back for answers in flight when the count was taken.
    assert found == [{"requests": None}, {"requests": (600, 477.0)}]
    bare = HeaderReader(wall_offset=0.0)
    assert bare.levels(0.0, RateLimitHeaders(), ["requests"], charged, None, bool) is None
