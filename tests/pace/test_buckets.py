"""The rate buckets on the hand-moved clock: each limit paced by a leaky bucket."""

from __future__ import annotations

from collections.abc import Mapping

import clocked
from clocked import Sim

from batchbot.pace.buckets import Buckets

sim = clocked.sim  # the hand-moved clock, as a fixture here


def took(sim: Sim, buckets: Buckets, units: Mapping[str, float]) -> list[float]:
    """When a task that takes `units` from `buckets` got through."""
    through: list[float] = []

    async def take() -> None:
        await buckets.take(units)
        through.append(sim.now)

    sim.spawn(take())
    return through


def exact(limits: Mapping[str, float | None]) -> Buckets:
    """Buckets a 1/8 s deep, aiming at the limits themselves: exact times."""
    return Buckets(limits, burst_seconds=0.125, aim=lambda per_minute: per_minute)


async def test_a_bucket_paces_its_limit(sim: Sim) -> None:
    """480 RPM is 8 a second, a burst of 1: one request every 1/8 s."""
    buckets = exact({"requests": 480, "tokens": None})
    times = [took(sim, buckets, {"requests": 1, "tokens": 10**9}) for _ in range(4)]
    await sim.run_until(1.0)
    assert [when for (when,) in times] == [0.0, 0.125, 0.25, 0.375]


async def test_the_aim_sets_the_pace(sim: Sim) -> None:
    """Aiming at half the limit halves the pace; the limit in force stays the limit."""
    buckets = Buckets(
        {"requests": 480, "tokens": None},
        burst_seconds=0.125,
        aim=lambda per_minute: per_minute / 2,
    )
    times = [took(sim, buckets, {"requests": 1, "tokens": 0}) for _ in range(3)]
    await sim.run_until(1.0)
    assert [when for (when,) in times] == [0.0, 0.25, 0.5]
    assert buckets.in_force == (480, None)


async def test_a_large_amount_passes_in_chunks(sim: Sim) -> None:
    """1,000 tokens against a 16-token bucket (7,680 TPM) pass once their time has gone."""
    buckets = exact({"requests": None, "tokens": 7680})
    through = took(sim, buckets, {"requests": 1, "tokens": 1000})
    await sim.run_until(8.0)
    assert through == [(1000 - 16) / 128]


async def test_a_new_limit_gets_a_new_bucket(sim: Sim) -> None:
    """A lower limit paces what comes after it at the new rate, from an empty bucket (the
    window guard keeps the second); what already waits goes at the old one."""
    buckets = exact({"requests": 480, "tokens": None})
    took(sim, buckets, {"requests": 1, "tokens": 0})
    second = took(sim, buckets, {"requests": 1, "tokens": 0})
    await sim.settle()
    buckets.set("requests", 240)
    later = [took(sim, buckets, {"requests": 1, "tokens": 0}) for _ in range(2)]
    await sim.run_until(2.0)
    assert buckets.limits == {"requests": 240, "tokens": None}
    assert second == [0.125]
    assert [when for (when,) in later] == [0.0, 0.25]


async def test_after_a_429_what_was_saved_is_spent_first(sim: Sim) -> None:
    """Once emptied, the next request first spends the bucket's saved burst: no catching up."""
    buckets = exact({"requests": 3840, "tokens": None})  # 64/s, bursts of 8
    buckets.emptied()
    await buckets.spend_saved()
    times = [took(sim, buckets, {"requests": 1, "tokens": 0}) for _ in range(2)]
    await sim.run_until(1.0)
    assert [when for (when,) in times] == [1 / 64, 2 / 64]
    await buckets.spend_saved()  # once only: nothing more to spend
    assert sim.now == 1.0


async def test_unlimited_kinds_pass_at_once(sim: Sim) -> None:
    """With no limit, any amount passes at once."""
    buckets = exact({"requests": None, "tokens": None})
    times = [took(sim, buckets, {"requests": 1, "tokens": 10**9}) for _ in range(3)]
    await sim.settle()
    assert [when for (when,) in times] == [0.0, 0.0, 0.0]
