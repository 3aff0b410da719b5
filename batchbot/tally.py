"""What a run did, sync or batch: the counters it keeps, one summary record, one exit code.

While it works a run adds each written result to a `Tally`; when it ends it freezes the tally,
with what it skipped and sent, into a `RunSummary`. That one record is what `run_job` returns,
what the `runs` table stores and what the CLI renders; Batch mode fills its batch fields too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from batchbot.errors import EXIT_OK, EXIT_SOME_FAILED, Interrupted, RunStopped
from batchbot.outcome import FAILED, INVALID, OK, PENDING, REFUSED, TRUNCATED, Outcome


def items(count: int) -> str:
    """`1 item`, `2 items`, `1,000 items`."""
    return f"{count:,} item{'' if count == 1 else 's'}"


# Which Tally counter counts each status.
COUNTED = {
    OK: "ok",
    TRUNCATED: "truncated",
    INVALID: "invalid",
    REFUSED: "refused",
    FAILED: "failed",
    PENDING: "requeued",
}


@dataclass
class Tally:
    """Results written so far (mutable on purpose: a run updates it in place)."""

    ok: int = 0
    truncated: int = 0
    invalid: int = 0
    refused: int = 0
    failed: int = 0
    requeued: int = 0  # written back as pending: the next run sends them again
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    reasks: int = 0  # answers got by asking again (on_invalid, on_length)
    reask_cost_usd: float = 0.0
    cache_hits: int = 0  # answers reused from the response cache: sent for nothing

    def add(self, outcome: Outcome) -> None:
        """Count one written result, its tokens and its cost."""
        self.count(outcome.status)
        self.spend(outcome)

    def count(self, status: str, by: int = 1) -> None:
        """Count an item's status (`by=-1`: one item no longer has it, as it was asked again)."""
        name = COUNTED.get(status)
        if name is not None:
            setattr(self, name, getattr(self, name) + by)

    def spend(self, outcome: Outcome) -> None:
        """Add what one answer cost, re-asks apart too (an answer to come may still count
        the item)."""
        if outcome.usage:
            self.prompt_tokens += outcome.usage.prompt_tokens
            self.completion_tokens += outcome.usage.completion_tokens
        self.cost_usd += outcome.cost_usd or 0.0
        self.cache_hits += outcome.cached_from is not None
        if outcome.reask is not None and outcome.usage is not None:
            self.reasks += 1
            self.reask_cost_usd += outcome.cost_usd or 0.0

    def summary(self, **facts: Any) -> RunSummary:
        """The tally frozen into a summary, with the run's other `facts` (its fields)."""
        counted = {f.name: getattr(self, f.name) for f in fields(Tally)}
        return RunSummary(**counted, **facts)


@dataclass(frozen=True, slots=True)
class RunSummary:
    """What one invocation of `run` did, in either mode."""

    run_id: int
    job: str
    mode: str
    db_path: str
    total: int  # items in the job
    skipped: int  # already answered
    sent: int
    ok: int
    truncated: int
    invalid: int
    refused: int
    failed: int
    requeued: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    reasks: int
    reask_cost_usd: float
    cache_hits: int
    elapsed_s: float
    unpriced_models: tuple[str, ...] = ()
    stopped: RunStopped | None = None  # why it stopped early (errors.py's RunStopped branch)
    # Batch mode only: what this invocation submitted and collected, and what is still open.
    submitted_batches: int = 0
    collected_batches: int = 0
    late: int = 0  # answers for items a sync run had answered meanwhile (first answer kept)
    running: tuple[Mapping[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    # The commonest reasons items failed: (an error message, how many failed like it).
    failures: tuple[tuple[str, int], ...] = ()

    @property
    def answered(self) -> int:
        return self.ok + self.truncated

    @property
    def unusable(self) -> int:
        """Items that ended with no answer to use: failed, invalid or refused."""
        return self.failed + self.invalid + self.refused

    @property
    def unsent(self) -> int:
        """Items neither answered (before or now), nor given up, nor waiting in an open batch."""
        waiting = sum(int(row["requests"] or 0) for row in self.running)
        return self.total - self.skipped - self.answered - self.unusable - waiting

    @property
    def status(self) -> str:
        """The run's status in the `runs` table."""
        if isinstance(self.stopped, Interrupted):
            return "interrupted"
        if self.stopped:
            return "stopped"
        if self.running:
            return "waiting"
        return "failed" if self.unusable else "done"

    @property
    def exit_code(self) -> int:
        """The one rule: a stop says its own code, else 1 if any item failed (or ended invalid
        or refused), else 0."""
        if self.stopped:
            return self.stopped.exit_code
        return EXIT_SOME_FAILED if self.unusable else EXIT_OK

    def totals(self) -> dict[str, object]:
        """The run's counters as `runs` columns."""
        return {
            "items": self.total,
            "skipped": self.skipped,
            "sent": self.sent,
            "ok": self.ok,
            "truncated": self.truncated,
            "invalid": self.invalid,
            "refused": self.refused,
            "failed": self.failed,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": self.cost_usd,
            "reasks": self.reasks,
            "reask_cost_usd": self.reask_cost_usd,
            "cache_hits": self.cache_hits,
            "error": str(self.stopped) if self.stopped else None,
            "exit_code": self.exit_code,
        }
