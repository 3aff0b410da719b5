"""What the server says about its limits: x-ratelimit-* headers, retry-after, 429 messages.

Pure parsers, no I/O. Every function tolerates junk: a header we cannot read is treated as
absent (None), never as an error, because a malformed hint must not fail a request that
otherwise succeeded.

OpenAI writes reset times as Go durations ("1s", "6m0s", "120ms", "1m30.5s"); 429 bodies say
"Please try again in 90ms."; `retry-after-ms` and `retry-after` come on some 429s. The openai
client reads the same two retry headers in the same order (retry-after-ms first).
"""

from __future__ import annotations

import email.utils
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

# Seconds per unit of a Go duration. "m" must be tried after "ms", so the regex lists
# longer units first.
_UNIT_SECONDS = {
    "h": 3600.0,
    "m": 60.0,
    "s": 1.0,
    "ms": 1e-3,
    "us": 1e-6,
    "µs": 1e-6,
    "ns": 1e-9,
}
_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_PART = re.compile(rf"({_NUMBER})(ms|us|µs|ns|h|m|s)")
_DURATION = re.compile(rf"(?:{_NUMBER}(?:ms|us|µs|ns|h|m|s))+")
_BARE_SECONDS = re.compile(_NUMBER)

# "Please try again in 1m30s." (OpenAI); "Please retry after 6 seconds." (Azure OpenAI).
_TRY_AGAIN_IN = re.compile(rf"try again in\s+((?:{_NUMBER}(?:ms|h|m|s))+)", re.IGNORECASE)
_RETRY_AFTER_SECONDS = re.compile(
    rf"(?:retry|try again) after\s+({_NUMBER})\s*seconds?", re.IGNORECASE
)


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("6m0s", "120ms", "1m30.5s"), or None if unreadable.

    A bare non-negative number is read as seconds, as some OpenAI-compatible servers send.
    """
    value = text.strip().lower()
    if _DURATION.fullmatch(value):
        return sum(float(number) * _UNIT_SECONDS[unit] for number, unit in _PART.findall(value))
    if _BARE_SECONDS.fullmatch(value):
        return float(value)
    return None


@dataclass(frozen=True, slots=True)
class RateLimitHeaders:
    """The x-ratelimit-* headers of one response; None where absent or unreadable.

    Limits and remaining counts are per minute as OpenAI reports them; resets are seconds
    until the bucket is full again. What they mean depends on the server's dialect (see
    `dialect`): a gateway's remaining count may be a fixed window's, with no reset at all.
    """

    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None


def parse_rate_limit_headers(headers: Mapping[str, str]) -> RateLimitHeaders:
    """Read OpenAI's six x-ratelimit-* headers from any case-insensitive or lowercase mapping."""
    return RateLimitHeaders(
        limit_requests=_count(_header(headers, "x-ratelimit-limit-requests")),
        limit_tokens=_count(_header(headers, "x-ratelimit-limit-tokens")),
        remaining_requests=_remaining(_header(headers, "x-ratelimit-remaining-requests")),
        remaining_tokens=_remaining(_header(headers, "x-ratelimit-remaining-tokens")),
        reset_requests=_duration(_header(headers, "x-ratelimit-reset-requests")),
        reset_tokens=_duration(_header(headers, "x-ratelimit-reset-tokens")),
    )


def retry_after_seconds(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """The server's retry hint in seconds: retry-after-ms wins over retry-after.

    retry-after may be seconds or an HTTP date; a date in the past means "now" (0.0).
    `now` exists for tests; it defaults to the current UTC time.
    """
    millis = _non_negative(_header(headers, "retry-after-ms"))
    if millis is not None:
        return millis / 1000
    value = _header(headers, "retry-after")
    if value is None:
        return None
    seconds = _non_negative(value)
    if seconds is not None:
        return seconds
    return _seconds_until_http_date(value, now or datetime.now(UTC))


def hint_from_message(message: str) -> float | None:
    """Seconds from a 429 message: "Please try again in 90ms." / "in 1m30s" / "after 6 seconds"."""
    match = _TRY_AGAIN_IN.search(message)
    if match:
        return parse_duration(match.group(1))
    match = _RETRY_AFTER_SECONDS.search(message)
    if match:
        return float(match.group(1))
    return None


def wait_hint(headers: Mapping[str, str] | None, message: str | None) -> float | None:
    """The best wait hint: retry-after-ms, then retry-after, then the error message."""
    if headers is not None:
        hint = retry_after_seconds(headers)
        if hint is not None:
            return hint
    if message:
        return hint_from_message(message)
    return None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    """`name` (lowercase) from `headers`, matching keys case-insensitively."""
    value = headers.get(name)
    if value is not None:
        return value
    # httpx-style Headers already matched above; a plain dict may use any case.
    for key, candidate in headers.items():
        if key.lower() == name:
            return candidate
    return None


def _finite(value: str | None) -> float | None:
    """A finite float from `value`, else None."""
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _non_negative(value: str | None) -> float | None:
    """A finite float >= 0 from `value`, else None."""
    number = _finite(value)
    return number if number is not None and number >= 0 else None


def _count(value: str | None) -> int | None:
    """A whole count from a header such as "500" (or "500.0"), else None."""
    number = _non_negative(value)
    return int(number) if number is not None else None


def _remaining(value: str | None) -> int | None:
    """A remaining count; below zero (a gateway counting past a limit it does not enforce,
    as LiteLLM's proxy does) means none left."""
    number = _finite(value)
    return max(0, int(number)) if number is not None else None


def _duration(value: str | None) -> float | None:
    return parse_duration(value) if value is not None else None


def _seconds_until_http_date(value: str, now: datetime) -> float | None:
    """Seconds from `now` until the HTTP date `value`, 0.0 if it has passed, None if unreadable."""
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)
