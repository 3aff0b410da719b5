"""Faults a night run meets: a flaky server, a server that goes away for a while, a hang."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from pathlib import Path

from batchbot.fake.server import FakeServer


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchall()


def prompts_job(write_job, count: int, name: str = "job.yaml"):
    prompts = "".join(f"  - Question number {i}?\n" for i in range(count))
    return write_job(name, f"model: gpt-4o-mini\nprompts:\n{prompts}")


def test_fail_rate_20_percent_every_item_answered(tmp_path, write_job, invoke):
    """With 20 % of requests failing (500/502/503/reset/bad body) every item ends answered,
    and `attempts` holds one row per HTTP attempt, failures included."""
    server = FakeServer(fail_rate=0.2, seed=20).start_in_thread()
    try:
        job = prompts_job(write_job, 100)
        result = invoke("run", str(job), "--base-url", server.url, "--max-attempts", "8")
        stats = server.stats
    finally:
        server.stop()
    assert result.exit_code == 0, result.output
    db = tmp_path / "batchbot.db"
    assert rows(db, "select status, count(*) from requests group by status") == [("ok", 100)]
    ((attempts,),) = rows(db, "select sum(attempts) from requests")
    ((recorded,),) = rows(db, "select count(*) from attempts")
    ((failures,),) = rows(db, "select count(*) from attempts where error is not null")
    assert attempts == recorded == stats.requests
    assert failures == stats.requests - 100 > 0
    kinds = {row[0] for row in rows(db, "select error_code from attempts where error is not null")}
    assert {"InternalServerError", "APIConnectionError", "MalformedResponse"} <= kinds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_server_away_for_a_while_is_waited_out(tmp_path, write_job, invoke):
    """The server vanishes mid-run and comes back: the run holds, then answers every item;
    each refused attempt is recorded, and no item fails or runs out of attempts."""
    port = free_port()
    servers = [FakeServer(port=port, latency_ms=20).start_in_thread()]

    def outage() -> None:
        time.sleep(0.5)
        servers[0].stop()
        time.sleep(2.5)  # longer than all of an item's retries would last without the watch
        servers.append(FakeServer(port=port, latency_ms=20).start_in_thread())

    thread = threading.Thread(target=outage)
    thread.start()
    job = prompts_job(write_job, 150)
    try:
        result = invoke(
            "run",
            str(job),
            "--base-url",
            f"http://127.0.0.1:{port}/v1",
            "--concurrency",
            "4",
            "--max-attempts",
            "2",
            "--outage-wait",
            "30",
        )
    finally:
        thread.join()
        servers[-1].stop()
    assert result.exit_code == 0, result.output
    assert "cannot connect to the API" in result.output
    db = tmp_path / "batchbot.db"
    assert rows(db, "select status, count(*) from requests group by status") == [("ok", 150)]
    ((refused,),) = rows(db, "select count(*) from attempts where error_code='APIConnectionError'")
    assert refused >= 3


def test_outage_longer_than_outage_wait_stops_the_run(tmp_path, write_job, invoke):
    """Nobody listening at all: the run stops after --outage-wait, exit 3, items left pending."""
    job = prompts_job(write_job, 20)
    started = time.monotonic()
    url = f"http://127.0.0.1:{free_port()}/v1"
    result = invoke(
        "run",
        str(job),
        "--base-url",
        url,
        "--outage-wait",
        "1.5",
        "--concurrency",
        "2",
    )
    assert result.exit_code == 3, result.output
    assert time.monotonic() - started < 15
    assert f"Could not connect to the API at {url}/chat/completions for " in result.output
    db = tmp_path / "batchbot.db"
    assert rows(db, "select count(*) from requests where status != 'pending'") == [(0,)]


def test_one_reset_is_an_ordinary_retry(tmp_path, write_job, invoke, fake_api):
    """A lone connection reset is not an outage: the item retries and the run never pauses."""
    job = write_job("j.yaml", "model: gpt-4o-mini\nprompts: [a, b, 'c [[fake:resetx1]]', d]\n")
    result = invoke("run", str(job), "--base-url", fake_api.url, "--max-attempts", "3")
    assert result.exit_code == 0, result.output
    assert "cannot connect" not in result.output
    assert rows(tmp_path / "batchbot.db", "select count(*) from attempts") == [(5,)]


def test_request_refused_alone_still_fails(tmp_path, write_job, invoke):
    """One request whose connection is always reset, while others are answered, is not an
    outage: it fails after its attempts and the run ends with exit 1, promptly."""
    prompts = "".join(f"  - Question {i}?\n" for i in range(20))
    job = write_job("j.yaml", f"model: gpt-4o-mini\nprompts:\n  - 'x [[fake:reset]]'\n{prompts}")
    started = time.monotonic()
    server = FakeServer(latency_ms=100).start_in_thread()
    try:
        result = invoke(
            "run", str(job), "--base-url", server.url, "--max-attempts", "2", "--concurrency", "4"
        )
    finally:
        server.stop()
    assert result.exit_code == 1, result.output
    assert time.monotonic() - started < 10
    db = tmp_path / "batchbot.db"
    assert rows(db, "select status, count(*) from requests group by status") == [
        ("failed", 1),
        ("ok", 20),
    ]
