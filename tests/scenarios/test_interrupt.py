"""Ctrl-C and SIGTERM: stop sending, finish what is in flight, exit 3, resume losing nothing."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from children import child_env

from batchbot.fake.server import FakeServer

ITEMS = 40


@pytest.fixture
def slow_api() -> Iterator[FakeServer]:
    server = FakeServer(latency_ms=250).start_in_thread()
    yield server
    server.stop()


def answered(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            sql = "select count(*) from requests where status='ok'"
            return int(conn.execute(sql).fetchone()[0])
    except sqlite3.OperationalError:  # created, not migrated yet
        return 0


def start_run(job: Path, url: str, cwd: Path, *extra: str) -> subprocess.Popen[str]:
    env = child_env()
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "batchbot",
            "run",
            str(job),
            "--base-url",
            url,
            "--concurrency",
            "4",
            "--rpm",
            "100000",
            "--tpm",
            "100000000",
            *extra,
        ],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_mid_run_then_resume(tmp_path, slow_api, sig):
    """A signal mid-run loses no answer; the rerun sends only the rest and nothing twice."""
    prompts = "".join(f"  - Question number {i}?\n" for i in range(ITEMS))
    job = tmp_path / "job.yaml"
    job.write_text(f"model: gpt-4o-mini\nprompts:\n{prompts}")
    db = tmp_path / "batchbot.db"

    proc = start_run(job, slow_api.url, tmp_path)
    deadline = time.monotonic() + 30
    while answered(db) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 3, out + err
    assert "Interrupted" in err
    assert "Traceback" not in err
    first = answered(db)
    assert 4 <= first < ITEMS
    # Every answer the server gave before the stop was written: in-flight requests finished.
    assert slow_api.stats.answered == first

    proc = start_run(job, slow_api.url, tmp_path)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, out + err
    assert answered(db) == ITEMS
    assert slow_api.stats.answered == ITEMS
    assert slow_api.stats.duplicates == 0


def test_requests_cut_off_on_the_wire_stay_reserved(tmp_path):
    """With no grace, a stop leaves the reservations of requests cut off on the wire (the
    server bills them) for later runs to count, and none for requests never sent."""
    server = FakeServer(latency_ms=3000).start_in_thread()
    try:
        job = tmp_path / "job.yaml"
        prompts = "".join(f"  - Question number {i}?\n" for i in range(10))
        job.write_text(f"model: gpt-4o-mini\nparams: {{max_tokens: 50}}\nprompts:\n{prompts}")
        proc = start_run(job, server.url, tmp_path, "--grace", "0", "--max-cost", "1")
        deadline = time.monotonic() + 30
        while server.stats.requests < 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 3, out + err
    finally:
        server.stop()
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        left = conn.execute("select item_id from reservations").fetchall()
        pending = conn.execute("select count(*) from requests where status = 'pending'")
        assert pending.fetchone() == (0,)  # cut off before any answer: no row to write
    assert len(left) == 4  # the four on the wire (--concurrency 4), not the six never sent
