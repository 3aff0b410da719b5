"""What a run shows while it works: a rich display on a terminal, plain lines otherwise.

The dispatcher only bumps counters in `RunStats`; a ticker hands them to the display a few times
a second, so drawing never costs anything per request.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from typing import Protocol, TextIO

from batchbot.summary import Tally

PLAIN_EVERY_S = 10.0


@dataclass(kw_only=True)
class RunStats(Tally):
    """Live counters of one sync run: its tally, and what is under way right now."""

    job: str
    total: int
    skipped: int = 0
    retrying: int = 0
    in_flight: int = 0
    requests: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.ok + self.truncated + self.failed

    @property
    def to_send(self) -> int:
        return self.total - self.skipped

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def per_minute(self, count: int) -> float:
        return count * 60.0 / self.elapsed if self.elapsed > 0 else 0.0

    def line(self) -> str:
        tokens = self.prompt_tokens + self.completion_tokens
        return (
            f"{self.done:,}/{self.to_send:,} done · ok {self.ok + self.truncated:,} · "
            f"failed {self.failed:,} · retrying {self.retrying:,} · "
            f"{self.per_minute(self.requests):,.0f} req/min · "
            f"{self.per_minute(tokens):,.0f} tok/min"
        )


class Display(Protocol):
    def checking(self, job: str, items: int) -> None:
        """A big job is still being checked: `items` so far, nothing sent yet."""

    def start(self, stats: RunStats) -> None: ...
    def refresh(self, stats: RunStats) -> None: ...
    def stop(self, stats: RunStats) -> None: ...


class Silent:
    def checking(self, job: str, items: int) -> None:
        pass

    def start(self, stats: RunStats) -> None:
        pass

    def refresh(self, stats: RunStats) -> None:
        pass

    def stop(self, stats: RunStats) -> None:
        pass


class PlainLines:
    """For logs and cron mail: a line now and then, never a control character."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._last = -math.inf

    def checking(self, job: str, items: int) -> None:
        if time.monotonic() - self._last >= PLAIN_EVERY_S:
            self._last = time.monotonic()
            self._print(f"{job}: checking the job file, {items:,} items so far; nothing sent yet")

    def start(self, stats: RunStats) -> None:
        self._last = time.monotonic()
        self._print(f"{stats.job}: {stats.total:,} items")

    def refresh(self, stats: RunStats) -> None:
        if time.monotonic() - self._last >= PLAIN_EVERY_S:
            self._last = time.monotonic()
            self._print(f"{stats.job}: {stats.line()}")

    def stop(self, stats: RunStats) -> None:
        pass

    def _print(self, text: str) -> None:
        print(text, file=self._stream, flush=True)


class RichBar:
    """Done/total, a bar, counts, rates and ETA, redrawn in place."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[detail]}"),
            console=Console(file=stream),
            transient=False,
        )
        self._task = self._progress.add_task("", total=None, detail="", start=False)

    def checking(self, job: str, items: int) -> None:
        # Redrawn by rich's own thread, so the count moves while the check holds this one.
        self._progress.update(
            self._task, description=job, detail=f"checking the job file: {items:,} items"
        )
        self._progress.start()

    def start(self, stats: RunStats) -> None:
        self._progress.update(
            self._task, description=stats.job, total=stats.to_send, completed=0, detail=""
        )
        self._progress.start_task(self._task)
        self._progress.start()

    def refresh(self, stats: RunStats) -> None:
        detail = (
            f"ok {stats.ok + stats.truncated:,} · failed {stats.failed:,} · "
            f"retrying {stats.retrying:,} · {stats.per_minute(stats.requests):,.0f} req/min · "
            f"{stats.per_minute(stats.prompt_tokens + stats.completion_tokens):,.0f} tok/min"
        )
        self._progress.update(self._task, completed=stats.done, total=stats.to_send, detail=detail)

    def stop(self, stats: RunStats) -> None:
        self.refresh(stats)
        self._progress.stop()


def make_display(*, quiet: bool, stream: TextIO | None = None) -> Display:
    stream = stream or sys.stderr
    if quiet:
        return Silent()
    if stream.isatty():
        return RichBar(stream)
    return PlainLines(stream)
