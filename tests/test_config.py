"""Run settings resolved from the job, the environment and the flags: the limits' sources."""

from __future__ import annotations

import dataclasses

import pytest

from batchbot import run_job
from batchbot.config import Config, Flags, resolve_config
from batchbot.errors import BatchbotError
from batchbot.jobs.job import load_job
from batchbot.limits.limits import FLAG, JOB, PRESET, Limit, RateLimits
from batchbot.limits.tiers import limits_for

MODEL = "gpt-4o-mini"


@pytest.fixture
def job(write_job):
    """A job that sets its own tpm and leaves rpm to the preset."""
    text = f"model: {MODEL}\nlimits: {{tpm: 9000}}\nprompts: [hi]\n"
    return load_job(write_job("job.yaml", text))


def test_limits_carry_their_source_into_the_config(job) -> None:
    """The preset's rpm and the job's tpm, then a flag over each, with their sources stored."""
    preset = limits_for("tier-1", MODEL)
    config = resolve_config(job, Flags(), {})
    assert (config.limits.rpm, config.limits.tpm) == (Limit(preset.rpm, PRESET), Limit(9000, JOB))
    assert (config.rpm, config.tpm) == (preset.rpm, 9000)
    flagged = resolve_config(job, Flags(rpm=preset.rpm, tpm=8000), {})
    assert (flagged.limits.rpm, flagged.limits.tpm) == (Limit(preset.rpm, FLAG), Limit(8000, FLAG))
    assert flagged.limits.caps() == ["requests", "tokens"]
    stored = flagged.settings()
    assert (stored["rpm"], stored["rpm_from"], stored["tpm_from"]) == (preset.rpm, "flag", "flag")
    assert "limits" not in stored


def test_a_bad_limit_from_the_library_is_one_line(job) -> None:
    """rpm=0 given to the library: one BatchbotError before anything is sent, naming rpm."""
    with pytest.raises(BatchbotError) as raised:
        run_job(job, rpm=0, fake=True)
    assert str(raised.value) == "rpm must be a number greater than 0, not the number 0."


def test_a_config_built_by_hand_takes_rpm_and_tpm_as_before() -> None:
    """Config(rpm=, tpm=) still works: pacing starts there, as at a preset, with no ceiling;
    limits= with other values as well is refused."""
    config = Config(rpm=600, tpm=200_000)
    assert (config.rpm, config.tpm) == (600, 200_000)
    assert (config.limits.rpm, config.limits.tpm) == (Limit(600, PRESET), Limit(200_000, PRESET))
    assert config.limits.caps() == []
    capped = Config(limits=RateLimits.set_by_user(rpm=600))
    assert (capped.rpm, capped.tpm, capped.limits.caps()) == (600, None, ["requests"])
    assert dataclasses.replace(capped, mode="batch").limits == capped.limits
    with pytest.raises(TypeError, match="not both"):
        Config(rpm=5, limits=RateLimits.set_by_user(rpm=600))
    with pytest.raises(BatchbotError, match="rpm"):
        Config(rpm=0)
