"""kill -9 at random moments, then rerun: nothing acknowledged is lost, the database stays
sound, and only requests that were in flight at a kill are ever sent twice.

"Acknowledged" is what the run itself reported as saved: with --verbose, --log-file writes a
"saved" line only after the result's transaction committed. bench/soak_kill.py does the same
100 times and prints the figures.
"""

from __future__ import annotations

import json
import random
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

ITEMS = 60
CONCURRENCY = 4
KILLS = 4
SEED = 8


@pytest.fixture
def slow_api() -> Iterator[FakeServer]:
    server = FakeServer(latency_ms=40).start_in_thread()
    yield server
    server.stop()


def start_run(job: Path, url: str, cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    env = child_env()
    argv = [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url, "--quiet"]
    argv += ["--concurrency", str(CONCURRENCY), "--rpm", "100000", "--tpm", "100000000"]
    argv += ["--verbose", "--log-file", str(log), "--log-format", "json"]
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def acknowledged(log: Path) -> set[str]:
    """Item ids the run logged as saved (a line cut short by the kill is skipped)."""
    ids = set()
    if log.exists():
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if record.get("message", "").startswith("saved "):
                ids.add(record["item_id"])
    return ids


def kill_after(proc: subprocess.Popen[bytes], log: Path, rng: random.Random) -> None:
    """kill -9 during start-up, or a random few saved items (plus a few ms) into the run."""
    if rng.random() < 0.25:
        time.sleep(rng.uniform(0.05, 1.0))
    else:
        target, deadline = rng.randint(1, 12), time.monotonic() + 30
        while len(acknowledged(log)) < target and time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            time.sleep(0.005)
        time.sleep(rng.uniform(0, 0.05))
    proc.send_signal(signal.SIGKILL)


def answered_ids(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        with sqlite3.connect(db) as conn:
            sql = "select item_id from requests where status in ('ok', 'truncated')"
            return {row[0] for row in conn.execute(sql)}
    except sqlite3.OperationalError:  # killed before the tables were made
        return set()


def integrity(db: Path) -> str:
    with sqlite3.connect(db) as conn:
        return str(conn.execute("pragma integrity_check").fetchone()[0])


def test_kill_9_at_random_moments_then_resume(tmp_path, slow_api):
    """Several kill -9s, then a rerun: every item answered once more at most per kill."""
    rng = random.Random(SEED)
    prompts = "".join(f"  - Question number {i}?\n" for i in range(ITEMS))
    job = tmp_path / "job.yaml"
    job.write_text(f"model: gpt-4o-mini\nprompts:\n{prompts}")
    db = tmp_path / "batchbot.db"
    lost_at_kills = []
    for kill in range(KILLS):
        log = tmp_path / f"run{kill}.jsonl"
        proc = start_run(job, slow_api.url, tmp_path, log)
        kill_after(proc, log, rng)
        proc.wait(timeout=10)
        time.sleep(0.2)  # let the server finish answering what was on the wire
        stored = answered_ids(db)
        assert acknowledged(log) <= stored
        if db.exists():
            assert integrity(db) == "ok"
        # Answers the server gave that never reached the database: these will be asked again.
        lost = slow_api.stats.answered - len(stored) - sum(lost_at_kills)
        assert 0 <= lost <= CONCURRENCY
        lost_at_kills.append(lost)

    log = tmp_path / "final.jsonl"
    proc = start_run(job, slow_api.url, tmp_path, log)
    assert proc.wait(timeout=60) == 0
    assert len(answered_ids(db)) == ITEMS
    assert integrity(db) == "ok"
    assert slow_api.stats.duplicates <= sum(lost_at_kills)
    assert slow_api.stats.answered == ITEMS + slow_api.stats.duplicates
