"""What a batch-mode run says when it ends, and the `batchbot batches` table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from batchbot.batch import BatchSummary

COLLECT_HINT = (
    "Run the same command again (by hand or from cron) to collect them, or add --wait; "
    "`batchbot batches` lists them."
)
BATCH_COLUMNS = (
    "job",
    "batch_id",
    "status",
    "requests",
    "completed",
    "failed",
    "created_at",
    "model",
    "cost_usd",
)
HEADER = ("job", "batch", "status", "requests", "done", "failed", "created", "model", "cost")


def batch_summary_lines(summary: BatchSummary) -> list[str]:
    """The closing lines of a batch-mode run: what was collected, submitted and still running."""
    s = summary
    lines: list[str] = []
    if s.submitted_batches:
        lines.append(
            f"{s.job}: submitted {s.submitted_items:,} requests in {s.submitted_batches:,} "
            "batch(es) (Batch API, half price, results within 24 h)"
        )
    if s.collected_batches:
        collected = f"{s.answered:,} answered"
        if s.truncated:
            collected += f" ({s.truncated:,} cut off at max_tokens)"
        collected += f", {s.failed:,} failed"
        if s.requeued:
            collected += f", {s.requeued:,} back to pending (resubmitted by the next run)"
        tokens = s.prompt_tokens + s.completion_tokens
        lines.append(
            f"{s.job}: collected {s.collected_batches:,} batch(es): {collected} · {tokens:,} tokens"
        )
    if s.late:
        lines.append(f"{s.job}: {s.late:,} batch answers for items already answered were not kept")
    if s.running:
        held = sum(int(row["requests"] or 0) for row in s.running)
        lines.append(f"{s.job}: {len(s.running):,} batch(es) with {held:,} requests in progress.")
        lines.append(COLLECT_HINT)
    elif not (s.collected_batches or s.submitted_batches):
        lines.append(f"{s.job}: nothing to send, all {s.skipped:,} items already answered.")
    lines.append(f"(run {s.run_id} in {s.db_path}, {s.elapsed_s:.1f} s)")
    return lines


def batches_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Rows of the `batches` table as aligned text, one line per batch."""
    if not rows:
        return ["No batches yet: `batchbot run JOB --mode batch` submits some."]
    cells = [[_cell(row, column) for column in BATCH_COLUMNS] for row in rows]
    header = list(HEADER)
    widths = [max(len(r[i]) for r in [header, *cells]) for i in range(len(header))]
    return [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *cells]
    ]


def _cell(row: Mapping[str, Any], column: str) -> str:
    value = row.get(column)
    if column == "batch_id" and not value:
        return f"({row.get('input_file_id') or 'not uploaded'})"
    if column == "cost_usd" and value is not None:
        return f"${value:,.4f}"
    if column == "created_at" and value:
        return str(value)[:19].replace("T", " ")
    return "" if value is None else str(value)
