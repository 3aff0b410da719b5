"""Batch-mode jobs, faults and fixtures shared by the tests of batch mode: `from batched import
FIVE`; the fixtures (`batch_api`, `run_batch`, `quick_fake_batches`) come through conftest.py."""

from __future__ import annotations

import dataclasses
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


@pytest.fixture
def batch_api(fake_api, monkeypatch):
    """The fake API, with batches that stay in progress until the test says finish_now()."""
    monkeypatch.setattr(fake_api.batches, "delay_s", 3600.0)
    return fake_api


@pytest.fixture
def run_batch(invoke, fake_api):
    """`batchbot run JOB --mode batch` against the fake API, plus any extra arguments."""

    def run(job: Path, *args: str):
        return invoke("run", str(job), "--mode", "batch", "--base-url", fake_api.url, *args)

    return run


@pytest.fixture
def quick_fake_batches(monkeypatch):
    """--fake's simulated batches finish at once and are polled at once (not after 2 s)."""
    from batchbot import config as configs

    resolve = configs.resolve_config

    def quick(*args, **kwargs):
        config = resolve(*args, **kwargs)
        return dataclasses.replace(config, fake_batch_delay_s=0.0, poll_s=0.01)

    monkeypatch.setattr(configs, "resolve_config", quick)
