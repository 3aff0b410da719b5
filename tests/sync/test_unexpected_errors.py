"""A run ended by an error of batchbot's own ends its row too: never "running" for ever."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from batchbot.batch.run import BatchRun
from batchbot.sync.writer import ResultWriter

MODEL = "gpt-4o-mini"
REQUESTS = "".join(
    json.dumps({"id": f"q{i}", "model": MODEL, "messages": [{"role": "user", "content": f"q {i}"}]})
    + "\n"
    for i in range(4)
)


class Bug(Exception):
    """Stands for a bug in batchbot's own code."""


def run_rows(db: Path) -> list[tuple[str, int, str, str | None]]:
    with sqlite3.connect(db) as conn:
        query = "select status, exit_code, error, finished_at from runs order by id"
        return conn.execute(query).fetchall()


def broken(*_args: object, **_kwargs: object) -> None:
    raise Bug("closing went wrong for sk-abcdefghijklmnopqrstuvwxyz123456")


@pytest.mark.parametrize(
    ("mode", "owner", "method", "rerun"),
    [("sync", ResultWriter, "close", "done"), ("batch", BatchRun, "poll", "waiting")],
)
def test_a_bug_mid_run_ends_the_run_row_with_the_error(
    tmp_path, invoke, fake_api, monkeypatch, mode, owner, method, rerun
):
    """The command fails with one line and exit 1; the row says stopped, exit 1 and the error,
    a key-shaped string in it redacted; the next run starts as usual."""
    monkeypatch.delenv("BATCHBOT_RAISE_ERRORS")
    job = tmp_path / "job.jsonl"
    job.write_text(REQUESTS, encoding="utf-8")
    args = ["run", str(job), "--base-url", fake_api.url, "--mode", mode]
    with monkeypatch.context() as patched:
        patched.setattr(owner, method, broken)
        result = invoke(*args)
    assert result.exit_code == 1, result.output
    assert "unexpected error: Bug: closing went wrong" in result.stderr
    ((status, exit_code, error, finished_at),) = run_rows(tmp_path / "batchbot.db")
    assert (status, exit_code) == ("stopped", 1)
    assert error == "Bug: closing went wrong for sk-***"
    assert finished_at is not None

    again = invoke(*args)
    assert again.exit_code == 0, again.output
    rows = [row[:2] for row in run_rows(tmp_path / "batchbot.db")]
    assert rows == [("stopped", 1), (rerun, 0)]
