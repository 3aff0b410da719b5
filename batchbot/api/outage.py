"""Telling "the server is away" from "this request failed", and waiting the first one out.

One refused connection is an ordinary transient error: the item retries with backoff. But when
every request fails to connect, one after the other, across all workers, the server (or the
network) is down for everyone, and retrying item by item would burn every item's attempts in a
minute and mark the whole job failed. So after `threshold` connection failures in a row with
no answer between them, the run is in an outage: the whole limiter pauses, workers probe again
with a growing delay, and those attempts are recorded but do not count against any item. The
first answer ends the outage. If none comes within `max_wait_s`, the run stops (exit 3) and
the unanswered items stay pending for the next run.
"""

from __future__ import annotations

from batchbot.api.exceptions import MalformedResponse, StatusError

DEFAULT_THRESHOLD = 3
FIRST_PROBE_S = 1.0
MAX_PROBE_S = 15.0

UNREACHABLE = (
    "Could not connect to the API at {url} for {seconds:.0f} s (--outage-wait): check the "
    "network, the server and --base-url, then rerun; answered items are kept."
)


def server_answered(exc: BaseException) -> bool:
    """An error the server sent (a status, a broken body): it is there, if unhappy."""
    return isinstance(exc, StatusError | MalformedResponse)


class OutageWatch:
    """Counts connection failures in a row across all workers; times an outage from its start."""

    def __init__(self, *, max_wait_s: float, threshold: int = DEFAULT_THRESHOLD) -> None:
        self.max_wait_s = max_wait_s
        self.threshold = threshold
        self._in_a_row = 0
        self._since: float | None = None  # loop time of the first failure of the streak
        self.answers = 0  # how many times the server answered; tells "only me" from "everyone"

    @property
    def active(self) -> bool:
        return self._in_a_row >= self.threshold

    def failed(self, now: float) -> None:
        """A request could not connect."""
        if self._in_a_row == 0:
            self._since = now
        self._in_a_row += 1

    def answered(self) -> None:
        """The server answered something (even an error status): it is there."""
        self.answers += 1
        self._in_a_row = 0
        self._since = None

    def waited(self, now: float) -> float:
        return 0.0 if self._since is None else now - self._since

    def exceeded(self, now: float) -> bool:
        return self.waited(now) >= self.max_wait_s

    def next_probe_in(self, now: float) -> float:
        """Seconds to hold the whole run before the next try: half the time waited so far,
        from 1 to 15 s, within the limit. Time, not failures, sets it: eight workers
        failing at once are one probe, not eight."""
        delay = min(MAX_PROBE_S, max(FIRST_PROBE_S, self.waited(now) / 2))
        return max(0.05, min(delay, self.max_wait_s - self.waited(now)))
