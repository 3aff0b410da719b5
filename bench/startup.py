"""Start-up: `batchbot --help`, where the time before the first request goes, and how long a
run takes to send its first request, beside a client that sends at once.

A run checks every line of a job up to 8 MB before it sends anything (a broken line stops it
with nothing half-done), and a larger job while it sends. The fake server runs in its own
process, with 300 ms answers; a run is stopped (SIGINT) once the server has seen a request,
or once it has answered the second (the probe is the first, sent alone).

    python bench/startup.py [--sizes 10000 100000 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fake import HIGH_LIMITS, fake_server_process, write_jsonl_job


def help_seconds(times: int = 5) -> float:
    walls = []
    for _ in range(times):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "batchbot", "--help"], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def requests_seen(url: str) -> int:
    stats = url.removesuffix("/v1") + "/_fake/stats"
    with urllib.request.urlopen(stats, timeout=5) as response:
        return int(json.loads(response.read())["requests"])


def first_requests_seconds(
    job: Path, url: str, work: Path, *, count: int = 1, db: str | None = None
) -> float:
    """Seconds from starting `batchbot run` until the server has seen `count` requests."""
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    before = requests_seen(url)
    start = time.perf_counter()
    run = subprocess.Popen(
        [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url, "--quiet",
         "--rpm", "1e9", "--tpm", "1e12", "--db", str(work / (db or f"{job.stem}.db"))],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while requests_seen(url) < before + count:
            if run.poll() is not None:
                raise SystemExit(f"the run of {job.name} ended before sending")
            time.sleep(0.005)
        return time.perf_counter() - start
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)


PHASES = """
import time, sys
from pathlib import Path
t = time.perf_counter()
from batchbot.run.runner import run_job_async  # noqa: F401
from batchbot.jobs.job import load_job
from batchbot.store.store import Store
from batchbot.tokens.count import request_tokens
from batchbot.tokens.characters import char_tokens
imported = time.perf_counter()
job = load_job(sys.argv[1])
job.validate()
checked = time.perf_counter()
Store.open(Path(sys.argv[2])).close()
opened = time.perf_counter()
first = next(job.items())
request_tokens(first.body)
char_tokens(first.body)
counted = time.perf_counter()
print(imported - t, checked - imported, opened - checked, counted - opened)
"""
NAIVE = """
import asyncio, openai, sys
async def main():
    async with openai.AsyncOpenAI(base_url=sys.argv[1], api_key="sk-bench") as client:
        await client.chat.completions.create(
            model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}], max_tokens=5)
asyncio.run(main())
"""


def phases(job: Path, url: str, work: Path) -> list[tuple[str, float]]:
    """Where the time before a run's first request goes, each part timed in a new process."""
    db = work / "phases.db"
    db.unlink(missing_ok=True)
    out = subprocess.run([sys.executable, "-c", PHASES, str(job), str(db)], check=True,
                         capture_output=True, text=True).stdout  # fmt: skip
    imported, checked, opened, counted = (float(x) for x in out.split())
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    python = time.perf_counter() - start
    first = first_requests_seconds(job, url, work, db="first.db")
    second = first_requests_seconds(job, url, work, count=2, db="probe.db")
    rerun = first_requests_seconds(job, url, work, count=2, db="probe.db")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", NAIVE, url], check=True)
    naive = time.perf_counter() - start
    return [
        ("Python itself", python),
        ("imports (openai, aiohttp, rich, tiktoken ...)", imported),
        (f"checking the job ({job.name})", checked),
        ("opening the database (a new one, migrated)", opened),
        ("the token vocabulary, first count", counted),
        ("first request sent, all told", first),
        ("second request sent: the probe's answer came back", second),
        ("second request sent, a rerun (limits remembered, no probe)", rerun),
        ("a naive AsyncOpenAI client: its first answer back", naive),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    print(f"batchbot --help: {help_seconds() * 1000:.0f} ms (median of 5)\n")
    latency = ("--latency-ms", "300")
    with tempfile.TemporaryDirectory() as tmp, fake_server_process(*HIGH_LIMITS, *latency) as url:
        work = Path(tmp)
        job = write_jsonl_job(work / "job10000.jsonl", 10_000)
        print("| before the first request (10,000-line job) | s |")
        print("| --- | ---: |")
        for phase, seconds in phases(job, url, work):
            print(f"| {phase} | {seconds:.2f} |", flush=True)
        print("\n| JSONL job, lines | first request after s |")
        print("| ---: | ---: |")
        for size in args.sizes:
            job = write_jsonl_job(work / f"job{size}.jsonl", size)
            print(f"| {size:,} | {first_requests_seconds(job, url, work):.1f} |", flush=True)


if __name__ == "__main__":
    main()
