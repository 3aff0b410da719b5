"""What a run shows while it works: a rich display on a terminal, plain lines otherwise.

The dispatcher only bumps counters in `RunStats`; a ticker hands them to the display a few times
a second, so drawing never costs anything per request.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Protocol, TextIO

from batchbot.inert import printable
from batchbot.sync.stats import WIDTH, RunStats
from batchbot.tally import items

PLAIN_EVERY_S = 10.0


class Display(Protocol):
    def checking(self, job: str, count: int) -> None:
        """A big job is still being checked: `count` items so far, nothing sent yet."""

    def start(self, stats: RunStats) -> None: ...
    def refresh(self, stats: RunStats) -> None: ...
    def stop(self, stats: RunStats) -> None: ...


class Silent:
    def checking(self, job: str, count: int) -> None:
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

    def checking(self, job: str, count: int) -> None:
        if time.monotonic() - self._last >= PLAIN_EVERY_S:
            self._last = time.monotonic()
            self._print(f"{job}: checking the job file, {items(count)} so far; nothing sent yet")

    def start(self, stats: RunStats) -> None:
        self._last = time.monotonic()
        self._print(f"{stats.job}: {items(stats.total)}")

    def refresh(self, stats: RunStats) -> None:
        if time.monotonic() - self._last >= PLAIN_EVERY_S:
            self._last = time.monotonic()
            self._print(f"{stats.job}: {stats.line(WIDTH - len(stats.job) - 2)}")

    def stop(self, stats: RunStats) -> None:
        # Cut short (Ctrl-C, a stop): where it got to, once; a finished run has its summary.
        if stats.done < stats.to_send:
            self._print(f"{stats.job}: {stats.line(WIDTH - len(stats.job) - 2)}")

    def _print(self, text: str) -> None:
        print(printable(text), file=self._stream, flush=True)


class RichBar:
    """The status line, redrawn in place; left on screen, once, when the run ends."""

    def __init__(self, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import Progress, TextColumn

        self._console = Console(file=stream)
        self._progress = Progress(
            TextColumn("[bold]{task.description}[/bold] {task.fields[detail]}"),
            console=self._console,
            transient=True,  # stop() prints the last line itself, once
        )
        self._task = self._progress.add_task("", total=None, detail="", start=False)
        self._job = ""

    def checking(self, job: str, count: int) -> None:
        # Redrawn by rich's own thread, so the count moves while the check holds this one.
        self._progress.update(
            self._task, description=_shown(job), detail=f"checking the job file: {items(count)}"
        )
        self._progress.start()

    def start(self, stats: RunStats) -> None:
        self._job = stats.job
        self._progress.update(self._task, description=_shown(stats.job), detail="")
        self._progress.start_task(self._task)
        self._progress.start()

    def refresh(self, stats: RunStats) -> None:
        self._progress.update(self._task, detail=self._line(stats))

    def stop(self, stats: RunStats) -> None:
        self._progress.stop()
        self._console.print(
            f"[bold]{_shown(stats.job)}[/bold] {self._line(stats)}", highlight=False
        )

    def _line(self, stats: RunStats) -> str:
        width = min(self._console.width, WIDTH) - len(stats.job) - 1
        return _shown(stats.line(width))


def _shown(text: str) -> str:
    """Text as rich should print it: no control characters, and its [brackets] not markup."""
    from rich.markup import escape

    return escape(printable(text))


def make_display(*, quiet: bool, stream: TextIO | None = None) -> Display:
    stream = stream or sys.stderr
    if quiet:
        return Silent()
    if stream.isatty():
        return RichBar(stream)
    return PlainLines(stream)
