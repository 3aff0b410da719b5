"""Batch-mode jobs and faults shared by the tests of batch mode: `from batched import FIVE`."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from batchbot.batch.run import BatchRun
from batchbot.errors import Interrupted


def job_text(*prompts: str, name: str = "nightly") -> str:
    """A YAML job asking each prompt in turn, ids q0, q1, ..., answers capped at 200 tokens."""
    lines = [f"name: {name}", "model: gpt-4o-mini", "params: {max_tokens: 200}", "prompts:"]
    lines += [f"  - {{id: q{i}, user: {json.dumps(p)}}}" for i, p in enumerate(prompts)]
    return "\n".join(lines) + "\n"


FIVE = job_text(*(f"Question number {i}?" for i in range(5)))


def interrupt_while_waiting(monkeypatch) -> None:
    """The first pause of --wait is cut short as Ctrl-C would: the run stops, batches open."""

    async def ctrl_c(self, seconds):
        self.stop(Interrupted("Interrupted"))

    monkeypatch.setattr(BatchRun, "_pause", ctrl_c)


class Crash(Exception):
    """Stands for the process dying at that point (kill -9, a power cut)."""


def crash_before_create(run_batch, job: Path, monkeypatch) -> None:
    """Run `job` in batch mode, dying between the upload of its file and the batch's create."""

    async def crash(self, **kwargs):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(openai.resources.batches.AsyncBatches, "create", crash)
        with pytest.raises(Crash):
            run_batch(job)
