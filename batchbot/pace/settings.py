"""The limiter's settings: the limits to pace at, and the knobs of pacing, checked once.

One frozen value, as httpx keeps its `Limits` and `Timeout`: every knob has its default
here, and an impossible one fails where the settings are made, naming the setting.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

from batchbot.pace.guard import KINDS


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """What a `Limiter` paces at, and how.

    `rpm` / `tpm`: the limits per minute; None means unlimited. `concurrency`: how many
    items may be in flight (sent, or waiting to retry, and not yet committed).
    `burst_seconds`: how much of the limit may pass at once. `headroom`: the fraction of the
    limit to aim for. `window_s`: the span no part of which may hold more than its share of
    the limit; `slack_s`: how much longer the guard counts, for transit jitter.
    `raise_after_s`: how long the server must report a higher limit before it is followed.
    `caps`: which of "requests" and "tokens" the configured limit is a hard ceiling for (the
    user set it; it is not a preset): never raised, never burst above, never exceeded in any
    rolling minute. `probe`: send one request alone before the server has said anything,
    waiting at most `probe_wait_s` for its word (see `probe`). `token_count`: "exact" or
    "chars", to charge requests by whatever the server's evidence (see `calibration`).
    """

    rpm: float | None
    tpm: float | None
    concurrency: int
    burst_seconds: float = 0.1
    headroom: float = 0.99
    window_s: float = 1.0
    slack_s: float = 0.005
    raise_after_s: float = 2.0
    caps: Collection[str] = field(default=frozenset())
    probe: bool = False
    probe_wait_s: float = 10.0
    token_count: str | None = None

    def __post_init__(self) -> None:
        _check_positive("rpm", self.rpm)
        _check_positive("tpm", self.tpm)
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {self.concurrency}")
        if not self.burst_seconds > 0:
            raise ValueError(f"burst_seconds must be positive, not {self.burst_seconds}")
        if not 0 < self.headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], not {self.headroom}")
        if not (self.window_s > 0 and self.slack_s >= 0):
            raise ValueError(
                f"window_s must be positive and slack_s not negative, not {self.slack_s}"
            )
        object.__setattr__(self, "caps", frozenset(self.caps))

    @property
    def limits(self) -> dict[str, float | None]:
        """The configured limit per kind ("requests", "tokens")."""
        return dict(zip(KINDS, (self.rpm, self.tpm), strict=True))

    @property
    def ceilings(self) -> dict[str, float]:
        """The user's limits, per capped kind that has one: a ceiling for any minute."""
        return {kind: limit for kind in self.caps if (limit := self.limits[kind]) is not None}


def _check_positive(name: str, value: float | None) -> None:
    if value is not None and not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a positive number or None (unlimited), not {value}")
