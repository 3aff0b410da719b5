"""The server's feedback read into the limiter's parts, on the hand-moved clock."""

from __future__ import annotations

from typing import Any

import clocked
from clocked import Sim

from batchbot.pace.calibration import Calibrated
from batchbot.pace.feedback import Feedback, Notice
from batchbot.pace.guard import SLACK_STEP_S
from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.learning import REPEATS
from batchbot.pace.notices import LimitsChanged
from batchbot.pace.parts import Parts
from batchbot.pace.settings import Settings

sim = clocked.sim  # the hand-moved clock, as a fixture here


def feedback(notices: list[Notice] | None = None, **settings: Any) -> tuple[Feedback, Parts]:
    """Feedback into fresh parts at 480 RPM / 60,000 TPM; `notices` hears what is said."""
    knobs = Settings(**{"rpm": 480, "tpm": 60_000, "concurrency": 10, **settings})
    parts = Parts.build(knobs)
    return Feedback(knobs, parts, on_change=None if notices is None else notices.append), parts


async def test_a_lower_limit_reaches_the_buckets_and_is_said_once(sim: Sim) -> None:
    """Headers stating a lower limit set the buckets' limit at once, said once per pair."""
    notices: list[Notice] = []
    reader, parts = feedback(notices)
    lower = RateLimitHeaders(limit_requests=240, limit_tokens=60_000)
    reader.observe(lower)
    reader.observe(lower)
    assert parts.buckets.in_force == (240, 60_000)
    assert notices == [LimitsChanged(240, 60_000, 480, 60_000)]
    assert reader.latest == lower


async def test_any_word_from_the_server_ends_the_probe(sim: Sim) -> None:
    """Headers and 429s are both the server's word: the requests held for it go."""
    for word in ("headers", "429"):
        reader, parts = feedback(probe=True)
        await parts.probe.turn()  # the probe itself
        held = sim.spawn(parts.probe.turn())
        await sim.settle()
        assert not held.done()
        if word == "headers":
            reader.observe(RateLimitHeaders())
        else:
            reader.refused(10, None, None, None, None)
        await sim.settle()
        assert held.done()


async def test_a_429_empties_the_servers_bucket_and_counts_for_nothing(sim: Sim) -> None:
    """A refused request is taken back from the reader's count, and the buckets start empty."""
    reader, parts = feedback()
    parts.reader.sent(1, 100)
    reader.refused(100, None, None, None, None)
    await parts.buckets.spend_saved()  # spends a bucket's worth: nothing to catch up
    waiting = sim.spawn(parts.buckets.take({"requests": 1, "tokens": 0}))
    await sim.settle()
    assert not waiting.done()


async def test_a_429_quoting_the_servers_count_recounts_what_was_sent(sim: Sim) -> None:
    """ "Requested N" over our estimate is the model's ratio: the window's tokens count more,
    the 429 is explained, and the guard keeps its span."""
    notices: list[Notice] = []
    reader, parts = feedback(notices)
    await parts.guard.through({"requests": 1, "tokens": 100})
    message = "Rate limit reached on tokens per min (TPM): Limit 60000, Used 59990, Requested 200."
    reader.refused(100, "m", message, 0.5, None)
    assert parts.calibration.charge("m", 100) == 200
    assert parts.guard.logs["tokens"].total(sim.now) == 200
    assert parts.guard.length_s == 1.005
    reader.observe(RateLimitHeaders(), "m")
    assert notices == []  # said once it has held a while: a settled figure
    await sim.run_until(5.0)
    reader.observe(RateLimitHeaders(), "m")
    assert notices == [Calibrated("m", 2.0)]


async def test_unexplained_429s_widen_the_guard_then_cut_the_pace(sim: Sim) -> None:
    """A lone unexplained 429 lengthens the guard's span; repeated ones cut the aim instead."""
    reader, parts = feedback()
    reader.refused(0, None, None, None, None)
    assert parts.guard.length_s == 1.0 + (0.005 + SLACK_STEP_S)
    for _ in range(REPEATS - 1):
        reader.refused(0, None, None, None, None)
    assert parts.aim.key() < 1.0


async def test_limits_an_earlier_run_heard_are_the_start(sim: Sim) -> None:
    """start_from() sets the limits at once, not as news, and ends the probe."""
    notices: list[Notice] = []
    reader, parts = feedback(notices, probe=True)
    reader.start_from(5000, None)
    reader.observe(RateLimitHeaders(limit_requests=5000))
    assert parts.buckets.in_force == (5000, 60_000)
    assert reader.learner.stated == {"requests": 5000}
    assert notices == []
    await parts.probe.turn()
    await parts.probe.turn()  # no probe to wait for: the server has spoken
