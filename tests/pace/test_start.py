"""Where a run starts pacing, on the limiter's controlled clock: limits an earlier run was
told by the server need no probe, and a limit the user set still caps them."""

from __future__ import annotations

import clocked
import pytest
from clocked import Sim, exact

sim = clocked.sim  # the hand-moved clock, as a fixture here


@pytest.mark.parametrize(("remembered", "released"), [(None, 1), ((3000, None), 20)])
async def test_limits_an_earlier_run_read_need_no_probe(
    sim: Sim, remembered: tuple[int, None] | None, released: int
) -> None:
    """From a tier's 480 RPM a run sends one request and waits for the server's word; from
    3,000 RPM an earlier run read, it goes at that pace at once."""
    limiter = exact(rpm=480, tpm=None, probe=True)
    if remembered is not None:
        limiter.start_from(*remembered)
    for _ in range(20):
        sim.request(limiter)
    await sim.run_until(0.5)
    assert len(sim.times()) == released


async def test_a_limit_the_user_set_caps_what_an_earlier_run_read(sim: Sim) -> None:
    """Told 600 RPM by the user, a run starts at 600 though the server said 3,000 before; a
    lower limit the server stated is taken as it is."""
    capped = exact(rpm=600, tpm=100_000, caps=["requests"])
    capped.start_from(3000, 50_000)
    assert (capped.rpm, capped.tpm) == (600, 50_000)
    assert capped.stated == {"requests": 3000, "tokens": 50_000}
