"""kill -9 a real `batchbot run` under a daily budget many times, then compare the cap with what
the server billed.

    python bench/soak_budget.py                    # 30 kills, $0.05 a day, about a minute
    python bench/soak_budget.py --kills 100 --cap 0.2 --concurrency 50

Each cycle starts `python -m batchbot run --max-cost-per-day CAP` against a fake API served
from this process (answers take --latency-ms), waits until the server has taken a few dozen of
its requests and kills it with SIGKILL while its requests are on the wire; then a last run
spends what is left of the day. The server bills every answer it makes, a killed client's
included (FakeStats.billed), priced here at OpenAI's published gpt-4o-mini rates, so the figure
is the provider's view, not batchbot's: it must not pass the cap. Talks only to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from batchbot.fake.server import FakeServer

INPUT_USD, OUTPUT_USD = 0.15, 0.60  # gpt-4o-mini, USD per million tokens


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--cap", type=float, default=0.05)
    parser.add_argument("--items", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=200.0)
    args = parser.parse_args()
    # A client killed while sending its body makes aiohttp log a traceback; that is the point.
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)
    server = FakeServer(latency_ms=args.latency_ms).start_in_thread()
    started = time.monotonic()
    try:
        with tempfile.TemporaryDirectory(prefix="batchbot-budget-") as tmp:
            work = Path(tmp)
            job = work / "job.yaml"
            prompts = "".join(
                f"  - Question number {i} about the weather?\n" for i in range(args.items)
            )
            job.write_text(f"model: gpt-4o-mini\nparams: {{max_tokens: 200}}\nprompts:\n{prompts}")
            caught = 0
            for _ in range(args.kills):
                before = server.stats.requests
                proc = start_run(job, server.url, work, args)
                deadline = time.monotonic() + 60
                while server.stats.requests < before + 2 * args.concurrency:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        break
                    time.sleep(0.005)
                caught += server.stats.requests > before
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
            time.sleep(args.latency_ms / 1000 + 0.1)  # the server finishes what was sent
            last = start_run(job, server.url, work, args).wait(timeout=600)
            recorded, left, worst = figures(work / "batchbot.db")
            stats = server.stats
    finally:
        server.stop()
    bill = stats.billed.get("gpt-4o-mini", {})
    billed = billed_usd(bill)
    print(
        f"kills:                  {args.kills} ({caught} with requests on the wire; concurrency "
        f"{args.concurrency}, answers in {args.latency_ms:g} ms)\n"
        f"last run:               exit {last}\n"
        f"billed by the server:   ${billed:.6f} for {bill.get('requests', 0)} answers"
        f" (cap ${args.cap:g}; {stats.duplicates} asked twice)\n"
        f"recorded by batchbot:   ${recorded:.6f}\n"
        f"left reserved by kills: {left} requests, ${worst:.6f} at their worst case\n"
        f"wall time:              {time.monotonic() - started:.0f} s"
    )
    return 0 if billed <= args.cap else 1


def start_run(job: Path, url: str, cwd: Path, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "BATCHBOT_"))}
    env["OPENAI_API_KEY"] = "sk-soak"
    argv = [sys.executable, "-m", "batchbot", "run", str(job), "--base-url", url, "--quiet"]
    argv += ["--max-cost-per-day", str(args.cap), "--concurrency", str(args.concurrency)]
    argv += ["--rpm", "1000000", "--tpm", "1000000000"]
    return subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def billed_usd(billed: dict[str, int]) -> float:
    return (
        billed.get("input_tokens", 0) * INPUT_USD + billed.get("output_tokens", 0) * OUTPUT_USD
    ) / 1e6


def figures(db: Path) -> tuple[float, int, float]:
    """(USD recorded, reservations left, their worst case)."""
    with sqlite3.connect(db) as conn:
        (recorded,) = conn.execute("select coalesce(sum(cost_usd), 0) from requests").fetchone()
        left, worst = conn.execute(
            "select count(*), coalesce(sum(worst_usd), 0) from reservations"
        ).fetchone()
    return float(recorded), int(left), float(worst)


if __name__ == "__main__":
    sys.exit(main())
