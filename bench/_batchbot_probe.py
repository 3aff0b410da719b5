"""`batchbot` with what the benchmarks measure from inside: event-loop lag, and a transport.

    python bench/_batchbot_probe.py [--httpx] [--lag-file FILE] run JOB [options]

--httpx swaps openai's aiohttp transport, which batchbot uses, for its default httpx one, so
both can be timed on the same workload. --lag-file gets a JSON list of how late, in seconds,
a task that sleeps 10 ms at a time woke up on batchbot's event loop while it sent (from
the first answer, which comes after the vocabulary is loaded, to the last one written).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import openai

from batchbot.cli import cli
from batchbot.run import runner

TICK_S = 0.01


async def watch_lag(samples: list[float], stats: Any) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(TICK_S)
        if stats.ok + stats.truncated + stats.failed:  # from the first answer on
            samples.append(loop.time() - start - TICK_S)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--httpx"]:
        args = args[1:]
        openai.DefaultAioHttpClient = openai.DefaultAsyncHttpxClient  # type: ignore[misc]
    lag_file = None
    if args[:1] == ["--lag-file"]:
        lag_file, args = Path(args[1]), args[2:]
    samples: list[float] = []
    execute = runner._execute

    async def watched(run: Any, display: Any) -> Any:
        watcher = asyncio.create_task(watch_lag(samples, run.stats))
        try:
            return await execute(run, display)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher

    runner._execute = watched
    try:
        cli.main(args, prog_name="batchbot")
    finally:
        if lag_file is not None:
            lag_file.write_text(json.dumps(samples))


if __name__ == "__main__":
    main()
