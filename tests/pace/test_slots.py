"""The concurrency cap on the hand-moved clock: slots held until given back."""

from __future__ import annotations

import clocked
import pytest
from clocked import Sim

from batchbot.pace.slots import Slots

sim = clocked.sim  # the hand-moved clock, as a fixture here


async def test_concurrency_cap(sim: Sim) -> None:
    """Only `concurrency` items hold a slot; leave() lets the next one in."""
    slots = Slots(3)
    entered = [sim.spawn(slots.enter()) for _ in range(5)]
    await sim.settle()
    assert [task.done() for task in entered] == [True, True, True, False, False]
    assert slots.in_flight == 3
    assert not slots.free
    slots.leave()
    await sim.settle()
    assert [task.done() for task in entered] == [True, True, True, True, False]
    assert slots.in_flight == 3
    for _ in range(3):
        slots.leave()
    await sim.settle()
    assert all(task.done() for task in entered)
    assert slots.in_flight == 1
    slots.leave()
    assert slots.in_flight == 0
    assert slots.free


async def test_leave_without_enter_is_an_error(sim: Sim) -> None:
    """Giving back a slot that was never taken is a bug, reported at once."""
    slots = Slots(2)
    with pytest.raises(RuntimeError, match="without a matching enter"):
        slots.leave()
