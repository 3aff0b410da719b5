"""sync, Flex or batch: which engine a run uses, and what each costs relative to the others.

    sync    now, at the rate limits, at the standard price
    flex    now, synchronously on OpenAI's Flex tier: half the price, slower answers, and now
            and then a 429 "resource unavailable" when Flex has no capacity (retried)
    batch   the Batch API: half the price, answers within 24 hours, its own queue limits

`--mode auto` (the rule, also shown by `--dry-run`) takes the cheapest that fits: the Batch API
when the job already has batches waiting to be collected, or when it has at least
AUTO_BATCH_MIN_ITEMS items to send and a synchronous run at its rate limits would take longer
than AUTO_BATCH_MIN_MINUTES; else Flex when the model is offered on it (at OpenAI itself); else
sync. `--deadline` (minutes) keeps it off the Batch API whenever its 24 hours would be too
late, and off Flex when a Flex run, FLEX_SLOWDOWN times slower, would miss it too.
"""

from __future__ import annotations

from dataclasses import dataclass

SYNC = "sync"
BATCH = "batch"
FLEX = "flex"
AUTO = "auto"
MODES = (SYNC, BATCH, FLEX, AUTO)

AUTO_BATCH_MIN_ITEMS = 1_000
AUTO_BATCH_MIN_MINUTES = 30.0
BATCH_WINDOW_MINUTES = 24 * 60
# Flex shares the rate limits, but its answers come slower and some are refused for capacity
# and asked again: a Flex run is planned to take this much longer than a synchronous one.
FLEX_SLOWDOWN = 2.0


def service_tier(mode: str) -> str | None:
    """The service_tier every request of a run in `mode` asks for (None: each its own)."""
    return FLEX if mode == FLEX else None


@dataclass(frozen=True, slots=True)
class ModeChoice:
    """The engine a run uses and, for --mode auto, why."""

    mode: str
    reason: str


def choose_mode(
    requested: str,
    *,
    to_send: int,
    sync_minutes: float,
    open_batches: int = 0,
    deadline_minutes: float | None = None,
    chosen_by: str | None = None,
    flex: bool = False,
) -> ModeChoice:
    """Resolve `auto` by the rule in the module docstring; the others stay as they are.

    `chosen_by` says where a sync, Flex or batch request came from (`--mode batch`, the job
    file); `flex` whether the job's model is offered on Flex where it is sent.
    """
    if requested != AUTO:
        return ModeChoice(requested, chosen_by or f"--mode {requested}")
    if open_batches:
        return ModeChoice(BATCH, f"auto: {open_batches} batch(es) of this job to collect first")
    size = f"{to_send:,} items to send, ~{sync_minutes:,.0f} min at the sync limits"
    late = deadline_minutes is not None and deadline_minutes < BATCH_WINDOW_MINUTES
    big = to_send >= AUTO_BATCH_MIN_ITEMS and sync_minutes > AUTO_BATCH_MIN_MINUTES
    if big and not late:
        rule = f"batch from {AUTO_BATCH_MIN_ITEMS:,} items and {AUTO_BATCH_MIN_MINUTES:g} min"
        return ModeChoice(BATCH, f"auto: {size}; {rule}")
    in_time = deadline_minutes is None or sync_minutes * FLEX_SLOWDOWN <= deadline_minutes
    if flex and in_time:
        return ModeChoice(FLEX, f"auto: {size}; Flex, half price, fits{_by(deadline_minutes)}")
    if late and deadline_minutes is not None:
        why = "Flex would miss it" if flex else "within 24 h"
        return ModeChoice(SYNC, f"auto: {size}; the deadline, {deadline_minutes:g} min, {why}")
    offered = "" if flex else "; the model is not offered on Flex here"
    return ModeChoice(
        SYNC,
        f"auto: {size}; batch from {AUTO_BATCH_MIN_ITEMS:,} items and "
        f"{AUTO_BATCH_MIN_MINUTES:g} min{offered}",
    )


def _by(deadline_minutes: float | None) -> str:
    return "" if deadline_minutes is None else f" the deadline, {deadline_minutes:g} min"
