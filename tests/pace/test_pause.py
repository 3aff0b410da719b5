"""The 429 pause on the hand-moved clock: everyone held until the hint has passed."""

from __future__ import annotations

import math

import clocked
import pytest
from clocked import EARLY, Sim

from batchbot.pace.pause import Pause

sim = clocked.sim  # the hand-moved clock, as a fixture here


def waiter(sim: Sim, pause: Pause) -> list[float]:
    """When a task that waits out `pause` got through."""
    through: list[float] = []

    async def wait() -> None:
        await pause.wait()
        through.append(sim.now)

    sim.spawn(wait())
    return through


async def test_nobody_waits_without_a_pause(sim: Sim) -> None:
    """A new pause holds nothing: a waiter goes at once."""
    pause = Pause()
    through = waiter(sim, pause)
    await sim.settle()
    assert (through, pause.until) == ([0.0], -math.inf)


async def test_a_pause_holds_waiters_until_it_ends(sim: Sim) -> None:
    """hold(2) holds a waiter already there and one that comes during it, both until t=2."""
    pause = Pause()
    first = waiter(sim, pause)
    pause.hold(2.0)
    await sim.run_until(1.0)
    second = waiter(sim, pause)
    await sim.run_until(2.0 - EARLY)
    assert first == second == []
    await sim.run_until(3.0)
    assert first == second == [2.0]


async def test_a_longer_pause_extends_a_shorter_never_shortens_it(sim: Sim) -> None:
    """hold(2) then hold(3) a second later ends at t=4; a later hold(0.5) changes nothing."""
    pause = Pause()
    pause.hold(2.0)
    through = waiter(sim, pause)
    await sim.run_until(1.0)
    pause.hold(3.0)
    await sim.run_until(2.0)
    pause.hold(0.5)
    assert pause.until == 4.0
    await sim.run_until(5.0)
    assert through == [4.0]


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan"), float("inf")])
async def test_meaningless_lengths_are_ignored(sim: Sim, seconds: float) -> None:
    """Zero, negative and non-finite pauses are ignored rather than freezing the run."""
    pause = Pause()
    pause.hold(seconds)
    through = waiter(sim, pause)
    await sim.settle()
    assert through == [0.0]
