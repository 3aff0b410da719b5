"""What a batch-mode run says when it ends, what --dry-run plans, what `cancel` did."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from batchbot.batch.files import MAX_REQUESTS
from batchbot.config import Config
from batchbot.limits import tiers
from batchbot.money.pricing import cost_text
from batchbot.money.usd import usd
from batchbot.tally import RunSummary, items

COLLECT_HINT = (
    "Run the same command again (by hand or from cron) to collect them, or add --wait; "
    "`batchbot batches` lists them."
)


@dataclass
class Notes:
    """What a batch-mode run has to say: progress lines go to `report` only; notes (an orphan
    file, a failed batch) also end up in its summary, each said once if asked."""

    report: Callable[[str], None] = lambda line: None
    lines: list[str] = field(default_factory=list)

    def add(self, note: str, *, once: bool = False) -> None:
        if once and note in self.lines:
            return
        self.lines.append(note)
        self.report(note)


def batch_summary_lines(summary: RunSummary) -> list[str]:
    """The closing lines of a batch-mode run: what was collected, submitted and still running."""
    s = summary
    lines: list[str] = []
    if s.submitted_batches:
        lines.append(
            f"{s.job}: submitted {s.sent:,} requests in {s.submitted_batches:,} "
            "batch(es) (Batch API, half price, results within 24 h)"
        )
    if s.collected_batches:
        collected = f"{s.answered:,} answered"
        if s.truncated:
            collected += f" ({s.truncated:,} cut off at max_tokens)"
        collected += f", {s.invalid:,} invalid" if s.invalid else ""
        collected += f", {s.refused:,} refused" if s.refused else ""
        collected += f", {s.failed:,} failed"
        if s.requeued:
            collected += f", {s.requeued:,} back to pending (resubmitted by the next run)"
        tokens = s.prompt_tokens + s.completion_tokens
        if s.reasks:
            collected += f" · {s.reasks:,} re-asks ({usd(s.reask_cost_usd)})"
        lines.append(
            f"{s.job}: collected {s.collected_batches:,} batch(es): {collected} · {tokens:,} tokens"
            f" · {cost_text(s.cost_usd, s.unpriced_models)}"
        )
    if s.late:
        lines.append(f"{s.job}: {s.late:,} batch answers for items already answered were not kept")
    if s.running:
        count, requests = len(s.running), held(s.running)
        lines.append(f"{s.job}: {count:,} batch(es) with {requests:,} requests in progress:")
        lines.extend(f"  {running_line(row)}" for row in s.running)
        lines.append(COLLECT_HINT)
    elif not (s.collected_batches or s.submitted_batches):
        lines.append(f"{s.job}: nothing to send, all {items(s.skipped)} already answered.")
    lines.append(f"(run {s.run_id} in {s.db_path}, {s.elapsed_s:.1f} s)")
    return lines


def batch_plan_line(to_send: int, prompt_tokens: int, config: Config) -> str:
    """What --dry-run says a batch-mode run would submit, against the model's queue limit."""
    queue_tokens = config.batch_queue_tokens
    if queue_tokens is None:
        queue_tokens = tiers.limits_for(config.tier, config.model or "").batch_queue_tokens
    files = -(-to_send // MAX_REQUESTS)
    plan = f"batch: {to_send:,} requests in at least {files:,} input file(s)"
    if queue_tokens is None:
        return plan + f", {prompt_tokens:,} prompt tokens enqueued (no queue limit known)"
    if prompt_tokens <= queue_tokens:
        return plan + f", {prompt_tokens:,} of {queue_tokens:,} queue tokens"
    return plan + (
        f"; {prompt_tokens:,} prompt tokens exceed the {queue_tokens:,}-token queue, "
        "so later runs submit the rest as batches finish"
    )


def running_line(row: Mapping[str, Any]) -> str:
    """One open batch: id, status and request counts as of the last poll."""
    name = _name(row)
    done = f"{row['completed'] or 0:,}/{row['requests'] or 0:,} done"
    failed = f", {row['failed']:,} failed" if row["failed"] else ""
    return f"{name}: {row['status']}, {done}{failed}"


def _name(row: Mapping[str, Any]) -> str:
    return str(row["batch_id"] or f"{row['input_file_id'] or row['filename']} (no batch yet)")


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What `batchbot cancel` did with a job's open batches (rows as they stand afterwards)."""

    fake: bool  # --fake: the simulated API's batches, not a real API's
    asked: tuple[Mapping[str, Any], ...] = ()  # the API was asked to cancel them
    ended: tuple[Mapping[str, Any], ...] = ()  # --fake runs' batches, closed here
    left: tuple[Mapping[str, Any], ...] = ()  # the other kind, left alone (see `fake`)


def cancel_lines(job: str, done: Cancelled) -> list[str]:
    """What `batchbot cancel` says: each batch and what became of it, then what comes next."""
    lines = [f"{row['batch_id']}: {row['status']}" for row in done.asked]
    lines += [
        f"{_name(row)}: {row['status']}; it ran on the simulated API of --fake run "
        f"{row['run_id']}, which ended with that run"
        for row in done.ended
    ]
    if done.fake:
        lines += [
            f"{row['batch_id']}: {row['status']}, left alone: it went to a real API, not to "
            "--fake's; `batchbot cancel` without --fake cancels it"
            for row in done.left
        ]
    else:
        lines += [
            f"{row['batch_id']}: left alone: it ran on the simulated API of --fake run "
            f"{row['run_id']}, which ended with that run; `batchbot cancel --fake` closes it"
            for row in done.left
        ]
    if done.asked:
        cancelled = f"{job}: {len(done.asked)} batch(es) cancelled"
        lines.append(f"{cancelled}; rerun the job to collect them.")
    if done.ended:
        lines.append(ended_line(job, done.ended, sender="the next run"))
    if not (done.asked or done.ended or done.left):
        lines.append(f"{job}: no batch in progress to cancel.")
    return lines


def ended_line(job: str, ended: Sequence[Mapping[str, Any]], *, sender: str) -> str:
    """The batches of --fake runs just closed, and that `sender` sends their items again."""
    return (
        f"{job}: {len(ended)} batch(es) of --fake runs marked cancelled here (the simulated "
        f"API's batches end with its run); their {held(ended):,} request(s) are pending again, and "
        f"{sender} sends them."
    )


def held(rows: Sequence[Mapping[str, Any]]) -> int:
    """How many requests these batches hold."""
    return sum(int(row["requests"] or 0) for row in rows)
