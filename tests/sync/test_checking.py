"""A large job is checked while its first items are sent: never an item the check has not
passed, and a broken line further on stops the run before its own item is sent."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from batchbot.errors import EXIT_BAD_INPUT
from batchbot.fake.server import FakeServer
from batchbot.sync import checking

MODEL = "gpt-4o-mini"
LINES = 3000


def write_big_job(path: Path, *, broken: int | None = None) -> Path:
    """LINES requests; line `broken` repeats line 5's id."""
    lines = []
    for line in range(1, LINES + 1):
        item = line if line != broken else 5
        messages = [{"role": "user", "content": f"question {line}"}]
        body = {"id": f"q{item}", "model": MODEL, "messages": messages}
        lines.append(json.dumps({**body, "max_tokens": 5}))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any job over 10 KB counts as large here (for real: over 8 MB, 80,000 lines or so)."""
    monkeypatch.setattr(checking, "LARGE_BYTES", 10_000)


def test_a_large_job_is_sent_whole_and_counted_once_checked(
    large, tmp_path: Path, invoke, fake_api: FakeServer
) -> None:
    """Checked as it is sent, a sound job is answered whole; the summary counts every item."""
    job = write_big_job(tmp_path / "big.jsonl")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--concurrency", "50")
    assert result.exit_code == 0, result.output
    assert f"big: {LINES:,} answered" in result.output
    assert fake_api.stats.requests == LINES


def test_a_broken_line_further_on_stops_the_run_before_its_own_item(
    large, tmp_path: Path, invoke, fake_api: FakeServer
) -> None:
    """A duplicate id at line 2,900: items before it may have been sent and are saved; it and
    the rest are not sent; the line says where (exit 2: the job must change)."""
    job = write_big_job(tmp_path / "big.jsonl", broken=2900)
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == EXIT_BAD_INPUT, result.output
    assert "big.jsonl:2900" in result.output
    assert "duplicate id 'q5': line 5 has it too" in result.output
    assert "checked while its first items are sent" in result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        sent = {row[0] for row in conn.execute("select request from requests")}
    assert not any("question 2900" in request for request in sent)
    assert fake_api.stats.requests < 2900


def test_a_small_job_is_checked_whole_before_anything_is_sent(
    tmp_path: Path, invoke, fake_api: FakeServer
) -> None:
    """Under the size, the old guarantee: a broken last line, and nothing is sent (exit 2)."""
    job = write_big_job(tmp_path / "big.jsonl", broken=LINES)
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 2, result.output
    assert fake_api.stats.requests == 0
