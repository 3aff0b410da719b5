"""The window guard on the hand-moved clock: no sliding span over its share, and its slack."""

from __future__ import annotations

import math

import clocked
from clocked import Sim

from batchbot.pace.ceiling import Ceiling
from batchbot.pace.guard import MAX_SLACK_S, SLACK_STEP_S, Guard, Units

sim = clocked.sim  # the hand-moved clock, as a fixture here


def guard(share: float, slack_s: float = 0.0, ceiling: Ceiling | None = None) -> Guard:
    """A guard allowing `share` requests (and as many tokens) per span, never paused."""
    return Guard(
        1.0,
        slack_s,
        share=lambda kind: share,
        paused_until=lambda: -math.inf,
        on_sent=lambda now, units: None,
        ceiling=ceiling,
    )


def through(sim: Sim, gate: Guard, units: Units) -> list[float]:
    """When `units` got through `gate`."""
    times: list[float] = []

    async def go() -> None:
        times.append(await gate.through(units))

    sim.spawn(go())
    return times


async def test_no_span_holds_more_than_its_share(sim: Sim) -> None:
    """Four a span: the fifth request waits until the first has left the window."""
    gate = guard(4)
    times = [through(sim, gate, {"requests": 1, "tokens": 0}) for _ in range(6)]
    await sim.run_until(3.0)
    assert [when for (when,) in times] == [0.0] * 4 + [1.0] * 2


async def test_the_span_is_the_window_plus_the_slack(sim: Sim) -> None:
    """With 10 ms of slack the fifth request waits 1.01 s, so jitter cannot bring two together."""
    gate = guard(4, slack_s=0.01)
    times = [through(sim, gate, {"requests": 1, "tokens": 0}) for _ in range(5)]
    await sim.run_until(3.0)
    assert [when for (when,) in times] == [0.0] * 4 + [1.01]
    assert gate.length_s == 1.01


async def test_an_isolated_429_widens_the_slack_up_to_a_bound(sim: Sim) -> None:
    """Each widen() adds a step of slack to the span, never more than the most allowed."""
    gate = guard(4)
    gate.widen()
    assert gate.length_s == 1.0 + SLACK_STEP_S
    for _ in range(100):
        gate.widen()
    assert gate.length_s == 1.0 + MAX_SLACK_S
    assert gate.window_s == 1.0


async def test_a_recount_makes_what_was_sent_count_more(sim: Sim) -> None:
    """Tokens found to count twice as much take twice the room, in the window and the ceiling."""
    ceiling = Ceiling({"tokens": 1000})
    gate = guard(100, ceiling=ceiling)
    through(sim, gate, {"requests": 1, "tokens": 40})
    await sim.settle()
    gate.recount("tokens", 2.0)
    later = through(sim, gate, {"requests": 1, "tokens": 40})
    await sim.run_until(3.0)
    assert later == [1.0]  # 80 + 40 would overfill the 100 of the span
    # The ceiling's minute holds 80 + 40: room for 880 more, not 881.
    assert ceiling.wait(sim.now, {"tokens": 880}) == 0
    assert ceiling.wait(sim.now, {"tokens": 881}) > 0
