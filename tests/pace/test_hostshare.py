"""Dividing a key among the runs on one machine: shares follow demand, never add up to more."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from batchbot.pace.hostshare import KINDS, Claim, key_limits, paces, share_now, targets

KEY = {"requests": 3000.0, "tokens": 10_000_000.0}
BOTH = ("requests", "tokens")


def claim(
    *,
    bound: tuple[str, ...] = BOTH,
    rpm: float = 0.0,
    tpm: float = 0.0,
    in_use: float = 0.0,
    **limits: float,
) -> Claim:
    rates = {"requests": rpm, "tokens": tpm}
    return Claim({**KEY, **limits}, rates, bound, dict.fromkeys(KINDS, in_use))


def test_two_runs_that_want_all_they_can_get_split_the_key() -> None:
    """Two runs held back by both kinds: half of each."""
    half = {"requests": 0.5, "tokens": 0.5}
    assert targets({"a": claim(), "b": claim()}) == {"a": half, "b": half}


def test_a_run_that_wants_little_leaves_the_rest_to_the_other() -> None:
    """300 of 3,000 RPM sent and nothing waiting: that and room to grow; the rest to the other."""
    shares = targets({"small": claim(bound=(), rpm=300), "big": claim()})
    assert shares["small"]["requests"] == pytest.approx(0.1 * 1.25 + 0.02)
    assert shares["big"]["requests"] == pytest.approx(1 - shares["small"]["requests"])


def test_small_and_large_requests_share_each_kind_by_what_holds_them_back() -> None:
    """One run held back by requests (small prompts), one by tokens (large): each gets most of
    the kind it needs, and what it sends of the other."""
    small = claim(bound=("requests",), rpm=1500, tpm=150_000)
    large = claim(bound=("tokens",), rpm=300, tpm=5_000_000)
    shares = targets({"small": small, "large": large})
    assert shares["small"]["requests"] > 0.8
    assert shares["large"]["tokens"] > 0.95
    assert shares["large"]["requests"] + shares["small"]["requests"] == pytest.approx(1)


def test_a_newcomer_waits_until_the_others_have_made_room() -> None:
    """A run holding the whole key keeps it until its next beat; only then the newcomer takes
    its half."""
    claims = {"old": claim(in_use=1.0), "new": claim()}
    assert share_now("new", claims) == {"requests": 0.0, "tokens": 0.0}
    assert share_now("old", claims) == {"requests": 0.5, "tokens": 0.5}
    claims["old"] = claim(in_use=0.5)
    assert share_now("new", claims) == {"requests": 0.5, "tokens": 0.5}


def test_a_run_alone_has_the_whole_key() -> None:
    """No one else: all of it, whatever it wants."""
    assert share_now("a", {"a": claim(bound=())}) == {"requests": 1.0, "tokens": 1.0}


def test_a_lower_limit_of_its_own_caps_a_runs_share() -> None:
    """A run told 600 RPM on a 3,000 RPM key wants at most a fifth of its requests; at that
    it paces at its own limit in full."""
    capped = claim(requests=600.0)
    shares = targets({"capped": capped, "other": claim()})
    assert shares["capped"]["requests"] == pytest.approx(0.2)
    assert shares["other"]["requests"] == pytest.approx(0.8)
    claims = [capped, claim()]
    assert paces(shares["capped"], capped.limits, claims)["requests"] == pytest.approx(1.0)
    assert paces(shares["other"], KEY, claims)["requests"] == pytest.approx(0.8)


def test_an_unlimited_key_is_not_shared() -> None:
    """No limits to divide: every run at its own pace."""
    free = {"requests": None, "tokens": None}
    half = {"requests": 0.5, "tokens": 0.5}
    claims = [Claim(free, {}, BOTH, half), Claim(free, {}, BOTH, half)]
    assert key_limits(claims) == free
    assert paces(half, free, claims) == {"requests": 1.0, "tokens": 1.0}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 4),
            st.sampled_from([(), ("requests",), ("tokens",), BOTH]),
            st.floats(0, 3000),
            st.booleans(),
        ),
        min_size=1,
        max_size=60,
    )
)
def test_the_shares_in_use_never_add_up_to_more_than_the_key(
    beats: list[tuple[int, tuple[str, ...], float, bool]],
) -> None:
    """Runs come, go and beat in any order, wanting anything: what they use stays within it."""
    claims: dict[str, Claim] = {}
    for run, bound, rpm, leaves in beats:
        name = f"run{run}"
        if leaves:
            claims.pop(name, None)
            continue
        before = claims.get(name)
        in_use = dict(before.in_use) if before else dict.fromkeys(KINDS, 0.0)
        claims[name] = Claim(KEY, {"requests": rpm, "tokens": rpm * 100}, bound, in_use)
        now = share_now(name, claims)
        claims[name] = Claim(KEY, {"requests": rpm, "tokens": rpm * 100}, bound, now)
        for kind in KINDS:
            assert sum(c.in_use[kind] for c in claims.values()) <= 1.0 + 1e-9
