"""The closing lines of a run, sync or batch, and the line saying why it stopped."""

from __future__ import annotations

from batchbot.batch.messages import batch_summary_lines
from batchbot.config import DEFAULT_DB
from batchbot.errors import EXIT_STOPPED, BudgetExhausted
from batchbot.modes import BATCH
from batchbot.money import budget
from batchbot.money.pricing import cost_text
from batchbot.money.usd import usd
from batchbot.store.failures import reasons_text
from batchbot.tally import RunSummary, items


def summary_lines(summary: RunSummary) -> list[str]:
    """What a run prints when it ends: one line in sync mode, a few in Batch mode."""
    lines = batch_summary_lines(summary) if summary.mode == BATCH else [summary_line(summary)]
    return lines + failure_lines(summary)


def failure_lines(summary: RunSummary) -> list[str]:
    """Why items failed, commonest first: `  failed: 2 × 400: Invalid 'temperature' …`."""
    return [f"  failed: {line}" for line in reasons_text(list(summary.failures))]


def summary_line(summary: RunSummary) -> str:
    s = summary
    # The default database goes unnamed, so the line fits 80 columns (a cron mail, a terminal).
    where = f"run {s.run_id}" if s.db_path == DEFAULT_DB else f"run {s.run_id} in {s.db_path}"
    if s.total == s.skipped:
        return f"{s.job}: nothing to send, all {items(s.total)} already answered ({where})."
    parts = [*answer_parts(s), f"{s.failed:,} failed"]
    if s.skipped:
        parts.append(f"{s.skipped:,} already answered")
    if s.unsent:
        resumes = s.stopped is None or s.exit_code == EXIT_STOPPED
        parts.append(f"{s.unsent:,} not sent yet" + (" (rerun to resume)" if resumes else ""))
    tokens = s.prompt_tokens + s.completion_tokens
    cost = cost_text(s.cost_usd, s.unpriced_models)
    figures = f"{tokens:,} tokens · {cost} · {s.elapsed_s:.1f} s"
    if s.reasks:
        figures = f"{s.reasks:,} re-asks ({usd(s.reask_cost_usd)}) · {figures}"
    return f"{s.job}: {', '.join(parts)} · {figures} · {where}"


def answer_parts(s: RunSummary) -> list[str]:
    """`950 answered (3 cut off at max_tokens)`, `5 invalid`, `2 refused`: what came back."""
    parts = [f"{s.answered:,} answered"]
    notes = [f"{s.cache_hits:,} from the cache"] if s.cache_hits else []
    notes += [f"{s.truncated:,} cut off at max_tokens"] if s.truncated else []
    if notes:
        parts[0] += f" ({', '.join(notes)})"
    parts += [f"{s.invalid:,} invalid"] if s.invalid else []
    parts += [f"{s.refused:,} refused"] if s.refused else []
    return parts


def stop_line(summary: RunSummary) -> str:
    """Why the run stopped; a budget stop also says what was spent and what is left."""
    if isinstance(summary.stopped, BudgetExhausted):
        return budget.stop_line(
            summary.stopped, spent_usd=summary.cost_usd, remaining=summary.unsent
        )
    return str(summary.stopped)
