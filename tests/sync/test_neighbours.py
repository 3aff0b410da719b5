"""Runs on one machine sharing a key: their files, the shares they take, and runs that die."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from children import child_env

from batchbot.config import Config
from batchbot.fake.server import FakeServer
from batchbot.jobs.job import load_job
from batchbot.limits.limits import RateLimits
from batchbot.pace.limiter import Limiter, Settings
from batchbot.run.runner import run_job_async
from batchbot.sync.neighbours import KeyShare, key_hash, neighbours, state_dir

ABOUT = {"key": key_hash("sk-test"), "base_url": "http://x/v1", "model": "m", "started": 0.0}


def share(limiter: Limiter, job: str) -> KeyShare:
    return KeyShare(state_dir(), limiter, {**ABOUT, "job": job})


def wanting(limiter: Limiter) -> list[asyncio.Task[object]]:
    """Requests waiting at `limiter`: its run wants all the key it can get."""
    return [asyncio.create_task(limiter.wait_for_capacity(1)) for _ in range(200)]


async def test_a_second_run_waits_for_room_takes_half_and_gets_all_back() -> None:
    """The first run has the key; a second waits until it has given up half, takes that, and
    when it ends the first has the whole key again at its next beat."""
    first, second = (Limiter(Settings(rpm=3000, tpm=None, concurrency=10)) for _ in range(2))
    waiting = wanting(first) + wanting(second)
    await asyncio.sleep(0)
    one = share(first, "one")
    one.beat()
    assert first.paces["requests"] == 1.0
    two = share(second, "two")
    two.beat()
    assert second.paces["requests"] < 0.02  # nothing left for it yet: it is held
    one.beat()
    assert first.paces["requests"] == 0.5
    two.beat()
    assert second.paces["requests"] == 0.5
    assert sorted(run.job for run in neighbours()) == ["one", "two"]
    two.close()
    one.beat()
    assert first.paces["requests"] == 1.0
    assert [run.job for run in neighbours()] == ["one"]
    for task in waiting:
        task.cancel()


async def test_another_key_model_or_url_is_not_shared() -> None:
    """Runs on different keys, models or servers have limits of their own."""
    first, second, third = (Limiter(Settings(rpm=3000, tpm=None, concurrency=10)) for _ in range(3))
    KeyShare(state_dir(), first, {**ABOUT, "job": "a"}).beat()
    KeyShare(state_dir(), second, {**ABOUT, "job": "b", "model": "other"}).beat()
    KeyShare(state_dir(), third, {**ABOUT, "job": "c", "key": key_hash("sk-other")}).beat()
    assert [limiter.paces["requests"] for limiter in (first, second, third)] == [1.0] * 3


def test_a_file_left_by_a_dead_process_frees_its_share(tmp_path: Path) -> None:
    """A run killed before it could delete its file is seen gone by the next one to look."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True)  # fmt: skip
    group = state_dir() / "pace" / "0123456789abcdef"
    group.mkdir(parents=True)
    record = {**ABOUT, "job": "gone", "pid": int(done.stdout), "beat": time.time()}
    record |= {"limits": {}, "rates": {}, "bound": [], "in_use": {}, "sent": {}}
    (group / "dead.json").write_text(json.dumps(record))
    assert neighbours() == []
    stale = {**record, "pid": os.getpid(), "beat": time.time() - 60}
    (group / "stale.json").write_text(json.dumps(stale))
    assert neighbours() == []


JOB = "\n".join(json.dumps({"id": f"q{i}", "messages": [{"role": "user", "content": f"Q {i}"}]})
                for i in range(400))  # fmt: skip


def test_a_run_killed_with_kill_9_frees_its_share_within_seconds(
    tmp_path: Path, fake_api: FakeServer
) -> None:
    """`kill -9` leaves the run's file behind; within a second nobody counts it any more."""
    job = tmp_path / "slow.jsonl"
    job.write_text(JOB)
    argv = [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", fake_api.url]
    argv += ["--rpm", "120", "--model", "gpt-4o-mini", "--quiet"]
    run = subprocess.Popen(argv, cwd=tmp_path, env=child_env(), stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not neighbours() and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before it was seen"
            time.sleep(0.1)
        assert [n.pid for n in neighbours()] == [run.pid]
    finally:
        run.send_signal(signal.SIGKILL)
        run.wait()
    assert list((state_dir() / "pace").glob("*/*.json"))  # it had no time to clean up
    assert neighbours() == []


async def test_two_runs_on_one_key_keep_to_its_limits_together(
    tmp_path: Path, fake_api: FakeServer
) -> None:
    """Two jobs run side by side against 3,000 RPM kept over 1-s windows (50 a second): each
    paces at its share, so together they are refused at most once or twice."""
    fake_api.set_limits(rpm=3000, tpm=None, window_s=1.0)
    fake_api.spend(requests=50)  # the window is full as they start: no free first second

    async def run(name: str) -> int:
        messages = [{"role": "user", "content": "Hi"}]
        body = {"model": "gpt-4o-mini", "messages": messages, "max_tokens": 5}
        lines = [json.dumps({"id": f"{name}{i}", **body}) for i in range(150)]
        job = tmp_path / f"{name}.jsonl"
        job.write_text("\n".join(lines))
        config = Config(
            db_path=tmp_path / f"{name}.db",
            api_key="sk-test",
            base_url=fake_api.url,
            model="gpt-4o-mini",
            limits=RateLimits.set_by_user(rpm=3000),
            concurrency=20,
        )
        summary = await run_job_async(load_job(job), config, handle_signals=False)
        return summary.answered

    answered = await asyncio.gather(run("a"), run("b"))
    assert answered == [150, 150]
    assert fake_api.stats.by_status.get(429, 0) <= 2


async def test_limits_shows_the_runs_sharing_a_key_now(invoke) -> None:
    """`batchbot limits` ends with the runs on this machine and the share each takes."""
    assert invoke("limits").output.endswith("No run on this machine is sending now.\n")
    first, second = (Limiter(Settings(rpm=3000, tpm=None, concurrency=10)) for _ in range(2))
    waiting = wanting(first) + wanting(second)
    await asyncio.sleep(0)
    one = KeyShare(state_dir(), first, {**ABOUT, "job": "nightly", "started": time.time() - 9})
    two = KeyShare(state_dir(), second, {**ABOUT, "job": "hourly", "started": time.time()})
    for beat in (one, two, one, two):
        beat.beat()
    lines = invoke("limits").output.splitlines()
    at = lines.index("Runs on this machine sharing a key now (+: would take more of it):")
    assert lines[at + 1].split() == [
        "key", "base", "URL", "model", "job", "pid", "RPM", "share", "TPM", "share", "for"
    ]  # fmt: skip
    rows = [line.split() for line in lines[at + 2 :]]
    assert [row[:4] for row in rows] == [["yours", "http://x/v1", "m", "nightly"],
                                         ["yours", "http://x/v1", "m", "hourly"]]  # fmt: skip
    assert [row[5:7] for row in rows] == [["50%+", "-"], ["50%+", "-"]]
    for task in waiting:
        task.cancel()
