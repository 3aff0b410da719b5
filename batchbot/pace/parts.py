"""The limiter's parts, built together: each is small and testable alone, and this is the
one place that wires them to each other (see `limiter` for what each does)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from batchbot.pace.aim import Aim
from batchbot.pace.buckets import Buckets
from batchbot.pace.calibration import Calibration
from batchbot.pace.dialect import HeaderReader
from batchbot.pace.guard import Guard
from batchbot.pace.headroom import Headroom
from batchbot.pace.pacer import Pacer
from batchbot.pace.pause import Pause
from batchbot.pace.probe import Probe
from batchbot.pace.settings import Settings
from batchbot.pace.tally import Tally


@dataclass(frozen=True, slots=True)
class Parts:
    """The parts of one limiter that pace requests and learn from the server."""

    pause: Pause
    pacer: Pacer
    probe: Probe
    reader: HeaderReader
    calibration: Calibration
    aim: Aim
    tally: Tally

    @classmethod
    def build(cls, settings: Settings, wall_clock: Callable[[], float] = time.time) -> Parts:
        """The parts for `settings`, wired; `wall_clock` places a fixed-minute server's
        minutes. Inside the running event loop."""
        loop = asyncio.get_running_loop()
        pause, tally = Pause(), Tally()
        pacer = Pacer(settings, tally, paused_until=lambda: pause.until)
        reader = HeaderReader(wall_offset=wall_clock() - loop.time())
        calibration = Calibration(settings.token_count)
        probe = Probe(enabled=settings.probe, wait_s=settings.probe_wait_s)
        aim = Aim(reader, calibration, pacer.aims)
        return cls(pause, pacer, probe, reader, calibration, aim, tally)

    @property
    def buckets(self) -> Buckets:
        return self.pacer.buckets

    @property
    def guard(self) -> Guard:
        return self.pacer.guard

    @property
    def headroom(self) -> Headroom:
        return self.pacer.headroom
