"""A run's rate limits, each with where it came from, checked once when they are chosen.

Where a limit came from decides what it is (docs/limits.md): one the user set (`--rpm`, the
job's `limits:`) is a ceiling the server may lower but never raise; a tier preset, or what the
server stated, is only where pacing starts.
"""

from __future__ import annotations

from dataclasses import dataclass

from batchbot.errors import ConfigError
from batchbot.jobs.values import RATE, checked

FLAG, JOB, PRESET, SERVER = "flag", "job", "preset", "server"
SOURCES = (FLAG, JOB, PRESET, SERVER)
SET_BY_USER = frozenset({FLAG, JOB})
# Who a bad value is blamed on, by source: `--rpm` reads `rpm` in the library's words.
WHERE = {
    FLAG: "{name}",
    JOB: "limits.{name} in the job file",
    PRESET: "the tier preset's {name}",
    SERVER: "the {name} the server stated",
}
KINDS = {"rpm": "requests", "tpm": "tokens"}  # as the limiter names them
Pair = tuple[float | None, float | None]  # (rpm, tpm)


@dataclass(frozen=True, slots=True)
class Limit:
    """One limit a minute (None: unlimited) and where it came from (one of `SOURCES`)."""

    value: float | None
    source: str

    @property
    def is_cap(self) -> bool:
        """Whether the user set it: a ceiling, even when it equals the preset (no limit is
        none)."""
        return self.source in SET_BY_USER and self.value is not None


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Requests and tokens a minute, each with its source; refused at once when out of range.

    The default is what a hand-built `Config` had before it named any: no limit, and none of
    them a ceiling.
    """

    rpm: Limit = Limit(None, PRESET)
    tpm: Limit = Limit(None, PRESET)

    def __post_init__(self) -> None:
        for name, limit in self.named():
            if limit.source not in SOURCES:
                raise ValueError(f"a limit's source is one of {SOURCES}, not {limit.source!r}")
            if limit.value is None:
                continue
            try:
                checked(limit.value, RATE)
            except ValueError as exc:
                where = WHERE[limit.source].format(name=name)
                raise ConfigError(f"{where} {exc}.") from None

    @classmethod
    def chosen(cls, flags: Pair, job: Pair, preset: Pair) -> RateLimits:
        """Each of (rpm, tpm) from the flags, else the job file, else the tier preset."""
        return cls(*(_chosen(*values) for values in zip(flags, job, preset, strict=True)))

    @classmethod
    def set_by_user(cls, rpm: float | None = None, tpm: float | None = None) -> RateLimits:
        """Limits given as `--rpm`/`--tpm` would be: ceilings (None: no limit of that kind)."""
        return cls(Limit(rpm, FLAG), Limit(tpm, FLAG))

    @classmethod
    def preset(cls, rpm: float | None = None, tpm: float | None = None) -> RateLimits:
        """Limits to start pacing at, as a tier's are: the server's may raise them."""
        return cls(Limit(rpm, PRESET), Limit(tpm, PRESET))

    def named(self) -> tuple[tuple[str, Limit], tuple[str, Limit]]:
        return (("rpm", self.rpm), ("tpm", self.tpm))

    def caps(self) -> list[str]:
        """The kinds ("requests", "tokens") whose limit the user set: a hard ceiling."""
        return [KINDS[name] for name, limit in self.named() if limit.is_cap]

    def stored(self) -> dict[str, float | str | None]:
        """As the run's settings keep them: each value and its source."""
        values: dict[str, float | str | None] = {}
        for name, limit in self.named():
            values |= {name: limit.value, f"{name}_from": limit.source}
        return values


def _chosen(flag: float | None, job: float | None, preset: float | None) -> Limit:
    if flag is not None:
        return Limit(flag, FLAG)
    if job is not None:
        return Limit(job, JOB)
    return Limit(preset, PRESET)
