"""The shared-budget estimate: what other clients spend, from remaining counts and our sends."""

from __future__ import annotations

import pytest

from batchbot.pace.sharing import MIN_SHARE, SharedBudget


def drive(limit: int, ours: float, others: float, start: float, seconds: int) -> SharedBudget:
    """A minute bucket of `limit` at level `start`, spent per second by us and by others."""
    budget = SharedBudget()
    level = start
    for second in range(seconds + 1):
        budget.observe(float(second), limit, round(level))
        budget.sent(ours)
        level = min(limit, max(0.0, level + limit / 60 - ours - others))
    return budget


@pytest.mark.parametrize(
    ("ours", "others", "start", "share"),
    [
        (97, 0, 0, 1.0),  # alone at 97 % from an empty bucket: it refills, no reason to slow
        (50, 50, 1000, 0.5),  # another client spends half: half is ours
        (25, 75, 1500, 0.25),
        (0, 100, 2000, MIN_SHARE),  # it takes everything: never plan on less than 5 %
        (97, 50, 6000, 1.0),  # bucket still nearly full: nobody is short yet
    ],
)
def test_share_is_what_the_others_leave(ours: float, others: float, start: float, share: float):
    """At 6,000 RPM (100 a second), the share follows the other client's spending."""
    budget = drive(6000, ours, others, start, seconds=10)
    assert budget.share == pytest.approx(share, abs=0.01)


def test_no_estimate_from_a_short_span_or_missing_counts():
    """Under a second of samples, or headers without counts, keep the last estimate."""
    budget = SharedBudget()
    assert budget.observe(0.0, 6000, 100) == 1.0
    assert budget.observe(0.5, 6000, 0) == 1.0
    assert budget.observe(2.0, None, 0) == 1.0
    assert budget.observe(2.0, 6000, None) == 1.0


def test_a_new_limit_starts_over():
    """Samples taken under another limit are dropped, not compared with the new bucket."""
    budget = SharedBudget()
    budget.observe(0.0, 6000, 1000)
    assert budget.observe(1.0, 3000, 0) == 1.0  # would read as a heavy spender otherwise


@pytest.mark.parametrize(("reset", "lies"), [(42.0, False), (41.0, False), (0.7, True)])
def test_a_bucket_that_says_it_is_full_again_too_soon_is_no_minutes_bucket(
    reset: float, lies: bool
):
    """900 of 3,000 left takes 42 s to refill at 3,000 a minute: a reset of 0.7 s is a
    second's bucket reported as a minute's, and its counts say nothing of other clients."""
    budget = SharedBudget()
    budget.observe(0.0, 3000, 900, reset)
    assert budget.lies is lies
    assert budget.observe(2.0, 3000, 0, reset) == (1.0 if lies else MIN_SHARE)
