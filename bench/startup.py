"""Start-up: `batchbot --help`, and how long a run takes to send its first request.

A run checks every line of the job before it sends anything (a broken line 90,000 stops it
with nothing half-done), so the wait for the first request grows with the job. The fake
server runs in its own process; the run is stopped (SIGINT) once the server has seen a
request.

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


def first_request_seconds(job: Path, url: str, work: Path) -> float:
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    before = requests_seen(url)
    start = time.perf_counter()
    run = subprocess.Popen(
        [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url, "--quiet",
         "--rpm", "1e9", "--tpm", "1e12", "--db", str(work / f"{job.stem}.db")],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        while requests_seen(url) == before:
            if run.poll() is not None:
                raise SystemExit(f"the run of {job.name} ended before sending")
            time.sleep(0.01)
        return time.perf_counter() - start
    finally:
        run.send_signal(signal.SIGINT)
        run.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    args = parser.parse_args()
    print(f"batchbot --help: {help_seconds() * 1000:.0f} ms (median of 5)\n")
    print("| JSONL job, lines | first request after s |")
    print("| ---: | ---: |")
    with tempfile.TemporaryDirectory() as tmp, fake_server_process(*HIGH_LIMITS) as url:
        work = Path(tmp)
        for size in args.sizes:
            job = write_jsonl_job(work / f"job{size}.jsonl", size)
            print(f"| {size:,} | {first_request_seconds(job, url, work):.1f} |", flush=True)


if __name__ == "__main__":
    main()
