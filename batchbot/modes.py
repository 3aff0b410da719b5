"""sync or batch: which engine a run uses, and what each costs relative to the other.

`--mode auto` (the rule, also shown by `--dry-run`): a job goes through the Batch API when it
already has batches waiting to be collected, or when it has at least AUTO_BATCH_MIN_ITEMS items
to send and a synchronous run at its rate limits would take longer than AUTO_BATCH_MIN_MINUTES;
`--deadline` (minutes) keeps it synchronous whenever the Batch API's 24 hours would be too late.
Everything else runs synchronously: small jobs are done sooner than a batch is even validated.
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
) -> ModeChoice:
    """Resolve `auto` by the rule in the module docstring; `sync` and `batch` stay as they are.

    `chosen_by` says where a sync or batch request came from (`--mode batch`, the job file).
    """
    if requested != AUTO:
        return ModeChoice(requested, chosen_by or f"--mode {requested}")
    if open_batches:
        return ModeChoice(BATCH, f"auto: {open_batches} batch(es) of this job to collect first")
    if deadline_minutes is not None and deadline_minutes < BATCH_WINDOW_MINUTES:
        return ModeChoice(SYNC, f"auto: the deadline, {deadline_minutes:g} min, is within 24 h")
    if to_send >= AUTO_BATCH_MIN_ITEMS and sync_minutes > AUTO_BATCH_MIN_MINUTES:
        return ModeChoice(
            BATCH,
            f"auto: {to_send:,} items to send, ~{sync_minutes:,.0f} min at the sync limits; "
            f"batch from {AUTO_BATCH_MIN_ITEMS:,} items and {AUTO_BATCH_MIN_MINUTES:g} min",
        )
    return ModeChoice(
        SYNC,
        f"auto: {to_send:,} items to send, ~{sync_minutes:,.0f} min at the sync limits; "
        f"batch from {AUTO_BATCH_MIN_ITEMS:,} items and {AUTO_BATCH_MIN_MINUTES:g} min",
    )
