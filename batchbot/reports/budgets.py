"""The budgets a report's jobs ran under, against what they spent: for the HTML page.

A job's budget is the one its latest run had (`--max-cost`, `budget_usd`; and per day,
`--max-cost-per-day`, `budget_usd_per_day`), as the run stored its settings. Against the
budget per run stands what that run spent; against the daily one, the most the job spent on a
day the report covers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["JobBudget", "job_budgets"]

LATEST = """
SELECT job, id, coalesce(cost_usd, 0), json_extract(settings, '$.max_cost_usd'),
       json_extract(settings, '$.max_cost_per_day_usd')
FROM runs
WHERE id IN (SELECT max(id) FROM runs GROUP BY job) AND (:job IS NULL OR job = :job)
ORDER BY job
"""
DEAREST_DAY = """
SELECT day, sum(cost_nanousd) / 1e9 FROM spend
WHERE job = :job AND (:since IS NULL OR day >= :since) AND (:until IS NULL OR day <= :until)
GROUP BY day ORDER BY 2 DESC, day DESC LIMIT 1
"""


class Database(Protocol):
    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...


@dataclass(frozen=True, slots=True)
class JobBudget:
    """One job's budgets and what it spent against them."""

    job: str
    run_id: int  # its latest run
    run_spent: float
    per_run: float | None
    per_day: float | None
    dearest_day: str | None  # the day it spent most on, in the report's days
    day_spent: float


def job_budgets(
    db: Database, *, job: str | None = None, since: str | None = None, until: str | None = None
) -> list[JobBudget]:
    """The jobs in a report whose latest run had a budget, and what they spent against it."""
    found = []
    for name, run_id, spent, per_run, per_day in db.execute(LATEST, {"job": job}).fetchall():
        if per_run is None and per_day is None:
            continue
        window = {"job": name, "since": since, "until": until}
        dearest = db.execute(DEAREST_DAY, window).fetchone()
        day, day_spent = dearest if dearest else (None, 0.0)
        found.append(
            JobBudget(name, run_id, float(spent), per_run, per_day, day, float(day_spent or 0))
        )
    return found
