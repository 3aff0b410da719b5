"""The share of the limits to aim at: what the key leaves this run, per kind.

Three things lower it below 1, and the lowest wins:

- Another client spending the key: the `remaining` counts show what it leaves us (see
  `sharing`). That estimate goes blind once the server's bucket is empty (the other client
  is refused too, so nothing of it is counted), and says nothing when the counts rise faster
  than a minute's bucket refills (see `calibration`). A share just under 1 is the estimate's
  noise, not another client: following it would only lose throughput.
- A fixed-minute server's window running dry before it turns (see `dialect`).
- 429s nothing explains, coming repeatedly (`learning.Backoff`).

Runs on this machine that share the key divide it (`share`, see `hostshare`); a run given
none of it is held (`given`) until the others make room. The limiter charges every request
proportionally more units while the aim is below 1, so its buckets keep their level and rate.
Create it inside the running event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping

from batchbot.pace.calibration import Calibration
from batchbot.pace.dialect import HeaderReader
from batchbot.pace.guard import KINDS
from batchbot.pace.learning import Backoff

ALL_OF_IT = 0.95  # a share of the key this close to all of it is all of it
MIN_HOST = 0.01  # a run given none of the key is held instead


class Aim:
    """The pace to aim at, from the server's counts (`reader`, believed unless `calibration`
    finds they lie), 429s, and this machine's share of the key. `aims()`: the pace per minute
    the buckets keep to now, per kind (None: unlimited)."""

    def __init__(
        self,
        reader: HeaderReader,
        calibration: Calibration,
        aims: Callable[[], Mapping[str, float | None]],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._reader, self._calibration, self._aims = reader, calibration, aims
        self._backoff = Backoff()
        self._host = dict.fromkeys(KINDS, 1.0)  # this machine's share of the key
        self.alone = True  #: no other run on this machine spends the key
        self._given = asyncio.Event()  # clear while this run's share is none at all
        self._given.set()

    @property
    def headers_lie(self) -> bool:
        """Remaining counts that rise faster than a minute's bucket refills are not what the
        server's per-minute buckets hold: another client, headroom, the server's count."""
        return self._calibration.headers_lie or self._reader.lies

    def paces(self) -> dict[str, float]:
        """The share of the limits to aim at, per kind."""
        key = self.key()
        return {kind: share * key for kind, share in self._host.items()}

    def key(self) -> float:
        """What the key leaves this machine's runs: the headers' word, and 429s'."""
        now = self._loop.time()
        shares = [] if self.headers_lie else self._reader.bucket_shares()
        window = self._reader.window_share(now, dict(self._aims()))
        own = (share if share < ALL_OF_IT else 1.0 for share in shares)
        return min(self._backoff.pace(now), window, *own)

    def refused(self) -> bool:
        """Count a 429 nothing explains; True if it is one too many (the pace is cut), False
        if it is an accident of timing."""
        shared = min(self._reader.bucket_shares(), default=1.0) < ALL_OF_IT
        return self._backoff.refused(self._loop.time(), self.key(), shared=shared)

    def share(self, paces: Mapping[str, float], *, neighbours: bool) -> None:
        """Aim at `paces` of the limits, per kind, as this machine's runs divide the key."""
        self._host = {kind: max(MIN_HOST, paces[kind]) for kind in KINDS}
        self.alone = not neighbours
        if min(paces.values()) > 0:
            self._given.set()
        else:  # held until the others have made room
            self._given.clear()

    async def given(self) -> None:
        """Return once this run has some of the key."""
        await self._given.wait()
