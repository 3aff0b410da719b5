"""A run's limits with their sources: chosen in order, a user's a ceiling, bad ones refused once."""

from __future__ import annotations

import math

import pytest

from batchbot.errors import ConfigError
from batchbot.limits.limits import FLAG, JOB, PRESET, SERVER, Limit, RateLimits


def test_each_limit_comes_from_the_flag_else_the_job_else_the_preset() -> None:
    """rpm from the flag over the job's, tpm from the job over the preset's, and each says so."""
    limits = RateLimits.chosen((600, None), (500, 90_000), (300, 30_000))
    assert limits == RateLimits(Limit(600, FLAG), Limit(90_000, JOB))
    assert RateLimits.chosen((None, None), (None, None), (300, 30_000)) == RateLimits(
        Limit(300, PRESET), Limit(30_000, PRESET)
    )


def test_a_limit_the_user_set_is_a_ceiling_even_at_the_presets_value() -> None:
    """The preset's own figure, given as a flag or in the job, caps; from the preset it does not."""
    preset = (500, 200_000)
    assert RateLimits.chosen(preset, (None, None), preset).caps() == ["requests", "tokens"]
    assert RateLimits.chosen((None, None), (500, None), preset).caps() == ["requests"]
    assert RateLimits.chosen((None, None), (None, None), preset).caps() == []
    assert not Limit(500, SERVER).is_cap
    assert RateLimits.set_by_user(rpm=500).caps() == ["requests"]  # no tpm: nothing to cap


def test_the_run_keeps_each_value_with_its_source() -> None:
    """What the run's settings store: each value and where it came from."""
    limits = RateLimits(Limit(600, FLAG), Limit(None, PRESET))
    assert limits.stored() == {"rpm": 600, "rpm_from": "flag", "tpm": None, "tpm_from": "preset"}


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (RateLimits.set_by_user, "rpm must be a number greater than 0, not the number 0."),
        (
            lambda rpm: RateLimits(tpm=Limit(rpm, JOB)),
            "limits.tpm in the job file must be a number greater than 0, not the number 0.",
        ),
    ],
)
def test_a_limit_out_of_range_is_one_line_naming_where_it_came_from(limits, message) -> None:
    """Zero from a flag or the job file: a ConfigError of one line that names its source."""
    with pytest.raises(ConfigError) as raised:
        limits(0)
    assert str(raised.value) == message


@pytest.mark.parametrize("value", [-5, math.nan, math.inf, True])
def test_no_limit_but_a_positive_number_is_taken(value: object) -> None:
    """Negative, NaN, infinite or a bool: refused, whichever the source."""
    with pytest.raises(ConfigError, match="must be a number greater than 0"):
        RateLimits(Limit(value, SERVER))  # type: ignore[arg-type]


def test_a_source_is_one_of_the_four() -> None:
    """A source outside flag, job, preset and server is a programming error, said as such."""
    with pytest.raises(ValueError, match="source is one of"):
        RateLimits(Limit(10, "env"))
