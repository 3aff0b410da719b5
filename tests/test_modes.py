"""Choosing the engine: --mode auto weighs sync, Flex and Batch by size, time and deadline."""

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


@pytest.mark.parametrize(
    ("to_send", "minutes", "deadline", "flex", "mode"),
    [
        (30, 0.1, None, True, "flex"),
        (30, 0.1, None, False, "sync"),
        (100_000, 400.0, None, True, "batch"),
        (100_000, 400.0, 900.0, True, "flex"),
        (100_000, 400.0, 700.0, False, "sync"),
        (100_000, 400.0, 60.0, True, "sync"),  # Flex, twice as slow, would miss it too
        (100_000, 20.0, None, False, "sync"),
    ],
)
def test_auto_weighs_sync_flex_and_batch(to_send, minutes, deadline, flex, mode):
    """auto: Batch for big slow jobs with time to spare, else Flex where the model has it and
    the deadline allows, else sync."""
    choice = modes.choose_mode(
        "auto", to_send=to_send, sync_minutes=minutes, deadline_minutes=deadline, flex=flex
    )
    assert choice.mode == mode
    assert choice.reason.startswith("auto:")
