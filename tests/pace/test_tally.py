"""The tally on the hand-moved clock: what went, what waits, and what is left at the end."""

from __future__ import annotations

import asyncio

import clocked
import pytest
from clocked import Sim

from batchbot.pace.levels import Sent
from batchbot.pace.tally import Tally

sim = clocked.sim  # the hand-moved clock, as a fixture here


async def test_what_went_adds_up(sim: Sim) -> None:
    """Each request sent adds to the tally; `sent()` says where it stands now."""
    tally = Tally()
    assert tally.went(0.5, 1, 100) == Sent(0.5, 1, 100)
    assert tally.went(0.75, 1, 40.5) == Sent(0.75, 2, 140.5)
    await sim.run_until(2.0)
    assert tally.sent() == Sent(2.0, 2, 140.5)


async def test_what_waits_is_counted_while_it_waits(sim: Sim) -> None:
    """Amounts count as waiting inside the block only, even when it fails."""
    tally = Tally()
    with tally.waiting({"requests": 1, "tokens": 30}):
        assert tally.requests_waiting == 1
    with pytest.raises(RuntimeError), tally.waiting({"requests": 1, "tokens": 30}):
        raise RuntimeError("cancelled")
    assert tally.requests_waiting == 0


async def test_what_is_left_is_known_from_the_last_call_on(sim: Sim) -> None:
    """Before the last call nothing says what is left; from the loop's next turn, what waits."""
    tally = Tally()
    with tally.waiting({"requests": 2, "tokens": 60}):
        tally.last_call()
        assert tally.left() is None  # tasks just created to ask have not run yet
        await asyncio.sleep(0)
        assert tally.left() == {"requests": 2, "tokens": 60}
    assert tally.left() == {"requests": 0, "tokens": 0}
