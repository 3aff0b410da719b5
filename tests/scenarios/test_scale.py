"""Scale: bodies encoded fast (and right), results committed in batches, items streamed."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tracemalloc
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from batchbot.config import Config
from batchbot.errors import Interrupted
from batchbot.jobs.bodies import Draft, DraftSource
from batchbot.jobs.job import Job, JobSettings, load_job
from batchbot.limits.limits import PRESET, Limit, RateLimits
from batchbot.outcome import OK, Outcome, utc_now
from batchbot.run.runner import run_job_async
from batchbot.store.store import Store


def batch_lines(count: int, **extra: object) -> str:
    lines = []
    for i in range(count):
        body = {"model": "gpt-4o-mini", "max_tokens": 200, **extra,
                "messages": [{"role": "user", "content": f"Question {i}?"}]}  # fmt: skip
        line = {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions"}
        lines.append(json.dumps({**line, "body": body}))
    return "\n".join(lines) + "\n"


def test_integer_beyond_64_bits_is_sent_and_stored(tmp_path, write_job, invoke, fake_api):
    """orjson refuses such integers (here a bound in a tool's JSON schema, which JSON allows);
    the body still goes out and is stored digit for digit."""
    huge = 123456789012345678901234567890
    schema = {"type": "object", "properties": {"n": {"type": "integer", "maximum": huge}}}
    tool = {"type": "function", "function": {"name": "count", "parameters": schema}}
    job = write_job("big.jsonl", batch_lines(2, tools=[tool]))
    result = invoke("run", str(job), "--base-url", fake_api.url)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        stored = [json.loads(text) for (text,) in conn.execute("select request from requests")]
    maxima = [
        body["tools"][0]["function"]["parameters"]["properties"]["n"]["maximum"] for body in stored
    ]
    assert maxima == [huge, huge]
    assert fake_api.stats.answered == 2


def test_results_are_committed_in_batches(
    tmp_path: Path, write_job, invoke, fake_api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Answers arriving together share a transaction; every one of them is stored."""
    commits: list[int] = []
    record = Store.record_results

    def counting(self: Store, run_id: int, job: str, mode: str, outcomes: list, **kw) -> None:  # type: ignore[type-arg]
        commits.append(len(outcomes))
        record(self, run_id, job, mode, outcomes, **kw)

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


def question(i: int) -> dict[str, object]:
    return {"model": "gpt-4o-mini", "max_tokens": 200,
            "messages": [{"role": "user", "content": f"Question {i}?"}]}  # fmt: skip


def generated_job(path: Path, count: int, on_pull: Callable[[int], None]) -> Job:
    """A job fed by a generator, made afresh for each pass; `on_pull(n)` sees the nth pull."""

    def read() -> Iterator[Draft]:
        for i in range(count):
            on_pull(i + 1)
            yield Draft(f"q{i}", question(i), path, i + 1)

    return Job("generated", path, JobSettings(), DraftSource(read, path, "no items"))


@pytest.mark.slow
def test_validation_of_100k_generated_items_keeps_none_of_them(tmp_path: Path) -> None:
    """Checking every item (and every id for duplicates) holds no list of items or ids."""
    pulled = []
    job = generated_job(tmp_path / "gen", 100_000, pulled.append)
    tracemalloc.start()
    try:
        assert job.validate() == 100_000
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(pulled) == 100_000
    # 100,000 Items held at once would take ~60 MB; the digest table takes ~4.
    assert peak < 10_000_000, f"{peak / 1e6:.1f} MB"


@pytest.mark.slow
def test_100k_generated_items_are_pulled_as_sent_and_ctrl_c_loses_no_answer(
    tmp_path: Path, fake_api
) -> None:
    """A sending run pulls an item only when a slot is free; Ctrl-C (with answers waiting
    for their batched commit) leaves every answer the server gave in the database."""
    concurrency, stop_after = 100, 3_000
    passes: list[int] = []  # pulls of the current pass
    ahead: list[int] = []  # pulled but not yet received by the server, at each pull

    def on_pull(n: int) -> None:
        if n == 1:
            passes.append(0)
        passes[-1] = n
        if len(passes) == 2:  # the sending pass (the first one validates)
            ahead.append(n - fake_api.stats.requests)
            if n == stop_after:
                os.kill(os.getpid(), signal.SIGINT)

    job = generated_job(tmp_path / "gen", 100_000, on_pull)
    config = Config(db_path=tmp_path / "gen.db", api_key="sk-test", base_url=fake_api.url,
                    limits=RateLimits(Limit(1e9, PRESET), Limit(1e12, PRESET)),
                    concurrency=concurrency)  # fmt: skip
    summary = asyncio.run(run_job_async(job, config))

    assert isinstance(summary.stopped, Interrupted)
    assert passes[0] == 100_000
    # Pulled, but not yet on the wire: the items in flight and the one waiting for a slot.
    assert max(ahead) <= concurrency + 1
    assert passes[1] < stop_after + concurrency
    with sqlite3.connect(tmp_path / "gen.db") as conn:
        (stored,) = conn.execute("select count(*) from requests where status = 'ok'").fetchone()
    assert stored == fake_api.stats.answered
    assert stored >= stop_after - concurrency


@pytest.fixture
def api_process(tmp_path: Path) -> Iterator[str]:
    """The fake API in a process of its own (a core of its own): its /v1 URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "batchbot", "fake-server", "--port", str(port),
         "--rpm", "1000000000", "--tpm", "1000000000000"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                server_stats(url)
                break
            except OSError:
                assert time.monotonic() < deadline, "the fake server did not start"
                time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def server_stats(url: str) -> dict[str, Any]:
    stats_url = url.removesuffix("/v1") + "/_fake/stats"
    with urllib.request.urlopen(stats_url, timeout=5) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


@pytest.mark.slow
@pytest.mark.timeout(360)  # half a minute alone on 2 cores; several times that on a busy machine
def test_resume_of_a_big_job_half_answered_sends_exactly_the_other_half(
    tmp_path: Path, write_job, invoke, api_process: str
) -> None:
    """Every other item of a 40,000-item job was answered by an earlier run: the rerun sends
    the 20,000 others, each once, and leaves the earlier answers as they were (the 100k tests
    above keep the scale; this one the resume, at a size that keeps CI inside its time)."""
    count = 40_000
    job_file = write_job("big.jsonl", "".join(json.dumps(question(i)) + "\n" for i in range(count)))
    job = load_job(job_file)
    store = Store.open(tmp_path / "batchbot.db")
    earlier = store.start_run(job=job.name, job_path=str(job_file), mode="sync", settings={})
    now = utc_now()
    answered = (
        Outcome(item, OK, now, now, content="earlier answer")
        for n, item in enumerate(job.items())
        if n % 2 == 0
    )
    while chunk := list(itertools.islice(answered, 5_000)):
        store.record_results(earlier, job.name, "sync", chunk)
    store.close()

    result = invoke("run", str(job_file), "--base-url", api_process, "--concurrency", "200")

    assert result.exit_code == 0, result.output
    stats = server_stats(api_process)
    assert stats["requests"] == count // 2
    assert stats["duplicates"] == 0
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        runs = dict(conn.execute(
            "select run_id, count(*) from requests where status = 'ok' group by run_id"
        ).fetchall())  # fmt: skip
        (kept,) = conn.execute(
            "select count(*) from requests where content = 'earlier answer' and run_id = ?",
            (earlier,),
        ).fetchone()
    assert runs == {earlier: count // 2, earlier + 1: count // 2}
    assert kept == count // 2
