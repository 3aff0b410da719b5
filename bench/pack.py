"""Embedding items per request (`pack:`): requests, wall time and CPU per item at each size.

batchbot embeds the same texts with each pack size against the fake server, which runs in its
own process. Two settings:

- paced: the server and batchbot at text-embedding-3-small's tier-1 limits (3,000 RPM,
  1,000,000 TPM), where requests per minute are what a run waits for;
- unpaced: limits far above reach, where what is left is batchbot's and the server's own work.

    python bench/pack.py [--items 1000] [--unpaced-items 5000] [--latency-ms 100]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _fake import HIGH_LIMITS, fake_server_process

SIZES = (1, 10, 50, 100, 500, 2048)
TIER_1 = ("--rpm", "3000", "--tpm", "1000000")


def write_job(folder: Path, items: int, pack: int) -> Path:
    rows = "".join(
        f"t{i},Question {i}: how is a token counted in a long text?\n" for i in range(items)
    )
    (folder / "texts.csv").write_text("id,text\n" + rows, encoding="utf-8")
    job = folder / "embed.yaml"
    job.write_text(
        "endpoint: /v1/embeddings\nmodel: text-embedding-3-small\n"
        f"pack: {pack}\ntemplate: '{{text}}'\ninputs: texts.csv\n",
        encoding="utf-8",
    )
    return job


def run_once(url: str, items: int, pack: int, limits: tuple[str, ...]) -> tuple[float, float, int]:
    """(wall seconds, batchbot's CPU seconds, requests sent) for one run."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        job = write_job(folder, items, pack)
        env = {**os.environ, "OPENAI_API_KEY": "sk-bench"}
        sent_before = server_requests(url)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "batchbot",
                "run",
                str(job),
                "--base-url",
                url,
                "-q",
                "--db",
                str(folder / "b.db"),
                *limits,
            ],
            check=True,
            env=env,
        )
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        with sqlite3.connect(folder / "b.db") as db:
            (answered,) = db.execute("SELECT count(*) FROM requests WHERE status = 'ok'").fetchone()
        assert answered == items, (answered, items)
        return wall, cpu, server_requests(url) - sent_before


def server_requests(url: str) -> int:
    """The requests the fake server has received so far."""
    stats_url = url.removesuffix("/v1") + "/_fake/stats"
    with urllib.request.urlopen(stats_url, timeout=5) as answer:
        return int(json.load(answer)["requests"])


def table(title: str, url: str, items: int, limits: tuple[str, ...]) -> None:
    print(f"\n{title}: {items:,} items")
    print("| pack | requests | wall s | items/s | batchbot CPU ms/item |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for pack in SIZES:
        wall, cpu, requests = run_once(url, items, pack, limits)
        print(
            f"| {pack} | {requests:,} | {wall:.1f} | {items / wall:,.0f} | "
            f"{cpu * 1000 / items:.2f} |",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1000)
    parser.add_argument("--unpaced-items", type=int, default=5000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    latency = ("--latency-ms", str(args.latency_ms))
    with fake_server_process(*TIER_1, *latency) as url:
        table("paced at tier 1 (3,000 RPM)", url, args.items, TIER_1)
    with fake_server_process(*HIGH_LIMITS, *latency) as url:
        table("unpaced", url, args.unpaced_items, HIGH_LIMITS)


if __name__ == "__main__":
    main()
