"""Fixtures of the batch-mode tests: a fake Batch API that holds its batches, a batch run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest


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
