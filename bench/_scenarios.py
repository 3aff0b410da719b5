"""The pacing benchmark's scenarios: limits, how the server enforces and counts, workloads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BIG_TPM = 10_000_000  # a limit that never binds
BIG_RPM = 10_000


@dataclass(frozen=True)
class Scenario:
    name: str
    rpm: int  # enforced by the server
    tpm: int
    max_tokens: int = 50
    windows: str = "buckets"  # "sliding": also no more than the share in any 1-s span
    window_s: float = 60.0  # how many seconds' worth the server's buckets hold
    count: str = "exact"  # how the server counts tokens: exact, chars, x1.15, ...
    workload: str = "questions"  # or "mixed": 10-1,500 words, max_tokens 64-512
    tier: str | None = None  # batchbot starts from this preset; None: it is told the limits
    reported: tuple[int, int] | None = None  # what the server reports, if not the limits
    other_share: float = 0.0  # share of the limits another client spends all along
    drop_at_s: float | None = None  # when the server lowers its limits...
    drop_to: tuple[int, int] | None = None  # ...to these
    start_full: bool = False  # the server's buckets start full (an idle key), not empty
    quick: bool = False  # part of --quick
    runs: int = 1  # this many runs of each client on the key, each with the scenario's items...
    after_s: float = 0.0  # ...each started this long after the one before
    cap: tuple[int, int] | None = None  # the limits the user sets, below the server's
    items: int | None = None  # items to send, if not as many as the limits allow in --seconds
    note: str = ""

    def limits_at(self, second: float) -> tuple[float, float]:
        """The requests and tokens per minute left for our client at `second`."""
        if self.cap is not None:
            return self.cap
        rpm, tpm = self.rpm, self.tpm
        if self.drop_at_s is not None and self.drop_to and second >= self.drop_at_s:
            rpm, tpm = self.drop_to
        return rpm * (1 - self.other_share), tpm * (1 - self.other_share)


def _sliding(name: str, note: str, **settings: Any) -> Scenario:
    return Scenario(name, windows="sliding", note=note, **{"quick": True, **settings})


TPM_BOUND = {"rpm": BIG_RPM, "tpm": 300_000, "max_tokens": 200}
SCENARIOS = [
    _sliding("sliding-rpm", "3,000 RPM, sliding 1-s windows", rpm=3000, tpm=BIG_TPM),
    _sliding("sliding-tpm", "300,000 TPM, max_tokens 200, sliding 1-s windows", **TPM_BOUND),
    _sliding(
        "sliding-chars",
        "sliding-tpm, server counts 4 characters a token",
        count="chars",
        **TPM_BOUND,
    ),
    _sliding("sliding-more", "sliding-tpm, server counts 15 % more", count="x1.15", **TPM_BOUND),
    _sliding("sliding-less", "sliding-tpm, server counts 15 % less", count="x0.85", **TPM_BOUND),
    _sliding(
        "sliding-mixed",
        "1,200,000 TPM, prompts of 10-1,500 words, max_tokens 64-512, sliding 1-s windows",
        rpm=BIG_RPM,
        tpm=1_200_000,
        workload="mixed",
    ),
    _sliding(
        "sliding-lower",
        "server 1,500 RPM over sliding windows; tier-2 says 5,000 / 2,000,000",
        rpm=1500,
        tpm=2_000_000,
        tier="tier-2",
    ),
    Scenario("rpm-bound", rpm=3000, tpm=BIG_TPM, note="3,000 RPM"),
    Scenario("tpm-bound", rpm=BIG_RPM, tpm=400_000, max_tokens=200, note="400,000 TPM"),
    Scenario("1s-windows", rpm=3000, tpm=BIG_TPM, window_s=1.0, note="3,000 RPM as 50/s"),
    Scenario(
        "1s-windows-tpm",
        rpm=BIG_RPM,
        tpm=400_000,
        max_tokens=200,
        window_s=1.0,
        note="400,000 TPM as 6,667 a second",
    ),
    Scenario(
        "tier-says-more",
        rpm=1500,
        tpm=2_000_000,
        tier="tier-2",
        note="server 1,500 RPM / 2,000,000 TPM; tier-2 says 5,000 / 2,000,000",
    ),
    Scenario(
        "tier-says-less",
        rpm=3000,
        tpm=BIG_TPM,
        tier="tier-1",
        note="server 3,000 RPM / 10,000,000 TPM; tier-1 says 500 / 200,000",
    ),
    Scenario(
        "shared-key",
        rpm=3000,
        tpm=BIG_TPM,
        other_share=0.5,
        quick=True,
        note="another client spends 1,500 of 3,000 RPM",
    ),
    Scenario(
        "two-runs",
        rpm=3000,
        tpm=BIG_TPM,
        window_s=1.0,
        runs=2,
        after_s=5.0,
        note="two runs on one key, the second 5 s after the first, 3,000 RPM as 50/s",
    ),
    _sliding(
        "chars-700",
        "sliding-chars with 700 items, as OpenAI's rate limiter counts: characters / 4 + "
        "max_tokens",
        count="chars",
        items=700,
        quick=False,
        **TPM_BOUND,
    ),
    Scenario(
        "user-cap",
        rpm=3000,
        tpm=BIG_TPM,
        cap=(600, BIG_TPM),
        start_full=True,
        items=700,
        note="--rpm 600 set by the user, server 3,000 RPM with its buckets full, 700 items",
    ),
    Scenario(
        "mid-run-drop",
        rpm=3000,
        tpm=BIG_TPM,
        drop_at_s=8.0,
        drop_to=(1500, BIG_TPM),
        note="3,000 RPM, 1,500 from second 8",
    ),
]
TIER1 = [
    Scenario(
        f"tier-1 {windows}",
        rpm=500,
        tpm=200_000,
        windows=windows,
        workload="mixed",
        tier="tier-1",
        start_full=True,
        note=f"2,000 mixed items, 500 RPM / 200,000 TPM, {what}",
    )
    for windows, what in (
        ("buckets", "per-minute buckets that start full"),
        ("sliding", "the same and sliding 1-s windows"),
    )
]
