"""A sync run's live counters: its tally, what is under way, and the one status line showing it.

The dispatcher only bumps these counters; `run.progress` hands them to a display a few times a
second, so drawing never costs anything per request.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from batchbot.money.usd import usd
from batchbot.tally import Tally

WIDTH = 80  # a status line never wraps in a terminal this wide


@dataclass(kw_only=True)
class RunStats(Tally):
    """Live counters of one sync run: its tally, and what is under way right now.

    `charged_tokens` is what the limiter charged against tokens/min (prompt plus allowance);
    `rpm_limit`, `tpm_limit` and `budget_left` are the limits in force, kept current by the run.
    """

    job: str
    total: int
    skipped: int = 0
    retrying: int = 0
    in_flight: int = 0
    requests: int = 0
    charged_tokens: int = 0
    rpm_limit: float | None = None
    tpm_limit: float | None = None
    budget_left: float | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.ok + self.truncated + self.invalid + self.refused + self.failed

    @property
    def to_send(self) -> int:
        return self.total - self.skipped

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def per_minute(self, count: int) -> float:
        return count * 60.0 / self.elapsed if self.elapsed > 0 else 0.0

    def line(self, width: int = WIDTH) -> str:
        """The run at a glance, at most `width` characters: the least needed parts go first."""
        parts = [f"{self.done:,}/{self.to_send:,}", f"ok {self.ok + self.truncated:,}"]
        parts += [f"{self.truncated:,} cut off"] if self.truncated else []
        parts += [f"{self.invalid:,} invalid"] if self.invalid else []
        parts += [f"{self.refused:,} refused"] if self.refused else []
        parts += [f"{self.reasks:,} re-asked"] if self.reasks else []
        parts += [f"{self.failed:,} failed"] if self.failed else []
        parts += [f"{self.retrying:,} retrying"] if self.retrying else []
        droppable = [self._pace(), self._money(), self._eta()]
        while droppable:
            text = " · ".join(parts + [part for part in droppable if part])
            if len(text) <= width:
                return text
            droppable.pop()
        return " · ".join(parts)[:width]

    def _pace(self) -> str:
        """Which limit holds the pace: the one the run uses the larger share of.

        The share counts tokens as the limiter charges them (prompt plus allowance); the
        figure shown is the tokens answers really used, which is what the bill counts.
        """
        requests, charged = self.per_minute(self.requests), self.per_minute(self.charged_tokens)
        rpm_share = requests / self.rpm_limit if self.rpm_limit else 0.0
        tpm_share = charged / self.tpm_limit if self.tpm_limit else 0.0
        if self.tpm_limit and tpm_share >= rpm_share:
            return self._against("TPM", self.prompt_tokens + self.completion_tokens, self.tpm_limit)
        if self.rpm_limit:
            return self._against("RPM", self.requests, self.rpm_limit)
        return f"{_short(requests)} req/min"

    def _against(self, kind: str, count: int, limit: float) -> str:
        """`RPM-bound 480/500`: the rate since the start against its per-minute limit.

        The server's buckets start full, so a run may send a whole minute's worth at once and
        then keep to the limit: its rate since the start is above the limit, truthfully, by
        no more than one bucket. That reads as breaking the limit, so it is marked as the full
        bucket being spent; a rate beyond even that (say, after the limit came down) is not.
        """
        rate = self.per_minute(count)
        figures = f"{_short(rate)}/{_short(limit)}"
        if rate > limit and count <= limit * (1 + self.elapsed / 60):
            return f"{kind} {figures} (full bucket)"
        return f"{kind}-bound {figures}"

    def _money(self) -> str:
        spent = f"{usd(self.cost_usd)} spent"
        if self.budget_left is None:
            return spent
        return f"{spent}, {usd(max(self.budget_left, 0.0))} left"

    def _eta(self) -> str:
        left = self.to_send - self.done
        if not self.done or left <= 0:
            return ""
        return f"ETA {_duration(left * self.elapsed / self.done)}"


def _short(value: float) -> str:
    """480, 107k, 1.2M: a rate or a limit in a few characters."""
    if value >= 999_500:
        return f"{value / 1e6:.3g}M"
    if value >= 10_000:
        return f"{value / 1e3:.0f}k"
    return f"{value:,.0f}"


def _duration(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"
