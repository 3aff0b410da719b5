"""How the server counts tokens against batchbot's estimate: arithmetic on the times given."""

from __future__ import annotations

import pytest

from batchbot.pace.calibration import CHARS, EXACT, Calibration, estimates, requested_in


@pytest.mark.parametrize(("ratio", "charged"), [(0.99, 1000.0), (0.97, 970.0), (1.01, 1010.0)])
def test_a_ratio_a_little_under_one_is_charged_as_one(ratio: float, charged: float) -> None:
    """The header estimate's noise must not shave the charge: a window filled to the brim by
    a count 1 % low overflows by that 1 %. A server counting notably less is believed."""
    calibration = Calibration()
    calibration["m"].ratio = ratio
    assert calibration.charge("m", 1000) == pytest.approx(charged)


def test_the_servers_count_is_read_from_a_token_429_only() -> None:
    """ "Requested N" of a refusal on tokens is the server's count; one on requests is not."""
    tokens = "Rate limit reached on tokens per min (TPM): Limit 300000, Used 299874, Requested 228."
    requests = "Rate limit reached on requests per min (RPM): Limit 500, Used 500, Requested 1."
    assert requested_in(tokens) == 228
    assert requested_in(requests) is None
    assert requested_in(None) is None


def test_a_429s_count_by_characters_switches_the_way_of_counting() -> None:
    """A "Requested N" matching the count by characters, not the exact one, charges by it."""
    calibration = Calibration()
    count = calibration["m"]
    assert calibration.mode("m") == EXACT
    count.refused(0.0, estimates(100, 160), 160, calibration.mode("m"))
    assert calibration.mode("m") == CHARS
    assert calibration.charge("m", 100, 160) == 160
