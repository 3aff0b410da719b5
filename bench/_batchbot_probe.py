"""`batchbot` with what the benchmarks measure from inside: event-loop lag, and a transport.

    python bench/_batchbot_probe.py [--httpx] [--lag-file FILE] run JOB [options]

--httpx swaps openai's aiohttp transport, which batchbot uses, for its default httpx one, so
both can be timed on the same workload. --lag-file gets a JSON list of how late, in seconds,
a task that sleeps 10 ms at a time woke up on batchbot's event loop while it sent (from
the first answer, which comes after the vocabulary is loaded, to the last one written).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import openai

from batchbot.cli import cli
from batchbot.run import progress

TICK_S = 0.01


async def watch_lag(samples: list[float], stats: Any) -> None:
    loop = asyncio.get_running_loop()
    while True:
        start = loop.time()
        await asyncio.sleep(TICK_S)
        if stats.ok + stats.truncated + stats.failed:  # from the first answer on
            samples.append(loop.time() - start - TICK_S)


class LagWatch:
    """The run's own display, plus a lag watcher from the run's start to its stop.

    A run hands its display the live counters on the event loop that sends, so the watcher
    runs on that loop, through the public display interface (`batchbot.run.progress.Display`).
    """

    def __init__(self, display: progress.Display, samples: list[float]) -> None:
        self._display, self._samples = display, samples
        self._watcher: asyncio.Task[None] | None = None

    def checking(self, job: str, count: int) -> None:
        self._display.checking(job, count)

    def start(self, stats: Any) -> None:
        self._watcher = asyncio.get_running_loop().create_task(watch_lag(self._samples, stats))
        self._display.start(stats)

    def refresh(self, stats: Any) -> None:
        self._display.refresh(stats)

    def stop(self, stats: Any) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
        self._display.stop(stats)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--httpx"]:
        args = args[1:]
        openai.DefaultAioHttpClient = openai.DefaultAsyncHttpxClient  # type: ignore[misc]
    lag_file = None
    if args[:1] == ["--lag-file"]:
        lag_file, args = Path(args[1]), args[2:]
    samples: list[float] = []
    make_display = progress.make_display
    # The CLI builds its display through this public function: wrap what it returns.
    progress.make_display = lambda **options: LagWatch(make_display(**options), samples)
    try:
        cli.main(args, prog_name="batchbot")
    finally:
        if lag_file is not None:
            lag_file.write_text(json.dumps(samples))


if __name__ == "__main__":
    main()
