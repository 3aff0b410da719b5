"""The fake server's rate gate alone: limits in force, changed, reset, and the 429 it raises."""

from __future__ import annotations

import pytest
from test_fake_server import Clock

from batchbot.fake.errors import ApiError
from batchbot.fake.gate import RateGate

MODEL = "gpt-4o-mini"


def gate(
    clock: Clock, *, rpm: int | None = 60, tpm: int | None = None, count: str = "exact"
) -> RateGate:
    """A gate of OpenAI's per-minute buckets, speaking OpenAI's headers."""
    return RateGate(
        rpm,
        tpm,
        clock,
        window_s=60.0,
        windows="buckets",
        sliding_s=1.0,
        dialect="openai",
        count=count,
    )


def test_a_refused_request_raises_the_429_with_the_wait_in_its_message():
    """At 60 RPM the 61st request of a minute is refused, saying it fits again in 1 s."""
    clock = Clock()
    limits = gate(clock)
    for _ in range(60):
        limits.admit(MODEL, 0, hint=False)
    with pytest.raises(ApiError) as refused:
        limits.admit(MODEL, 0, hint=True)
    error = refused.value
    assert error.status == 429
    assert (
        "Limit 60, Used 60, Requested 1. Please try again in 1s."
        in error.body()["error"]["message"]
    )
    assert (error.headers["retry-after-ms"], error.headers["retry-after"]) == ("1000", "1")
    clock.now += 1
    limits.admit(MODEL, 0, hint=False)


def test_a_change_keeping_usage_counts_what_the_old_limits_let_through():
    """40 of 60 used, then a limit of 50 kept with usage: 10 more pass, not 50."""
    clock = Clock()
    limits = gate(clock)
    for _ in range(40):
        limits.admit(MODEL, 0, hint=False)
    limits.change(rpm=50, tpm=None, keep_usage=True)
    for _ in range(10):
        limits.admit(MODEL, 0, hint=False)
    with pytest.raises(ApiError):
        limits.admit(MODEL, 0, hint=False)
    assert limits.requests_per_minute == 50
    assert limits.headers()["x-ratelimit-remaining-requests"] == "0"


def test_reset_restores_the_constructors_limits_counting_and_full_buckets():
    """After a change of limits and counting mode, reset brings back 60 RPM, exact and full."""
    clock = Clock()
    limits = gate(clock)
    limits.change(rpm=5, tpm=100, count="chars", dialect="none")
    assert (limits.count, limits.headers()) == ("chars", {})
    limits.reset()
    assert limits.count == "exact"
    assert limits.headers()["x-ratelimit-remaining-requests"] == "60"


def test_a_bad_change_leaves_the_limits_and_counting_as_they_were():
    """A count or rpm the fake does not take raises and changes nothing."""
    limits = gate(Clock(), count="x1.5")
    with pytest.raises(ValueError, match="unknown counting mode 'words'"):
        limits.change(rpm=10, tpm=None, count="words")
    with pytest.raises(ValueError, match="rpm must be a positive integer"):
        limits.change(rpm=0, tpm=None, count="chars")
    assert (limits.count, limits.requests_per_minute) == ("x1.5", 60)


def test_spent_budget_from_another_client_is_refused_to_this_one():
    """Another client spending 1,000 of 1,000 TPM leaves no room for a 1-token request."""
    clock = Clock()
    limits = gate(clock, rpm=None, tpm=1000)
    limits.spend(tokens=1000)
    with pytest.raises(ApiError) as refused:
        limits.admit(MODEL, 1, hint=False)
    assert refused.value.body()["error"]["type"] == "tokens"
