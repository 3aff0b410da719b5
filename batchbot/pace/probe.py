"""Probing: until the server has said anything, one request goes alone.

The tier may be wrong, and until the first answer comes back nobody knows: sending at the
tier's pace for a whole answer's latency can spend seconds' worth of a smaller limit in 429s.
So the first request goes alone; the rest wait for the server's first word (headers, or a
429), or `wait_s` if none comes. Limits an earlier run read (`Limiter.start_from`) are the
server's word already; the run decides whether its limits may be too high at all.
"""

from __future__ import annotations

import asyncio
import contextlib


class Probe:
    """The first request's turn alone, and the wait for the server's first word."""

    def __init__(self, *, enabled: bool, wait_s: float) -> None:
        self._heard = asyncio.Event()  # set once the server has said anything
        if not enabled:
            self._heard.set()
        self._sent = False
        self._wait_s = wait_s

    def heard(self) -> None:
        """The server has spoken (or will not): no request need wait for it any more."""
        self._heard.set()

    async def turn(self) -> None:
        """Return at once for the probe itself and once the server has spoken; else wait."""
        if self._heard.is_set():
            return
        if not self._sent:
            self._sent = True  # this request is the probe
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._heard.wait(), self._wait_s)
        self._heard.set()  # no word in time: go on at the configured pace
