"""The share of the limits to aim at, on the hand-moved clock: the key's word and the host's."""

from __future__ import annotations

import clocked
from clocked import Sim

from batchbot.pace.aim import MIN_HOST, Aim
from batchbot.pace.calibration import Calibration
from batchbot.pace.dialect import HeaderReader
from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.learning import CUT, REPEATS

sim = clocked.sim  # the hand-moved clock, as a fixture here

LIMITS: dict[str, float | None] = {"requests": 600, "tokens": None}


def aim() -> tuple[Aim, HeaderReader]:
    reader = HeaderReader(wall_offset=0.0)
    return Aim(reader, Calibration(), lambda: LIMITS), reader


async def test_alone_on_a_quiet_key_the_aim_is_the_whole_limit(sim: Sim) -> None:
    """Nothing said, nothing refused, nobody else: aim at all of it."""
    target, _ = aim()
    assert target.paces() == {"requests": 1.0, "tokens": 1.0}
    assert target.alone


async def test_this_machines_runs_divide_the_key(sim: Sim) -> None:
    """A share from the host's runs lowers the aim per kind; none at all holds the run."""
    target, _ = aim()
    target.share({"requests": 0.5, "tokens": 0.25}, neighbours=True)
    assert target.paces() == {"requests": 0.5, "tokens": 0.25}
    assert not target.alone
    target.share({"requests": 0.0, "tokens": 0.5}, neighbours=True)
    assert target.paces()["requests"] == MIN_HOST
    given = sim.spawn(target.given())
    await sim.settle()
    assert not given.done()
    target.share({"requests": 0.5, "tokens": 0.5}, neighbours=True)
    await sim.settle()
    assert given.done()


async def test_429s_nothing_explains_cut_the_aim_when_they_repeat(sim: Sim) -> None:
    """The first unexplained 429s are timing; repeated ones cut the aim, which creeps back."""
    target, _ = aim()
    assert [target.refused() for _ in range(REPEATS)] == [False] * (REPEATS - 1) + [True]
    assert target.paces()["requests"] == CUT
    await sim.run_until(2.0)
    assert CUT < target.paces()["requests"] < 1.0


async def test_another_client_on_the_key_lowers_the_aim(sim: Sim) -> None:
    """When the server's bucket falls by what another client spends, aim at what is left."""
    target, reader = aim()
    limits: dict[str, float | None] = {"requests": 480, "tokens": None}
    # Over 4 s the server refilled 32 and we sent none, yet the bucket rose by only 16: the
    # other client spent 16, half the limit.
    reader.observe(
        0.0, RateLimitHeaders(limit_requests=480, remaining_requests=100, reset_requests=48), limits
    )
    reader.observe(
        4.0, RateLimitHeaders(limit_requests=480, remaining_requests=116, reset_requests=46), limits
    )
    assert target.paces() == {"requests": 0.5, "tokens": 0.5}
    # Nearly full again: nobody else spends it now.
    reader.observe(
        5.0, RateLimitHeaders(limit_requests=480, remaining_requests=440, reset_requests=5), limits
    )
    assert target.key() == 1.0
