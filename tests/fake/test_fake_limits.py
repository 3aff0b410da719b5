"""The fake's sliding window alone, on a clock the test sets, against the definition it enforces."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_fake_server import Clock

from batchbot.fake.limits import SlidingWindow

LENGTH_S = 1.0
CAPACITY = 10.0

# (seconds since the previous one, amount), as admitted one after another
admissions = st.lists(
    st.tuples(
        st.sampled_from([0.0, 0.001, 0.1, 0.25, 1 / 3, 0.5, 1.0]),
        st.sampled_from([1.0, 2.0, 3.5, CAPACITY, 25.0]),
    ),
    max_size=40,
)


def fits(log: list[tuple[float, float]], at: float, amount: float) -> bool:
    """The definition: what was admitted in the `LENGTH_S` up to `at`, plus `amount`, fits."""
    held = sum(spent for when, spent in log if when > at - LENGTH_S + 1e-9)
    if amount > CAPACITY:
        return held == 0
    return held + amount <= CAPACITY + 1e-9


@given(admissions, st.sampled_from([1.0, 4.0, CAPACITY, 25.0]))
def test_the_wait_is_the_first_moment_the_window_has_room(
    admitted: list[tuple[float, float]], amount: float
) -> None:
    """After any admissions, the wait it says is exactly when the amount first fits, no sooner."""
    clock = Clock()
    window = SlidingWindow(CAPACITY, LENGTH_S, clock)
    log: list[tuple[float, float]] = []
    for step, spent in admitted:
        clock.now += step
        window.take(spent)
        log.append((clock.now, spent))
    wait = window.wait_for(amount)
    assert fits(log, clock.now + wait, amount)
    if wait > 0:
        assert not fits(log, clock.now + wait - 0.001, amount)
    held = sum(spent for when, spent in log if when > clock.now - LENGTH_S + 1e-9)
    assert abs(window.used - held) < 1e-9


def test_a_window_full_to_the_share_refuses_until_its_oldest_leaves():
    """Ten units in two admissions fill the window; one more waits for the first to leave."""
    clock = Clock()
    window = SlidingWindow(CAPACITY, LENGTH_S, clock)
    window.take(4)
    clock.now += 0.4
    window.take(6)
    assert window.wait_for(1) == pytest.approx(0.6)  # until the 4 taken first leaves
    clock.now += 0.6
    assert window.wait_for(1) == 0.0
    assert window.wait_for(5) == pytest.approx(0.4)  # the 6 at 0.4 leaves room for 4 only
    assert window.used == 6


def test_a_rescaled_window_keeps_its_log_under_the_new_capacity():
    """A limit lowered mid-run still counts what the window holds against the new share."""
    clock = Clock()
    window = SlidingWindow(CAPACITY, LENGTH_S, clock)
    for _ in range(6):
        window.take(1)
    lower = window.rescaled(5.0)
    assert lower.used == 6
    assert lower.wait_for(1) == LENGTH_S
    clock.now += LENGTH_S
    assert lower.wait_for(1) == 0.0
