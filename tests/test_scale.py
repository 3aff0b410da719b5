"""Scale: bodies encoded fast (and right), results committed in batches, items streamed."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from batchbot.store import Store


def batch_lines(count: int, **extra: object) -> str:
    lines = []
    for i in range(count):
        body = {"model": "gpt-4o-mini", "max_tokens": 200, **extra,
                "messages": [{"role": "user", "content": f"Question {i}?"}]}  # fmt: skip
        line = {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions"}
        lines.append(json.dumps({**line, "body": body}))
    return "\n".join(lines) + "\n"


def test_integer_beyond_64_bits_is_sent_and_stored(tmp_path, write_job, invoke, fake_api):
    """orjson refuses such integers; the body still goes out and is stored digit for digit."""
    huge = 123456789012345678901234567890
    job = write_job("big.jsonl", batch_lines(2, seed=huge))
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        stored = [json.loads(text) for (text,) in conn.execute("select request from requests")]
    assert [body["seed"] for body in stored] == [huge, huge]
    assert fake_api.stats.answered == 2


def test_results_are_committed_in_batches(
    tmp_path: Path, write_job, invoke, fake_api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers arriving together share a transaction; every one of them is stored."""
    commits: list[int] = []
    record = Store.record_results

    def counting(self: Store, run_id: int, job: str, mode: str, outcomes: list) -> None:  # type: ignore[type-arg]
        commits.append(len(outcomes))
        record(self, run_id, job, mode, outcomes)

    monkeypatch.setattr(Store, "record_results", counting)
    job = write_job("many.jsonl", batch_lines(300))
    result = invoke("run", str(job), "--base-url", fake_api.url, "--concurrency", "100")
    assert result.exit_code == 0, result.output
    assert sum(commits) == 300
    assert len(commits) < 100, commits
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        ok = "select count(*) from requests where status = 'ok'"
        assert conn.execute(ok).fetchone() == (300,)
        assert conn.execute("select count(*) from attempts").fetchone() == (300,)
