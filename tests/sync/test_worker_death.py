"""A worker that dies of something unexpected stops the run loudly and loses nothing."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from batchbot.store.store import Store

JOB = "name: deaths\nmodel: gpt-4o-mini\nprompts:\n" + "".join(
    f"  - {{id: q{i}, user: 'Question {i}?'}}\n" for i in range(6)
)


class Bug(Exception):
    """Stands for a bug in batchbot's own code."""


class Fatal(BaseException):
    """Something that is not even an Exception (not a cancellation either)."""


def break_pricing(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Pricing q3's answer raises `error`: the worker dies after the answer came."""
    from batchbot.sync import worker

    real = worker.priced

    def priced(outcome, pricer, **kwargs):
        if outcome.item.id == "q3":
            raise error
        return real(outcome, pricer, **kwargs)

    monkeypatch.setattr(worker, "priced", priced)


def break_store(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    """Writing q3's result raises `error` inside the writer: the worker dies waiting for it."""
    real = Store.record_results

    def record_results(self, run_id, job, mode, outcomes, **kwargs):
        if any(outcome.item.id == "q3" for outcome in outcomes):
            raise error
        return real(self, run_id, job, mode, outcomes, **kwargs)

    monkeypatch.setattr(Store, "record_results", record_results)


def statuses(db) -> dict[str, str]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute("select item_id, status from requests"))


@pytest.mark.parametrize(
    ("breaks", "error", "words"),
    [
        pytest.param(break_pricing, Bug("priced wrong"), "Bug: priced wrong", id="exception"),
        pytest.param(break_pricing, Fatal("gone"), "Fatal: gone", id="base-exception"),
        pytest.param(break_store, Fatal("disk"), "Fatal: disk", id="in-the-writer"),
        pytest.param(
            break_pricing, asyncio.CancelledError(), "(CancelledError)", id="stray-cancellation"
        ),
    ],
)
def test_a_dead_worker_stops_the_run_and_its_item_stays_pending(
    tmp_path, write_job, invoke, fake_api, monkeypatch, breaks, error, words
):
    """Exit 3 with one line naming the item and the error, the traceback only in the log;
    the item is not written, so the next run sends it (and only it) again."""
    job = write_job("deaths.yaml", JOB)
    args = ["run", str(job), "--base-url", fake_api.url, "--concurrency", "1"]
    with monkeypatch.context() as patched:
        breaks(patched, error)
        result = invoke(*args, "--log-file", "run.log")
    assert result.exit_code == 3, result.output
    (line,) = [line for line in result.stderr.splitlines() if "q3" in line]
    assert line.startswith("batchbot: sending item q3 died of an unexpected error")
    assert words in line
    assert "rerun" in line
    assert "Traceback" not in result.output
    log = (tmp_path / "run.log").read_text()
    assert "Traceback" in log
    assert words in log
    stored = statuses(tmp_path / "batchbot.db")
    assert "q3" not in stored or stored["q3"] == "pending"
    assert "ok" in stored.values()
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        (run,) = conn.execute("select status, exit_code, error from runs").fetchall()
    assert run[:2] == ("stopped", 3)
    assert "q3" in run[2]

    answered_before = fake_api.stats.answered
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert set(statuses(tmp_path / "batchbot.db").values()) == {"ok"}
    assert len(statuses(tmp_path / "batchbot.db")) == 6
    resent = fake_api.stats.answered - answered_before
    assert resent == 6 - list(stored.values()).count("ok")


def test_verbose_shows_the_traceback(write_job, invoke, fake_api, monkeypatch):
    """With --verbose the traceback of a dead worker is on stderr too."""
    break_pricing(monkeypatch, Bug("priced wrong"))
    job = write_job("deaths.yaml", JOB)
    result = invoke("run", str(job), "--base-url", fake_api.url, "--verbose")
    assert result.exit_code == 3, result.output
    assert "Traceback" in result.stderr
    assert "Bug: priced wrong" in result.stderr


def test_a_dead_worker_of_a_packed_request_names_its_pack(
    tmp_path, write_job, invoke, fake_api, monkeypatch
):
    """A packed embeddings request that dies leaves all its items pending, and says so."""
    from batchbot.sync import worker

    def unpack(outcome):
        raise Bug("unpacked wrong")

    lines = [{"id": f"t{i}", "input": f"text {i}"} for i in range(3)]
    model = {"model": "text-embedding-3-small"}
    job = write_job("embed.jsonl", "".join(json.dumps(line | model) + "\n" for line in lines))
    args = ["run", str(job), "--endpoint", "/v1/embeddings", "--base-url", fake_api.url]
    with monkeypatch.context() as patched:
        patched.setattr(worker, "unpack", unpack)
        result = invoke(*args)
    assert result.exit_code == 3, result.output
    assert "sending item t0 (and 2 packed with it) died" in result.stderr
    assert statuses(tmp_path / "batchbot.db") == {}
    assert invoke(*args).exit_code == 0
    assert set(statuses(tmp_path / "batchbot.db").values()) == {"ok"}
