"""A limit the user sets is a hard ceiling, on the limiter's controlled clock: no rolling minute
holds more, whatever the server's counters would allow."""

from __future__ import annotations

import math
from typing import Any

import clocked
import pytest
from clocked import Sim
from test_dialect import LIMIT, WORKERS, FixedMinuteServer

from batchbot.pace.ceiling import Ceiling
from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.limiter import Limiter, Settings
from batchbot.pace.window import SendLog

sim = clocked.sim  # the hand-moved clock, as a fixture here


def send(sim: Sim, limiter: Limiter, count: int, answer: Any) -> list[float]:
    """`count` requests from a few workers; each answer's headers from `answer()`. Returns the
    release times, as they come."""
    times: list[float] = []
    left = [count]

    async def worker() -> None:
        while left[0] > 0:
            left[0] -= 1
            await limiter.wait_for_capacity(0)
            times.append(sim.now)
            limiter.observe(answer())

    for _ in range(WORKERS):
        sim.spawn(worker())
    return times


def busiest(times: list[float], span: float) -> int:
    """The most requests in any span (t - span, t] ending at a release."""
    return max(sum(end - span + 1e-9 < other <= end for other in times) for end in times)


def test_the_ceiling_holds_what_would_pass_the_cap_until_room_comes() -> None:
    """10 a minute: the eleventh waits for the first to leave the log; other kinds are free."""
    ceiling = Ceiling({"requests": 10})
    for second in range(10):
        ceiling.add(float(second), {"requests": 1, "tokens": 500})
    assert ceiling.wait(30.0, {"requests": 1, "tokens": 0}) == pytest.approx(30.0)
    assert ceiling.wait(60.5, {"requests": 1, "tokens": 0}) == 0.0
    assert not ceiling.fits_beside(30.0, {"requests": 1, "tokens": 0}, {"requests": 1}, 60.0)
    assert Ceiling({}).wait(0.0, {"requests": 1e9, "tokens": 1e9}) == 0.0


async def test_a_full_bucket_is_not_burst_above_a_limit_the_user_set(sim: Sim) -> None:
    """600 RPM set by the user against a server reporting 3,000 and a full bucket: 600 a
    minute, at most 10 a second, from the first second; a preset would have burst."""
    limiter = Limiter(Settings(rpm=600, tpm=None, concurrency=1000, caps=["requests"]))
    full = RateLimitHeaders(limit_requests=3000, remaining_requests=3000, reset_requests=0)
    times = send(sim, limiter, 700, lambda: full)
    await sim.run_until(80.0)
    assert busiest(times, 60.0) <= 600
    assert busiest(times, 1.0) <= 10
    assert sum(when < 60.0 for when in times) >= 0.97 * 600
    assert limiter.rpm == 600


async def test_a_fixed_minute_is_spent_within_the_users_ceiling(sim: Sim) -> None:
    """The user's 600 equals the gateway's: each minute's count may be spent fast, yet no
    rolling minute of ours holds more than 600, even where two of its minutes meet."""
    capped = Settings(rpm=LIMIT, tpm=None, concurrency=1000, caps=["requests"])
    limiter = Limiter(capped, wall_clock=lambda: sim.now)
    server = FixedMinuteServer(sim, used=200)
    times = send(sim, limiter, 2000, server.answer)
    await sim.run_until(230.0)
    assert len(times) == 2000
    assert max(server.per_minute.values()) <= LIMIT
    assert busiest(times, 60.0) <= 600
    per_minute = [sum(math.floor(when / 60) == minute for when in times) for minute in (1, 2)]
    assert min(per_minute) >= 0.97 * LIMIT


def test_the_minutes_log_stays_small_and_never_frees_room_early() -> None:
    """A thousand requests a second for a minute: 600 entries, not 60,000; each counts as
    sent at the last moment of its tenth of a second, so room comes no sooner than it may."""
    log = SendLog(60.0, merge_s=0.1)
    for ms in range(60_000):
        log.add(ms / 1000, 1.0)
    assert log.total(59.999) == 60_000
    assert len(log._log) <= 601
    assert log.wait(59.999, 1.0, 60_000) >= 60.0 - 59.999
    assert log.total(60.098) == 60_000  # the first sends are a minute old, their tenth not yet
    assert log.total(60.1) == 60_000 - 100  # the whole first tenth (0 to 0.099 s) is out


class MinuteBucket:
    """A server's per-minute requests bucket, full at the start, as OpenAI reports it."""

    def __init__(self, sim: Sim, limit: int) -> None:
        self.sim, self.limit = sim, limit
        self.level, self.stamp = float(limit), 0.0

    def answer(self) -> RateLimitHeaders:
        self.level = min(self.limit, self.level + (self.sim.now - self.stamp) * self.limit / 60)
        self.stamp = self.sim.now
        self.level -= 1
        assert self.level >= 0, f"over the server's limit at {self.sim.now:.2f} s"
        remaining = int(self.level)
        return RateLimitHeaders(
            limit_requests=self.limit, remaining_requests=remaining, reset_requests=0.1
        )


async def test_a_full_bucket_as_large_as_the_users_limit_is_spent_within_it(sim: Sim) -> None:
    """The user's 600 RPM is the server's too, its bucket full: the bucket may be spent fast,
    but no rolling minute holds more than 600, and once the ceiling holds, the pace is even."""
    limiter = Limiter(Settings(rpm=600, tpm=None, concurrency=1000, caps=["requests"]))
    server = MinuteBucket(sim, 600)
    times = send(sim, limiter, 2000, server.answer)
    await sim.run_until(240.0)
    assert len(times) == 2000
    assert busiest(times, 60.0) <= 600
    assert sum(when < 10 for when in times) > 100  # faster than the pace at first
    assert busiest([when for when in times if when > 90], 1.0) <= 11  # then even, not 3x
