"""Requests per second and CPU per request: batchbot against a naive AsyncOpenAI loop.

All clients talk to the same fake OpenAI server, which runs in its own process with limits far
above reach. batchbot does its full job (limiter, retry policy, SQLite writes, progress
accounting); the naive loop writes nothing. Rounds alternate the clients, so a machine that
speeds up or slows down during the benchmark does so for all of them; the table shows each
client's median. batchbot runs twice a round: with openai's aiohttp transport, which it
uses, and with the SDK's default httpx transport. A raw aiohttp client measures the fake
server's own ceiling.

    python bench/throughput.py [--items 10000] [--rounds 3] [--latency-ms 0] [--concurrency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fake import HIGH_LIMITS, fake_server_process, write_jsonl_job

HERE = Path(__file__).resolve().parent


@dataclass
class Result:
    name: str
    requests: int
    wall_s: list[float] = field(default_factory=list)
    cpu_s: list[float] = field(default_factory=list)
    lag_s: list[float] = field(default_factory=list)

    @property
    def per_second(self) -> float:
        return self.requests / statistics.median(self.wall_s)

    @property
    def cpu_per_1k(self) -> float:
        return statistics.median(self.cpu_s) * 1000 / self.requests

    def lag(self) -> str:
        if not self.lag_s:
            return "-"
        ordered = sorted(self.lag_s)
        p99 = ordered[int(len(ordered) * 0.99)]
        return f"{p99 * 1000:.0f} / {ordered[-1] * 1000:.0f}"


def timed_child(result: Result, argv: list[str], cwd: Path, lag_file: Path | None = None) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL)
    result.wall_s.append(time.perf_counter() - start)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.cpu_s.append(cpu)
    if lag_file is not None:
        result.lag_s.extend(json.loads(lag_file.read_text()))


async def raw_ceiling(url: str, requests: int, concurrency: int) -> float:
    import aiohttp

    body = {"model": "gpt-4o-mini", "max_tokens": 40,
            "messages": [{"role": "user", "content": "What is a token?"}]}  # fmt: skip
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": "Bearer sk-bench"}
    connector = aiohttp.TCPConnector(limit=concurrency)  # its default, 100, would cap it
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:

        async def one() -> None:
            async with gate, session.post(f"{url}/chat/completions", json=body) as response:
                await response.read()

        start = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(requests)))
        return requests / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()

    naive = Result("naive AsyncOpenAI + gather", args.items)
    ours = Result("batchbot run (aiohttp transport)", args.items)
    ours_httpx = Result("batchbot run (httpx transport)", args.items)
    with (
        tempfile.TemporaryDirectory() as tmp,
        fake_server_process(*HIGH_LIMITS, "--latency-ms", str(args.latency_ms)) as url,
    ):
        work = Path(tmp)
        job = write_jsonl_job(work / "bench.jsonl", args.items)
        ceiling = asyncio.run(raw_ceiling(url, args.items, args.concurrency))
        naive_argv = [sys.executable, str(HERE / "naive_loop.py"), url, str(job),
                      str(args.concurrency)]  # fmt: skip
        for round_number in range(args.rounds):
            timed_child(naive, naive_argv, work)
            for result, transport in ((ours, []), (ours_httpx, ["--httpx"])):
                db, lag = work / f"bench-{round_number}-{len(transport)}.db", work / "lag.json"
                argv = [sys.executable, str(HERE / "_batchbot_probe.py"), *transport,
                        "--lag-file", str(lag), "run", str(job), "--base-url", url, "--quiet",
                        "--rpm", "1e9", "--tpm", "1e12", "--concurrency", str(args.concurrency),
                        "--db", str(db)]  # fmt: skip
                timed_child(result, argv, work, lag)

    print(f"{args.items:,} requests a client and round, {args.rounds} rounds, "
          f"{args.latency_ms:g} ms server latency, concurrency {args.concurrency}, "
          f"{os.cpu_count()} cores")  # fmt: skip
    print(f"fake server ceiling (raw aiohttp client, server in its own process): "
          f"{ceiling:,.0f} req/s\n")  # fmt: skip
    print("| client | req/s | CPU-s per 1,000 req | wall s | vs naive | loop lag p99 / max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for result in (naive, ours, ours_httpx):
        print(f"| {result.name} | {result.per_second:,.0f} | {result.cpu_per_1k:.2f} | "
              f"{statistics.median(result.wall_s):.1f} | "
              f"{result.per_second / naive.per_second:.2f}x | {result.lag()} |")  # fmt: skip
    ratios = [n / o for n, o in zip(naive.wall_s, ours.wall_s, strict=True)]
    print("\nbatchbot (aiohttp) vs naive, round by round: "
          + ", ".join(f"{ratio:.2f}x" for ratio in ratios))  # fmt: skip


if __name__ == "__main__":
    main()
