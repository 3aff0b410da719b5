"""The dispatcher's limiter: built from the run's limits, reading where each came from."""

from __future__ import annotations

from batchbot.config import Config
from batchbot.limits.limits import FLAG, PRESET, Limit, RateLimits
from batchbot.limits.tiers import limits_for
from batchbot.sync.dispatch import pacing


async def test_a_limit_set_at_the_presets_value_stays_a_ceiling() -> None:
    """--rpm at the preset's own figure is never raised by a server stating more; the same
    figure from the preset is."""
    preset = limits_for("tier-1", "gpt-4o-mini").rpm
    for source, after in ((FLAG, preset), (PRESET, 10 * preset)):
        limiter = pacing(Config(limits=RateLimits(rpm=Limit(preset, source))))
        limiter.start_from(10 * preset, None)
        assert limiter.rpm == after
