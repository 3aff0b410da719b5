"""batchbot: run many prompts through the OpenAI API (chat, Responses, embeddings; Azure or
any compatible server), at the rate limit, within budget, resumable, with every answer, vector
and token count in SQLite.

From Python (docs/library.md):

    from batchbot import load_job, run_job
    summary = run_job(load_job("jobs/faq.yaml"), fake=True)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from batchbot.version import __version__

if TYPE_CHECKING:
    from batchbot.config import Config
    from batchbot.errors import BatchbotError
    from batchbot.jobs.job import Job, load_job
    from batchbot.library import (
        Answer,
        DryRun,
        cancel_batches,
        dry_run,
        open_store,
        read_answers,
        run_job,
        run_job_async,
    )
    from batchbot.limits.limits import RateLimits
    from batchbot.reports.report import ReportQuery, spend_report
    from batchbot.tally import RunSummary

__all__ = [
    "Answer",
    "BatchbotError",
    "Config",
    "DryRun",
    "Job",
    "RateLimits",
    "ReportQuery",
    "RunSummary",
    "__version__",
    "cancel_batches",
    "dry_run",
    "load_job",
    "open_store",
    "read_answers",
    "run_job",
    "run_job_async",
    "spend_report",
]

# Where each name lives. They are imported on first use, so that `import batchbot` (and so
# `batchbot --help`, which imports it) loads none of the machinery.
_HOMES = {
    "Answer": "batchbot.library",
    "BatchbotError": "batchbot.errors",
    "Config": "batchbot.config",
    "DryRun": "batchbot.library",
    "Job": "batchbot.jobs.job",
    "RateLimits": "batchbot.limits.limits",
    "ReportQuery": "batchbot.reports.report",
    "RunSummary": "batchbot.tally",
    "cancel_batches": "batchbot.library",
    "dry_run": "batchbot.library",
    "load_job": "batchbot.jobs.job",
    "open_store": "batchbot.library",
    "read_answers": "batchbot.library",
    "run_job": "batchbot.library",
    "run_job_async": "batchbot.library",
    "spend_report": "batchbot.reports.report",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module 'batchbot' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
