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
from batchbot.money.usd import usd
from batchbot.store.store import Store

ITEMS = 60
CONCURRENCY = 4
KILLS = 4
SEED = 8


@pytest.fixture
def slow_api() -> Iterator[FakeServer]:
    server = FakeServer(latency_ms=40).start_in_thread()
    yield server
    server.stop()


def start_run(job: Path, url: str, cwd: Path, log: Path, *extra: str) -> subprocess.Popen[bytes]:
    env = child_env()
    argv = [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url, "--quiet"]
    argv += ["--concurrency", str(CONCURRENCY), "--rpm", "100000", "--tpm", "100000000"]
    argv += ["--verbose", "--log-file", str(log), "--log-format", "json", *extra]
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


@pytest.mark.slow
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


# -- a daily budget across kills ------------------------------------------------------------

# OpenAI's published gpt-4o-mini prices, USD per million tokens: the bill is worked out from
# the server's own token counts, not from batchbot's figures.
INPUT_USD, OUTPUT_USD = 0.15, 0.60
DAY_CAP = 0.01
CAP_KILLS = 10
CAP_CONCURRENCY = 20


@pytest.fixture
def thinking_api() -> Iterator[FakeServer]:
    server = FakeServer(latency_ms=200).start_in_thread()
    yield server
    server.stop()


def billed_usd(server: FakeServer) -> float:
    """What the server billed, by its own accounting (answers made for killed clients too)."""
    billed = server.stats.billed.get("gpt-4o-mini", {})
    tokens_in, tokens_out = billed.get("input_tokens", 0), billed.get("output_tokens", 0)
    return (tokens_in * INPUT_USD + tokens_out * OUTPUT_USD) / 1e6


@pytest.mark.slow
def test_daily_cap_holds_in_what_the_server_billed_across_kills(tmp_path, thinking_api, invoke):
    """Ten kill -9s with --max-cost-per-day, then a last run: the server billed at most the cap."""
    prompts = "".join(f"  - Question number {i} about the weather?\n" for i in range(2000))
    job = tmp_path / "job.yaml"
    job.write_text(f"model: gpt-4o-mini\nparams: {{max_tokens: 200}}\nprompts:\n{prompts}")
    cap = ["--max-cost-per-day", str(DAY_CAP), "--concurrency", str(CAP_CONCURRENCY)]
    for kill in range(CAP_KILLS):
        before = thinking_api.stats.requests
        proc = start_run(job, thinking_api.url, tmp_path, tmp_path / f"run{kill}.jsonl", *cap)
        deadline = time.monotonic() + 30
        # Killed with its requests on the wire: the server bills them, the run never sees them.
        while thinking_api.stats.requests < before + 2 * CAP_CONCURRENCY:
            if proc.poll() is not None or time.monotonic() > deadline:
                break
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    time.sleep(0.3)  # the server finishes (and bills) what was on the wire
    last = start_run(job, thinking_api.url, tmp_path, tmp_path / "last.jsonl", *cap)
    assert last.wait(timeout=60) == 3  # the day's budget is spent: stopped, rerun tomorrow
    assert thinking_api.stats.duplicates > 0  # kills cut off answers the server had billed
    assert billed_usd(thinking_api) <= DAY_CAP
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        statuses = {row[0] for row in conn.execute("select status from runs")}
        ((left, worst),) = conn.execute("select count(*), sum(worst_usd) from reservations")
    assert statuses == {"crashed", "stopped"}
    assert left > 0
    report = invoke("report")
    assert report.exit_code == 0, report.output
    assert f"In flight when a run died: {left} request(s)" in report.output
    assert usd(worst) in report.output


def test_a_re_ask_killed_on_the_wire_is_counted_at_its_worst_case(tmp_path, invoke):
    """kill -9 while an invalid answer's re-ask is on the wire: its reservation was committed
    before it left, so today's spend counts at least what the server billed, and says so."""
    server = FakeServer(latency_ms=1000).start_in_thread()
    try:
        schema = "{type: object, properties: {name: {type: string}}, required: [name]}"
        job = tmp_path / "job.yaml"
        job.write_text(
            f"model: gpt-4o-mini\nparams: {{max_tokens: 100}}\nschema: {schema}\n"
            "on_invalid: retry\nprompts:\n  - {id: bad, user: 'Dana [[fake:invalid]]'}\n"
        )
        day = ["--max-cost-per-day", "1.0"]
        proc = start_run(job, server.url, tmp_path, tmp_path / "run.jsonl", *day)
        deadline = time.monotonic() + 30
        while server.stats.requests < 2 and time.monotonic() < deadline:
            time.sleep(0.005)  # the first answer is written; the re-ask is out
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert server.stats.requests == 2
        db = tmp_path / "batchbot.db"
        with sqlite3.connect(db) as conn:
            held = conn.execute("select item_id, worst_usd from reservations").fetchall()
            (status,) = conn.execute("select status from requests").fetchone()
        assert [item for item, _ in held] == ["bad"]  # the re-ask's; the first was released
        assert status == "invalid"  # the first answer, written before the re-ask left
        store = Store.open(db)
        try:
            assert store.spent_today("job") >= billed_usd(server) > 0
        finally:
            store.close()
        rerun = invoke("run", str(job), "--base-url", server.url, *day, "--max-reasks", "1")
        assert "1 request(s) of this job were on the wire today" in rerun.output
    finally:
        server.stop()


# -- runs killed mid-way are not "running" for ever -------------------------------------------


def runs_statuses(invoke, *args: str) -> list[dict]:
    result = invoke("runs", "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_runs_shows_no_running_row_for_a_process_that_is_gone(tmp_path, slow_api, invoke):
    """A run alive is `running`; killed, `batchbot runs` lists it as crashed, saying when."""
    prompts = "".join(f"  - Question number {i}?\n" for i in range(ITEMS))
    job = tmp_path / "job.yaml"
    job.write_text(f"model: gpt-4o-mini\nprompts:\n{prompts}")
    proc = start_run(job, slow_api.url, tmp_path, tmp_path / "run.jsonl")
    deadline = time.monotonic() + 30
    while slow_api.stats.answered < 5 and time.monotonic() < deadline:
        time.sleep(0.005)
    (alive,) = runs_statuses(invoke)
    assert alive["status"] == "running"  # its process holds the job's lock
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    (dead,) = runs_statuses(invoke)
    assert dead["status"] == "crashed"
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        error, finished = conn.execute("select error, finished_at from runs").fetchone()
    assert "ended without closing it (kill -9" in error
    assert "found at 20" in error
    assert finished >= dead["started_at"]
    assert dead["ok"] == len(answered_ids(tmp_path / "batchbot.db"))
    listed = invoke("runs").output.splitlines()
    assert "crashed" in listed[1]
    assert listed[2].strip().startswith("why: the run's process ended without closing it")


def test_the_next_run_closes_what_a_killed_run_left(tmp_path, slow_api, invoke):
    """Without `runs` in between, the job's next run closes the killed run's row itself."""
    job = tmp_path / "job.yaml"
    job.write_text("model: gpt-4o-mini\nprompts: [one, two, three, four]\n")
    proc = start_run(job, slow_api.url, tmp_path, tmp_path / "run.jsonl")
    deadline = time.monotonic() + 30
    while slow_api.stats.requests == 0 and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    result = invoke("run", str(job), "--base-url", slow_api.url)
    assert result.exit_code == 0, result.output
    with sqlite3.connect(tmp_path / "batchbot.db") as conn:
        statuses = conn.execute("select status from runs order by id").fetchall()
    assert statuses == [("crashed",), ("done",)]
