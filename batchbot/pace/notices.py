"""What the limiter tells the run: limits learned from the server, a request that can never fit."""

from __future__ import annotations

from dataclasses import dataclass

TOO_LARGE = (
    "This request needs {tokens:,} tokens but the token limit is {tpm:,} per minute (TPM), "
    "so the API would never accept it: lower max_tokens (or max_completion_tokens, or n) "
    "or split the prompt."
)
LIMITS_FROM_SERVER = "limits from server: {rpm} RPM / {tpm} TPM ({source} {old_rpm} / {old_tpm})"
LIMITS_REMEMBERED = "limits the server stated to the last run, {age} ago: {rpm} RPM / {tpm} TPM"


class RequestTooLarge(ValueError):
    """Raised when one request's tokens exceed the whole tokens-per-minute limit."""

    def __init__(self, tokens: int, tpm: float) -> None:
        self.tokens = tokens
        self.tpm = tpm
        super().__init__(TOO_LARGE.format(tokens=tokens, tpm=int(tpm)))


@dataclass(frozen=True, slots=True)
class LimitsChanged:
    """The limits in force changed because the server reported others; None is unlimited."""

    rpm: float | None
    tpm: float | None
    previous_rpm: float | None
    previous_tpm: float | None

    def message(self, source: str = "configured") -> str:
        """`limits from server: 5,000 RPM / 2,000,000 TPM (tier said 500 / 200,000)`."""
        return LIMITS_FROM_SERVER.format(
            rpm=_count(self.rpm),
            tpm=_count(self.tpm),
            source=source,
            old_rpm=_count(self.previous_rpm),
            old_tpm=_count(self.previous_tpm),
        )


def remembered(rpm: float | None, tpm: float | None, age_s: float) -> str:
    """`limits the server stated to the last run, 3 h ago: 5,000 RPM / 2,000,000 TPM`."""
    return LIMITS_REMEMBERED.format(age=_age(age_s), rpm=_count(rpm), tpm=_count(tpm))


def _age(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{max(0.0, seconds):.0f} s"


def _count(value: float | None) -> str:
    return "unlimited" if value is None else f"{value:,.0f}"
