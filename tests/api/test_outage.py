"""Telling a server that is away from a request that failed, and how long to wait for it."""

from __future__ import annotations

from batchbot.api.outage import OutageWatch


def test_outage_watch_counts_streaks_and_backs_off():
    """Three refusals in a row make an outage; the next probe waits half the time waited so far
    (1 to 15 s) within the limit; any answer ends it."""
    watch = OutageWatch(max_wait_s=20)
    watch.failed(now=0)
    watch.failed(now=0.1)
    assert not watch.active
    watch.failed(now=0.2)
    assert watch.active
    delays = []
    for now in (1, 2, 4, 8, 16):
        delays.append(watch.next_probe_in(now))
        watch.failed(now)
    assert delays == [1.0, 1.0, 2.0, 4.0, 4.0]  # the last is cut to the 20 s limit
    assert watch.exceeded(20)
    assert not watch.exceeded(19)
    watch.answered()
    assert not watch.active
    assert watch.waited(30) == 0
