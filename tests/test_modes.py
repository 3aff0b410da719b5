"""Choosing the engine: --mode auto weighs sync, Flex and Batch."""

from __future__ import annotations

import pytest

from batchbot import modes


@pytest.mark.parametrize(
    ("to_send", "minutes", "open_batches", "deadline", "mode"),
    [
        (5, 0.1, 0, None, "sync"),
        (100_000, 400.0, 0, None, "batch"),
        (100_000, 400.0, 0, 60.0, "sync"),
        (100_000, 20.0, 0, None, "sync"),
        (5, 0.1, 2, None, "batch"),
    ],
)
def test_auto_mode_rule(to_send, minutes, open_batches, deadline, mode):
    """auto: batch when there is something to collect, or for big slow jobs without a deadline."""
    choice = modes.choose_mode(
        "auto",
        to_send=to_send,
        sync_minutes=minutes,
        open_batches=open_batches,
        deadline_minutes=deadline,
    )
    assert choice.mode == mode
    assert choice.reason.startswith("auto:")
