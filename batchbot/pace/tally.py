"""What the limiter let through, and what waits: the headroom's bookkeeping.

All that went is counted as the server counts it (requests, and tokens as charged), so
that what the headers say a bucket held can be brought up to now (`levels`). What waits is
counted the same way; once the run has asked for every request it will send (`last_call`),
that is all that is left, and a burst need keep nothing back for later ones (see
`headroom`). Create it inside the running event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from batchbot.pace.guard import KINDS
from batchbot.pace.levels import Sent


class Tally:
    """All sent so far (`charged`), and all waiting now, per kind."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.charged = dict.fromkeys(KINDS, 0.0)  #: all sent, as the server counts it
        self._waiting = dict.fromkeys(KINDS, 0.0)
        self._last_call = False  # every request the run will send is waiting, or sent

    @contextmanager
    def waiting(self, amounts: Mapping[str, float]) -> Iterator[None]:
        """Count `amounts` as waiting while the block runs."""
        for kind in KINDS:
            self._waiting[kind] += amounts[kind]
        try:
            yield
        finally:
            for kind in KINDS:
                self._waiting[kind] -= amounts[kind]

    def went(self, at: float, requests: float, tokens: float) -> Sent:
        """Count a request as sent at `at`: where the tally stands, it included."""
        self.charged["requests"] += requests
        self.charged["tokens"] += tokens
        return Sent(at, self.charged["requests"], self.charged["tokens"])

    def sent(self) -> Sent:
        """All sent so far, as of now."""
        return Sent(self._loop.time(), self.charged["requests"], self.charged["tokens"])

    @property
    def requests_waiting(self) -> float:
        return self._waiting["requests"]

    def last_call(self) -> None:
        """Every request the run will send has been asked for."""
        # From the loop's next turn: tasks just created to ask have not run yet.
        self._loop.call_soon(self._hear_last_call)

    def _hear_last_call(self) -> None:
        self._last_call = True

    def left(self) -> dict[str, float] | None:
        """After the last call, what is still to be sent (None before it)."""
        return dict(self._waiting) if self._last_call else None
