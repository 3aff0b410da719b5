"""Why items failed (or why their answers were invalid): a run's (or a job's) error messages,
alike ones counted together.

Messages that differ only in their numbers ("your messages resulted in 140234 tokens") are one
reason; the first of them stands for the rest. Reading stops after READ_AT_MOST failed rows, so
a run where a million items failed still answers at once.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any, Protocol

__all__ = ["Reason", "failure_reasons", "reasons_text"]

READ_AT_MOST = 100_000
SHOWN = 3
FAILED_ERRORS = """
SELECT coalesce({column}, 'no error message') FROM requests
WHERE status = '{status}' AND (:run IS NULL OR run_id = :run) AND (:job IS NULL OR job = :job)
  AND (:since IS NULL OR substr(coalesce(finished_at, created_at), 1, 10) >= :since)
  AND (:until IS NULL OR substr(coalesce(finished_at, created_at), 1, 10) <= :until)
LIMIT :most
"""
# Why items failed: their errors; why answers were invalid: their validation errors.
WHY = {
    "failed": FAILED_ERRORS.format(column="error", status="failed"),
    "invalid": FAILED_ERRORS.format(column="validation_error", status="invalid"),
}
NUMBER = re.compile(r"\d+(\.\d+)?")

Reason = tuple[str, int]  # an error message, and how many failed items had one like it


class Readable(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


def failure_reasons(
    db: Readable,
    *,
    run_id: int | None = None,
    job: str | None = None,
    since: str | None = None,
    until: str | None = None,
    most: int = SHOWN,
    status: str = "failed",
) -> list[Reason]:
    """The `most` commonest reasons items failed (`status="invalid"`: their answers were
    invalid), commonest first: in one run, or in a job (or all jobs) between two UTC days
    (`YYYY-MM-DD`, inclusive)."""
    counts: Counter[str] = Counter()
    first: dict[str, str] = {}
    params = {"run": run_id, "job": job, "since": since, "until": until, "most": READ_AT_MOST}
    for (error,) in db.execute(WHY[status], params):
        key = NUMBER.sub("#", error)
        counts[key] += 1
        first.setdefault(key, error)
    return [(first[key], count) for key, count in counts.most_common(most)]


def reasons_text(reasons: list[Reason], *, width: int = 160) -> list[str]:
    """One line per reason: `2 × 400: Invalid 'temperature' …`, cut to `width` characters."""
    lines = []
    for message, count in reasons:
        line = f"{count:,} × {' '.join(message.split())}"
        lines.append(line if len(line) <= width else line[: width - 1] + "…")
    return lines
