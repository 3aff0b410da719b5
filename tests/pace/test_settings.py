"""The limiter's settings: every knob checked once, where the settings are made."""

from __future__ import annotations

from typing import Any

import pytest

from batchbot.pace.settings import Settings


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"rpm": 0}, "rpm must be a positive number"),
        ({"tpm": -5}, "tpm must be a positive number"),
        ({"rpm": float("inf")}, "rpm must be a positive number"),
        ({"concurrency": 0}, "concurrency must be at least 1"),
        ({"burst_seconds": 0}, "burst_seconds must be positive"),
        ({"headroom": 0}, "headroom must be in"),
        ({"headroom": 1.5}, "headroom must be in"),
        ({"slack_s": -0.1}, "slack_s not negative"),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, Any], message: str) -> None:
    """Impossible settings fail when the limiter is built, naming the setting."""
    with pytest.raises(ValueError, match=message):
        Settings(**{"rpm": 60, "tpm": 1000, "concurrency": 1, **settings})


def test_the_defaults_are_a_runs() -> None:
    """Unless told otherwise the limiter aims at 99 % of the limits, a tenth of a second deep."""
    settings = Settings(rpm=500, tpm=None, concurrency=10)
    assert (settings.headroom, settings.burst_seconds, settings.window_s) == (0.99, 0.1, 1.0)
    assert settings.limits == {"requests": 500, "tokens": None}


def test_a_ceiling_is_a_capped_kind_with_a_limit() -> None:
    """Only a kind the user capped and gave a limit is a ceiling; caps are a frozen set."""
    settings = Settings(rpm=500, tpm=None, concurrency=1, caps=["requests", "tokens"])
    assert settings.ceilings == {"requests": 500}
    assert settings.caps == frozenset({"requests", "tokens"})


def test_settings_are_frozen() -> None:
    """A knob cannot change behind a limiter's back once it is built."""
    settings = Settings(rpm=500, tpm=None, concurrency=1)
    with pytest.raises(AttributeError):
        settings.rpm = 1000  # type: ignore[misc]
