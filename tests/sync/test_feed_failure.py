"""Reading the items failing mid-run stops the run like any stop: one line, the run row ended.

Every line is checked before the first request, so this takes a file that changes or becomes
unreadable after it was checked (checking a big one takes seconds), or a bug.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from pathlib import Path

import pytest
from conftest import after_checking

from batchbot.jobs import job as jobs
from batchbot.jobs import text as jobfile_text

MODEL = "gpt-4o-mini"
QUESTIONS = [{"id": f"q{i}", "term": f"term {i}"} for i in range(6)]
REQUESTS = "".join(
    json.dumps(
        {"id": q["id"], "model": MODEL, "messages": [{"role": "user", "content": q["term"]}]}
    )
    + "\n"
    for q in QUESTIONS
)
TEMPLATE_JOB = f"name: terms\nmodel: {MODEL}\ntemplate: 'Explain {{term}}.'\ninputs: terms.jsonl\n"
ROWS = "".join(json.dumps(q) + "\n" for q in QUESTIONS)


class Bug(Exception):
    """Stands for a bug in batchbot's own code."""


class FailingDisk:
    """A job file whose reads fail from line `bad` on, as on a network share that went away."""

    def __init__(self, path: Path, bad: int) -> None:
        self.file = path.open("rb")
        self.bad, self.lines = bad, 0

    def readline(self, size: int = -1) -> bytes:
        self.lines += 1
        if self.lines >= self.bad:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return self.file.readline(size)

    def __enter__(self) -> FailingDisk:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def line_four(text: str, line: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:3], line + "\n", *lines[4:]])


def run_row(db: Path) -> tuple[str, int, str]:
    with sqlite3.connect(db) as conn:
        (row,) = conn.execute("select status, exit_code, error from runs").fetchall()
    return row


def statuses(db: Path) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("select item_id, status from requests"))


def broken_json(tmp_path, monkeypatch):
    """Line 4 of the JSONL job is cut short while the run goes."""
    job = tmp_path / "job.jsonl"
    job.write_text(REQUESTS, encoding="utf-8")
    after_checking(
        monkeypatch, lambda: job.write_text(line_four(REQUESTS, '{"id": "q3", "model": }'))
    )
    return job, "job.jsonl:4:23: invalid JSON: Expecting value"


def missing_value(tmp_path, monkeypatch):
    """Row 4 of a template's inputs loses the value its template fills in."""
    job = tmp_path / "terms.yaml"
    job.write_text(TEMPLATE_JOB, encoding="utf-8")
    inputs = tmp_path / "terms.jsonl"
    inputs.write_text(ROWS, encoding="utf-8")
    after_checking(monkeypatch, lambda: inputs.write_text(line_four(ROWS, '{"id": "q3"}')))
    return job, "terms.jsonl:4: term: this row has no 'term' for the template's {term}"


def unreadable(tmp_path, monkeypatch):
    """The JSONL job cannot be read from line 4 on (an I/O error)."""
    job = tmp_path / "job.jsonl"
    job.write_text(REQUESTS, encoding="utf-8")
    failing = lambda: monkeypatch.setattr(jobfile_text, "open_binary", lambda p: FailingDisk(p, 4))  # noqa: E731
    after_checking(monkeypatch, failing)
    return job, "job.jsonl:4: cannot be read: Input/output error"


@pytest.mark.parametrize("breaks", [broken_json, missing_value, unreadable])
def test_a_file_that_breaks_during_the_run_stops_it_and_ends_its_row(
    tmp_path, invoke, fake_api, monkeypatch, breaks
):
    """Exit 2 (the file must be fixed) and one line naming the file, the line and the problem;
    the run row is stopped with its exit code and error; what was answered is kept and a run
    after the fix sends only the rest."""
    with monkeypatch.context() as patched:
        job, where = breaks(tmp_path, patched)
        original = {path: path.read_bytes() for path in tmp_path.iterdir()}
        args = ["run", str(job), "--base-url", fake_api.url, "--concurrency", "1"]
        result = invoke(*args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.splitlines()[-1:]
    assert line.startswith(f"batchbot: {tmp_path / where}"), line
    assert "found during the run: the file changed or became unreadable" in line
    assert "Traceback" not in result.output
    assert "2 answered, 0 failed, 4 not sent yet ·" in result.stdout
    assert "resume" not in result.output
    status, exit_code, error = run_row(tmp_path / "batchbot.db")
    assert (status, exit_code) == ("stopped", 2)
    assert error == line.removeprefix("batchbot: ")
    assert statuses(tmp_path / "batchbot.db") == {"q0": "ok", "q1": "ok"}

    for path, data in original.items():
        path.write_bytes(data)
    answered_before = fake_api.stats.answered
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert set(statuses(tmp_path / "batchbot.db").values()) == {"ok"}
    assert fake_api.stats.answered - answered_before == 4


def test_a_bug_while_reading_stops_the_run_with_its_traceback_in_the_log(
    tmp_path, invoke, fake_api, monkeypatch
):
    """Anything else reading the items raises is one line and exit 3 too, with the run row
    ended; its traceback goes to the log file, and to stderr only with --verbose."""
    job = tmp_path / "job.jsonl"
    job.write_text(REQUESTS, encoding="utf-8")
    real = jobs._item

    def item(draft):
        if draft.id == "q3":
            raise Bug("read wrong")
        return real(draft)

    def invoke_with_bug(*args):
        with monkeypatch.context() as patched:
            after_checking(patched, lambda: patched.setattr(jobs, "_item", item))
            return invoke(*args)

    args = ["run", str(job), "--base-url", fake_api.url, "--concurrency", "1"]
    result = invoke_with_bug(*args, "--log-file", "run.log")
    assert result.exit_code == 3, result.output
    assert result.stderr.splitlines()[-1:] == [
        "batchbot: reading the job's items failed (Bug: read wrong): the run stopped and answers "
        "already saved are kept, so a rerun resumes. If it happens again, please report it with "
        "the traceback that --verbose or --log-file shows"
    ]
    assert "Traceback" not in result.output
    log = (tmp_path / "run.log").read_text(encoding="utf-8")
    assert "reading the items of job job failed" in log
    assert "Traceback" in log
    assert "Bug: read wrong" in log
    status, exit_code, error = run_row(tmp_path / "batchbot.db")
    assert (status, exit_code) == ("stopped", 3)
    assert "Bug: read wrong" in error

    verbose = invoke_with_bug(*args, "--verbose")
    assert verbose.exit_code == 3, verbose.output
    assert "Traceback" in verbose.stderr
    assert "Bug: read wrong" in verbose.stderr


def test_batch_mode_stops_the_same_way_and_submits_nothing_half_read(
    tmp_path, invoke, fake_api, monkeypatch
):
    """In batch mode the run stops with the same line and ends its row; no batch holds part
    of a file it could not read, and the rerun submits every item."""
    with monkeypatch.context() as patched:
        job, where = broken_json(tmp_path, patched)
        args = ["run", str(job), "--mode", "batch", "--base-url", fake_api.url]
        result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"batchbot: {tmp_path / where}")
    assert len(result.stderr.splitlines()) == 1
    assert run_row(tmp_path / "batchbot.db")[:2] == ("stopped", 2)
    assert fake_api.batches.all() == []

    job.write_text(REQUESTS, encoding="utf-8")
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert "submitted 6 requests in 1 batch(es)" in again.output
