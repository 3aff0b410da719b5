"""The limiter's parts built together: wired to each other, each still usable alone."""

from __future__ import annotations

import clocked
from clocked import Sim

from batchbot.pace.parts import Parts
from batchbot.pace.settings import Settings

sim = clocked.sim  # the hand-moved clock, as a fixture here


async def test_the_guard_holds_requests_while_the_pause_does(sim: Sim) -> None:
    """The guard's pool waits out the pause the parts share."""
    parts = Parts.build(Settings(rpm=None, tpm=None, concurrency=1))
    parts.pause.hold(2.0)
    going = sim.spawn(parts.guard.through({"requests": 1, "tokens": 0}))
    await sim.run_until(1.0)
    assert not going.done()
    await sim.run_until(2.0)
    assert going.result() == 2.0


async def test_the_aim_reads_the_pacers_limits(sim: Sim) -> None:
    """The buckets' limits are the ones the guard shares out and the aim reads."""
    parts = Parts.build(Settings(rpm=600, tpm=None, concurrency=1, headroom=1.0, slack_s=0.0))
    assert parts.pacer.aims() == {"requests": 600, "tokens": None}
    parts.buckets.set("requests", 300)
    assert parts.pacer.aims() == {"requests": 300, "tokens": None}
    assert parts.aim.paces() == {"requests": 1.0, "tokens": 1.0}
