"""The limits to follow and the 429s that cut the pace: arithmetic on the times given."""

from __future__ import annotations

from batchbot.pace.headers import RateLimitHeaders
from batchbot.pace.learning import CHANGE_EXPLAINS_S, CUT, REPEATS, Backoff, LimitLearner


def test_a_lower_limit_is_read_at_once_and_explains_429s_for_a_second() -> None:
    """A lower stated limit is adopted from the first answer; 429s just after it are its."""
    learner = LimitLearner(500, 200_000, (), raise_after_s=2.0)
    current: dict[str, float | None] = {"requests": 500, "tokens": 200_000}
    lower = RateLimitHeaders(limit_requests=250, limit_tokens=200_000)
    assert learner.read(10.0, lower, current) == {"requests": 250}
    assert learner.explains(10.0 + CHANGE_EXPLAINS_S / 2)
    assert not learner.explains(10.0 + CHANGE_EXPLAINS_S)


def test_a_higher_limit_is_read_once_it_lasts() -> None:
    """A higher stated limit changes nothing until the server has said it for raise_after_s."""
    learner = LimitLearner(500, None, (), raise_after_s=2.0)
    current: dict[str, float | None] = {"requests": 500, "tokens": None}
    higher = RateLimitHeaders(limit_requests=5000)
    assert learner.read(0.0, higher, current) == {}
    assert not learner.explains(0.5)
    assert learner.read(2.0, higher, current) == {"requests": 5000}


def test_a_users_limit_is_never_read_higher() -> None:
    """The user's own limit caps what the server states; the server's word is still kept."""
    learner = LimitLearner(500, None, ("requests",), raise_after_s=0.0)
    current: dict[str, float | None] = {"requests": 500, "tokens": None}
    assert learner.read(0.0, RateLimitHeaders(limit_requests=5000), current) == {}
    assert learner.stated == {"requests": 5000}
    assert learner.user_bound("requests")  # the server allows more: ours holds it back
    assert learner.read(1.0, RateLimitHeaders(limit_requests=400), current) == {"requests": 400}


def test_only_repeated_429s_cut_the_pace() -> None:
    """Fewer than REPEATS unexplained 429s are accidents of timing; then the pace is cut."""
    backoff = Backoff()
    assert not any(backoff.refused(0.1 * n, 1.0) for n in range(REPEATS - 1))
    assert backoff.refused(0.1 * REPEATS, 1.0)
    assert backoff.pace(0.1 * REPEATS) == CUT


def test_one_429_cuts_while_another_client_spends_the_key() -> None:
    """While another client is known to spend the key, one 429 is enough to cut the pace."""
    backoff = Backoff()
    assert backoff.refused(0.0, 0.5, shared=True)
    assert backoff.pace(0.0) == 0.5 * CUT
