"""Parsers for what the server says about its limits: tables of real values, and properties."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from batchbot.fake.limits import format_duration
from batchbot.pace.headers import (
    RateLimitHeaders,
    hint_from_message,
    parse_duration,
    parse_rate_limit_headers,
    retry_after_seconds,
    wait_hint,
)

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


class CaseInsensitiveHeaders(Mapping[str, str]):
    """Stands in for httpx.Headers: lowercases keys, matches any case on lookup."""

    def __init__(self, items: Mapping[str, str]) -> None:
        self._items = {key.lower(): value for key, value in items.items()}

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1s", 1.0),
        ("0s", 0.0),
        ("17ms", 0.017),
        ("120ms", 0.12),
        ("6m0s", 360.0),
        ("1m30.5s", 90.5),
        ("2h3m", 7380.0),
        ("1h0m0s", 3600.0),
        ("7.2s", 7.2),
        ("500us", 0.0005),
        ("500µs", 0.0005),
        ("250ns", 2.5e-7),
        (".5s", 0.5),
        ("  6m0s\n", 360.0),
        ("1S", 1.0),
        ("20", 20.0),
        ("0.25", 0.25),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    """OpenAI's Go-style durations, and bare seconds, parse to seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "text",
    ["", " ", "s", "ms", "-1s", "1x", "1 s", "1s 2m", "abc", "1e3s", "inf", "nan", "1..2s", "1s-"],
)
def test_parse_duration_rejects_garbage(text: str) -> None:
    """Anything that is not a duration is None, not an exception."""
    assert parse_duration(text) is None


@given(st.integers(min_value=0, max_value=10 * 24 * 3_600_000))
def test_parse_duration_round_trips_go_format(millis: int) -> None:
    """Any whole-millisecond duration, written as OpenAI writes it, parses back to itself."""
    assert parse_duration(format_duration(millis / 1000)) == pytest.approx(millis / 1000, abs=1e-9)


@given(st.text())
def test_parse_duration_never_raises(text: str) -> None:
    """Arbitrary text gives a non-negative number or None, never an exception."""
    result = parse_duration(text)
    assert result is None or result >= 0


FULL = {
    "x-ratelimit-limit-requests": "500",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-requests": "499",
    "x-ratelimit-remaining-tokens": "199350",
    "x-ratelimit-reset-requests": "120ms",
    "x-ratelimit-reset-tokens": "6m0s",
}


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        (FULL, RateLimitHeaders(500, 200_000, 499, 199_350, 0.12, 360.0)),
        (
            {k.upper(): v for k, v in FULL.items()},
            RateLimitHeaders(500, 200_000, 499, 199_350, 0.12, 360.0),
        ),
        (CaseInsensitiveHeaders(FULL), RateLimitHeaders(500, 200_000, 499, 199_350, 0.12, 360.0)),
        ({}, RateLimitHeaders()),
        ({"content-type": "application/json"}, RateLimitHeaders()),
        ({"X-RateLimit-Limit-Requests": "3"}, RateLimitHeaders(limit_requests=3)),
        ({"x-ratelimit-limit-tokens": " 40000 "}, RateLimitHeaders(limit_tokens=40_000)),
        ({"x-ratelimit-limit-tokens": "40000.0"}, RateLimitHeaders(limit_tokens=40_000)),
        ({"x-ratelimit-limit-requests": "lots"}, RateLimitHeaders()),
        ({"x-ratelimit-limit-requests": "-1"}, RateLimitHeaders()),
        ({"x-ratelimit-limit-requests": "inf"}, RateLimitHeaders()),
        ({"x-ratelimit-limit-requests": ""}, RateLimitHeaders()),
        ({"x-ratelimit-remaining-tokens": "0"}, RateLimitHeaders(remaining_tokens=0)),
        ({"x-ratelimit-reset-tokens": "soon"}, RateLimitHeaders()),
        ({"x-ratelimit-reset-requests": "2"}, RateLimitHeaders(reset_requests=2.0)),
    ],
)
def test_parse_rate_limit_headers(headers: Mapping[str, str], expected: RateLimitHeaders) -> None:
    """The six x-ratelimit-* headers are read in any case; junk becomes None."""
    assert parse_rate_limit_headers(headers) == expected


@given(st.dictionaries(st.text(max_size=40), st.text(max_size=20)))
def test_parse_rate_limit_headers_never_raises(headers: dict[str, str]) -> None:
    """Arbitrary headers never make the parser raise."""
    assert isinstance(parse_rate_limit_headers(headers), RateLimitHeaders)


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "20"}, 20.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"retry-after-ms": "12.5"}, 0.0125),
        ({"retry-after-ms": "250", "retry-after": "20"}, 0.25),
        ({"retry-after-ms": "junk", "retry-after": "20"}, 20.0),
        ({"retry-after-ms": "-5", "retry-after": "3"}, 3.0),
        ({"retry-after": "Fri, 02 Jan 2026 03:04:35 GMT"}, 30.0),
        ({"retry-after": "Fri, 02 Jan 2026 03:04:35 -0000"}, 30.0),
        ({"retry-after": "Fri, 02 Jan 2026 03:00:00 GMT"}, 0.0),
        ({"retry-after": "next tuesday"}, None),
        ({"retry-after": "-3"}, None),
        ({"retry-after": "nan"}, None),
        (CaseInsensitiveHeaders({"Retry-After-Ms": "100"}), 0.1),
    ],
)
def test_retry_after_seconds(headers: Mapping[str, str], seconds: float | None) -> None:
    """retry-after-ms (milliseconds) wins over retry-after (seconds or an HTTP date)."""
    assert retry_after_seconds(headers, now=NOW) == (
        None if seconds is None else pytest.approx(seconds)
    )


@pytest.mark.parametrize(
    ("message", "seconds"),
    [
        (
            "Rate limit reached for gpt-4o-mini on tokens per min (TPM): Limit 200000, "
            "Used 199800, Requested 1200. Please try again in 90ms. Visit https://...",
            0.09,
        ),
        ("Please try again in 7.2s.", 7.2),
        ("Please try again in 1m30s.", 90.0),
        ("Please try again in 20s.", 20.0),
        ("please TRY AGAIN IN 7m12s", 432.0),
        ("Please retry after 6 seconds.", 6.0),
        ("Try again after 1 second", 1.0),
        ("You exceeded your current quota, please check your plan and billing details.", None),
        ("Please try again later.", None),
        ("", None),
    ],
)
def test_hint_from_message(message: str, seconds: float | None) -> None:
    """429 bodies name a wait ("try again in 90ms"); messages without one give None."""
    assert hint_from_message(message) == (None if seconds is None else pytest.approx(seconds))


@pytest.mark.parametrize(
    ("headers", "message", "seconds"),
    [
        ({"retry-after-ms": "300", "retry-after": "1"}, "Please try again in 5s.", 0.3),
        ({"retry-after": "1"}, "Please try again in 5s.", 1.0),
        ({}, "Please try again in 5s.", 5.0),
        (None, "Please try again in 5s.", 5.0),
        ({"retry-after": "0"}, "Please try again in 5s.", 0.0),
        ({"retry-after": "junk"}, "Please try again in 5s.", 5.0),
        ({}, None, None),
        (None, "Server error", None),
    ],
)
def test_wait_hint(
    headers: Mapping[str, str] | None, message: str | None, seconds: float | None
) -> None:
    """The best hint wins: retry-after-ms, then retry-after (even 0), then the message."""
    assert wait_hint(headers, message) == (None if seconds is None else pytest.approx(seconds))
