"""Requests per second and CPU per request: batchbot against a naive AsyncOpenAI loop.

Both talk to the same fake OpenAI server, which runs in its own process with no rate limits.
batchbot does its full job (limiter, retry policy, SQLite writes, progress); the naive loop
writes nothing. A raw aiohttp client measures the fake server's own ceiling.

    python bench/throughput.py [--items 5000] [--latency-ms 0] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fake import HIGH_LIMITS, fake_server_process, write_jsonl_job

HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    name: str
    requests: int
    wall_s: float
    cpu_s: float

    @property
    def per_second(self) -> float:
        return self.requests / self.wall_s

    @property
    def cpu_per_1k(self) -> float:
        return self.cpu_s * 1000 / self.requests


def timed_child(name: str, requests: int, argv: list[str], cwd: Path) -> Result:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Result(name, requests, wall, cpu)


async def raw_ceiling(url: str, requests: int, concurrency: int) -> float:
    import aiohttp

    body = {"model": "gpt-4o-mini", "max_tokens": 40,
            "messages": [{"role": "user", "content": "What is a token?"}]}  # fmt: skip
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": "Bearer sk-bench"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def one() -> None:
            async with gate, session.post(f"{url}/chat/completions", json=body) as response:
                await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_server_process(*HIGH_LIMITS, "--latency-ms", str(args.latency_ms)) as url,
    ):
        work = Path(tmp)
        job = write_jsonl_job(work / "bench.jsonl", args.items)
        ceiling = asyncio.run(raw_ceiling(url, args.items, args.concurrency))
        naive = timed_child(
            "naive AsyncOpenAI + gather", args.items,
            [sys.executable, str(HERE / "naive_loop.py"), url, str(job), str(args.concurrency)],
            work,
        )  # fmt: skip
        ours = timed_child(
            "batchbot run", args.items,
            [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url, "--quiet",
             "--rpm", "1e9", "--tpm", "1e12", "--concurrency", str(args.concurrency),
             "--db", str(work / "bench.db")],
            work,
        )  # fmt: skip

    print(f"{args.items:,} requests, {args.latency_ms:g} ms server latency, "
          f"concurrency {args.concurrency}, {os.cpu_count()} cores")  # fmt: skip
    print(f"fake server ceiling (raw aiohttp client): {ceiling:,.0f} req/s\n")
    print("| client | req/s | CPU-s per 1,000 req | wall s | vs naive |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for result in (naive, ours):
        print(f"| {result.name} | {result.per_second:,.0f} | {result.cpu_per_1k:.2f} | "
              f"{result.wall_s:.1f} | {result.per_second / naive.per_second:.2f}x |")  # fmt: skip


if __name__ == "__main__":
    main()
