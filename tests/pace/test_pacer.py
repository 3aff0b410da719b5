"""The pace of the moment on the hand-moved clock: buckets and guard, faster in a burst."""

from __future__ import annotations

import math
from typing import Any

import clocked
from clocked import Sim

from batchbot.pace.headroom import BURST
from batchbot.pace.pacer import Pacer
from batchbot.pace.settings import Settings
from batchbot.pace.tally import Tally

sim = clocked.sim  # the hand-moved clock, as a fixture here


def pacer(**settings: Any) -> Pacer:
    return Pacer(Settings(**{"concurrency": 10, **settings}), Tally(), lambda: -math.inf)


def burst(pace: Pacer, rpm: float) -> bool:
    """Show the headroom a full server bucket of `rpm`: True if a burst started."""
    return pace.headroom.find(0.0, {"requests": (rpm, rpm)})


async def test_the_buckets_aim_just_under_the_guard(sim: Sim) -> None:
    """A limit is aimed at `headroom` of it, and under the guard's span with its slack."""
    pace = pacer(rpm=600, tpm=None)
    assert pace.aim(600) == 600 * 0.99 * (1.0 / 1.005)
    assert pace.aims() == {"requests": pace.aim(600), "tokens": None}


async def test_a_burst_speeds_buckets_and_guard_alike(sim: Sim) -> None:
    """While the server's buckets hold headroom, both go BURST times faster; stop() ends it."""
    pace = pacer(rpm=600, tpm=None, headroom=1.0, slack_s=0.0)
    assert burst(pace, 600)
    assert pace.aim(600) == 600 * BURST
    pace.stop(sim.now)
    assert pace.aim(600) == 600
    assert burst(pace, 600)  # a stop is not for good: the next full bucket is spent


def send(sim: Sim, pace: Pacer, count: int) -> None:
    """`count` requests through the guard, as the limiter sends them."""
    for _ in range(count):
        sim.spawn(pace.guard.through({"requests": 1.0, "tokens": 0.0}))


async def test_a_burst_ends_when_the_headroom_is_spent(sim: Sim) -> None:
    """What the guard lets go is spent from the headroom; once it is gone, back to the pace."""
    pace = pacer(rpm=600, tpm=None, headroom=1.0, slack_s=0.0)
    assert burst(pace, 600)  # 590 above the margin, refilling at 10 a second
    send(sim, pace, 1200)
    await sim.run_until(10.0)
    assert pace.aim(600) == 600 * BURST
    await sim.run_until(40.0)  # 30 a second spend it in about 30 s
    assert pace.aim(600) == 600
    assert pace.headroom.looking  # used up, not refused: the next full bucket is spent too


async def test_the_users_ceiling_ends_bursts_for_good(sim: Sim) -> None:
    """Once the user's limit holds a request back, no burst starts again."""
    pace = pacer(rpm=600, tpm=None, caps=["requests"], headroom=1.0, slack_s=0.0)
    assert burst(pace, 3000)
    send(sim, pace, 700)  # more than a minute of the cap
    await sim.run_until(30.0)
    assert pace.aim(600) == 600
    assert not burst(pace, 3000)
